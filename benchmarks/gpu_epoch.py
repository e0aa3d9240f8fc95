"""One epoch of ResNet-20 on CIFAR-format data on a GPU: bf16 autocast + channels_last, with and
without torch.compile. Prints images per second.

    python benchmarks/gpu_epoch.py [--dry-run]

``--dry-run`` runs on the CPU with a few batches, checking imports and shapes only.
"""

from __future__ import annotations

import argparse
import time

import torch

from pnlib import TrainConfig, build_model, fit, load_dataset
from pnlib.train.generated import cifar10_or_generated


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--dry-run", action="store_true")
    ap.add_argument("--root", default="data")
    args = ap.parse_args()
    device = torch.device("cpu" if args.dry_run else "cuda")
    with cifar10_or_generated(args.root, n_per_batch=60 if args.dry_run else 10000) as root:
        data = load_dataset("cifar10", root, val_size=100, device=device)
    if device.type == "cuda":
        print(torch.cuda.get_device_name(0))
    for compile_ in (False, True):
        cfg = TrainConfig(
            num_epochs=1,
            batch_size=128 if not args.dry_run else 50,
            lr=0.05,
            augment=True,
            amp=device.type == "cuda",
            channels_last=device.type == "cuda",
            compile=compile_ and not args.dry_run,
            checkpoint_every=0,
        )
        model = build_model("resnet20", 10, 3, 32)
        if (
            compile_ and device.type == "cuda"
        ):  # first epoch pays compilation: warm up on one epoch, time the second
            fit(model, data, cfg, progress=False)
        if device.type == "cuda":
            torch.cuda.synchronize()
        t0 = time.perf_counter()
        hist = fit(model, data, cfg, progress=False)
        if device.type == "cuda":
            torch.cuda.synchronize()
        sec = time.perf_counter() - t0
        assert len(hist) == 1 and hist["train_loss"].notna().all()
        print(
            f"RESULT resnet20 bf16={cfg.amp} channels_last={cfg.channels_last} compile={cfg.compile}: "
            f"{len(data.y_train) / sec:,.0f} images/s ({sec:.1f} s for {len(data.y_train)} images)"
        )


if __name__ == "__main__":
    main()
