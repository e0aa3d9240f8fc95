"""A measured slice of notebook 04's ``paper`` profile on a GPU, and the GPU-hours of the whole.

    python benchmarks/gpu_paper_slice.py [--dry-run] [--out results/gpu_paper_slice.json]

For every model of the ``paper`` profile (AlexNet, ResNet-20 and ResNet-56 at full width on
CIFAR-10), one persistent run of K = 2 (trajectory 1, and trajectory 2 under the penalty) of one
epoch each, after the same run on another seed as a warm-up, through the project's own
``Experiment``: the data on the device, bf16 autocast and channels_last where the card supports
bf16, the profile's batch size, augmentation and penalty. It prints the training images per second
of the plain and the penalised trajectory, then the projected GPU-hours of the whole design
(``pnlib.experiments.networks.cost``) for each length E the pilot may choose, with the key
comparisons on at most ``max_seeds`` seeds, as a range from the plain speed to the penalised one.
The epochs' validation scoring is in the measured time; start-up is not projected. Without
CIFAR-10 on disk it trains on generated files of CIFAR-10's size and format (the speed does not
depend on the pixels). It writes the figures to ``--out`` (the README quotes that file).

``--dry-run`` runs the same code on the CPU with a few hundred images and narrow models, so it is
known to work before a GPU is lent; it prints the projection line and writes nothing.
"""

from __future__ import annotations

import argparse
import platform
import tempfile
import time
from dataclasses import replace
from pathlib import Path

import torch

from pnlib.base import store
from pnlib.experiments import networks
from pnlib.experiments.experiment import Experiment
from pnlib.experiments.profiles import config_for
from pnlib.train.data import load_dataset
from pnlib.train.generated import cifar10_or_generated


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--dry-run", action="store_true", help="on the CPU, a few hundred images; writes nothing")
    ap.add_argument("--root", default="data", help="where CIFAR-10 is looked for")
    ap.add_argument("--out", default="results/gpu_paper_slice.json")
    args = ap.parse_args()
    device = torch.device("cpu" if args.dry_run else "cuda")
    if not args.dry_run and not torch.cuda.is_available():
        raise SystemExit("no CUDA device: run with --dry-run on a CPU, or on a machine with a GPU")
    cfg = config_for("04_alexnet_resnet", {"profile": "paper"}, verbose=False)
    if args.dry_run:  # the same code, narrow and short (a weak penalty: one epoch on 400 images barely
        # moves trajectory 1, and the travel bandwidth's push would then make trajectory 2 diverge)
        cfg = replace(
            cfg, alexnet_width=0.125, alexnet_hidden=64, resnet_width=0.25, batch_size=64, strength=1e-4
        )
        torch.set_num_threads(1)
    card = torch.cuda.get_device_name(0) if device.type == "cuda" else platform.processor() or "CPU"
    n_per_batch = 40 if args.dry_run else 10_000
    speeds = {}
    with (
        cifar10_or_generated(args.root, n_per_batch=n_per_batch) as root,
        tempfile.TemporaryDirectory() as tmp,
    ):
        data = load_dataset("cifar10", root, val_size=50 if args.dry_run else 5000, device=device)
        exp = Experiment(Path(tmp), data, progress=False, threads=None)
        for model in cfg.models:
            c = networks.cell(cfg, model, device=device, lr=cfg.pilot_lrs[0], num_epochs=1)
            c = replace(c, K=2)
            if not args.dry_run:  # warm-up: kernel selection, allocator, first-call costs
                exp.run("persistent", c, seed=0)
            t0 = time.perf_counter()
            exp.run("persistent", c, seed=1)
            wall = time.perf_counter() - t0
            trajectories = exp.trajectories("persistent", c, 1)
            if (trajectories.status != "ok").any():
                raise SystemExit(
                    f"{model}: a trajectory of the slice diverged ({trajectories.status.tolist()}), so it "
                    f"has no speed: the slice's learning rate {c.train.lr:g} is too large for it"
                )
            seconds = [exp.history(key).seconds.sum() for key in trajectories.key]
            speeds[model] = {
                "name": networks.name(cfg, model),
                "plain images/s": len(data.y_train) / seconds[0],
                "penalised images/s": len(data.y_train) / seconds[1],
                "precision": c.train.precision,
                "wall s": wall,
            }
            print(
                f"RESULT {speeds[model]['name']} on {card}, {c.train.precision}, batch {cfg.batch_size}: "
                f"{speeds[model]['plain images/s']:,.0f} images/s plain, "
                f"{speeds[model]['penalised images/s']:,.0f} penalised"
            )
    images = 45_000  # CIFAR-10's training images after the 5,000 of validation
    projection = {}
    for e in cfg.pilot_epochs[:-1]:  # E must have a doubling among the candidates
        table = networks.cost(cfg, {m: e for m in cfg.models}, cfg.max_seeds)
        epochs = table.groupby("model", sort=False).epochs.sum()
        hours = [
            sum(epochs[speeds[m]["name"]] * images / speeds[m][k] for m in cfg.models) / 3600
            for k in ("plain images/s", "penalised images/s")
        ]
        projection[e] = sorted(hours)
    line = "; ".join(f"E = {e}: {lo:,.0f}–{hi:,.0f}" for e, (lo, hi) in projection.items())
    print(
        f"RESULT projected GPU-hours of the paper profile ({len(cfg.models)} models, ≤ {cfg.max_seeds} seeds): {line}"
    )
    if args.dry_run:
        print("dry run ok: nothing written")
        return
    record = {"card": card, "torch": torch.__version__, "models": speeds, "gpu_hours_by_E": projection}
    store.write_json(args.out, record)
    print(f"written to {args.out}")


if __name__ == "__main__":
    main()
