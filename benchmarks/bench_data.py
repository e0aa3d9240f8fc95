"""One epoch of LeNet-5 on 50,000 CIFAR-10-format images: pnlib's in-memory batched loader
(crop + flip on the device) against the loop most users write (torchvision CIFAR10 Dataset +
DataLoader(num_workers=2) + RandomCrop(32, 4), RandomHorizontalFlip, ToTensor, Normalize).

    python benchmarks/bench_data.py [--root data]

Uses data/cifar-10-batches-py when it is there; otherwise it writes 50,000 random images in the
official pickle format to a temporary folder. Throughputs are per image, so pnlib's 49,999
(one image is held out as the validation split it requires) and the baseline's 50,000 compare.
"""

from __future__ import annotations

import argparse
import pickle
import time
from pathlib import Path

import pandas as pd
import torch
import torch.nn.functional as F
import torchvision
import torchvision.transforms as T

from pnlib import batches, build_model, load_dataset
from pnlib.train.generated import cifar10_or_generated


class CIFAR10Files(torchvision.datasets.CIFAR10):
    """torchvision's own CIFAR10 reader; generated files lack the official checksums."""

    def _check_integrity(self) -> bool:
        return True

    def _load_meta(self) -> None:  # torchvision's version also checks the official checksum
        with open(Path(self.root) / self.base_folder / self.meta["filename"], "rb") as f:
            self.classes = pickle.load(f, encoding="latin1")[self.meta["key"]]
        self.class_to_idx = {c: i for i, c in enumerate(self.classes)}


def lenet_step(model, opt):
    def step(xb, yb):
        opt.zero_grad(set_to_none=True)
        F.cross_entropy(model(xb), yb).backward()
        opt.step()

    return step


def timed(fn):
    t0 = time.perf_counter()
    n = fn()
    return n, time.perf_counter() - t0


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--root", default="data")
    args = ap.parse_args()
    with cifar10_or_generated(args.root) as root:
        run(root)


def run(root):
    data = load_dataset("cifar10", root, val_size=1)
    tf = T.Compose(
        [
            T.RandomCrop(32, padding=4),
            T.RandomHorizontalFlip(),
            T.ToTensor(),
            T.Normalize(data.mean, data.std),
        ]
    )
    ds = CIFAR10Files(str(root), train=True, transform=tf, download=False)
    loader = torch.utils.data.DataLoader(ds, batch_size=128, shuffle=True, num_workers=2, drop_last=True)
    gen = torch.Generator().manual_seed(0)

    def iterate_pnlib():
        return sum(
            len(yb)
            for _, yb in batches(data.X_train, data.y_train, 128, augment=True, generator=gen, drop_last=True)
        )

    def iterate_torchvision():
        return sum(len(yb) for _, yb in loader)

    def train_pnlib():
        step = lenet_step(*model_opt())
        n = 0
        for xb, yb in batches(data.X_train, data.y_train, 128, augment=True, generator=gen, drop_last=True):
            step(xb, yb)
            n += len(yb)
        return n

    def train_torchvision():
        step = lenet_step(*model_opt())
        n = 0
        for xb, yb in loader:
            step(xb, yb)
            n += len(yb)
        return n

    def model_opt():
        torch.manual_seed(0)
        model = build_model("lenet5", 10, 3, 32)
        return model, torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)

    rows = []
    for what, fn_p, fn_t in (
        ("data iteration only", iterate_pnlib, iterate_torchvision),
        ("LeNet-5 training epoch", train_pnlib, train_torchvision),
    ):
        (n_p, t_p), (n_t, t_t) = timed(fn_p), timed(fn_t)
        rows.append(
            {
                "measure": what,
                "pnlib s": t_p,
                "torchvision s": t_t,
                "pnlib img/s": n_p / t_p,
                "torchvision img/s": n_t / t_t,
                "speed-up": (n_p / t_p) / (n_t / t_t),
            }
        )
    df = pd.DataFrame(rows).set_index("measure")
    print(f"torch {torch.__version__}, threads {torch.get_num_threads()}, DataLoader workers 2")
    print(df.to_string(float_format=lambda v: f"{v:.3g}"))
    print(
        f"RESULT pnlib vs torchvision DataLoader: end-to-end epoch {df.loc['LeNet-5 training epoch', 'speed-up']:.1f}× "
        f"(target ≥ 2×), data iteration {df.loc['data iteration only', 'speed-up']:.0f}× (target ≥ 10×)"
    )


if __name__ == "__main__":
    main()
