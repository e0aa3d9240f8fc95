"""What a training image costs each candidate CNN on this machine: the measurement that sets notebook
04's scale on a CPU.

    python benchmarks/bench_cnn_cost.py [--quick] [--out FILE.csv]

For AlexNet at several width multipliers (its MLP head scaled alike) and the CIFAR ResNets of depth
8, 14 and 20 at widths ×0.5 and ×1, on one-channel images of 28 and 32 pixels (Fashion-MNIST as it
is and padded to CIFAR's size): the forward multiply-accumulates per image (``FlopCounterMode``),
the parameters, and the training throughput (forward, backward and an SGD step with momentum, fp32,
1 torch thread, as the grid's jobs run) at batch sizes 32 and 128, the median of interleaved
rounds. The last line names the cheapest network of each family per 1,000 images and its ratio to
ResNet-20 ×1 at batch 128 in the same run. ``--quick`` checks that it runs and measures nothing.
"""

from __future__ import annotations

import argparse
import statistics
import time

import pandas as pd
import torch
from torch.utils.flop_counter import FlopCounterMode

from pnlib.train.models import build_model, count_params

CANDIDATES = [
    ("alexnet", {"width_mult": 0.25, "hidden": 256}),
    ("alexnet", {"width_mult": 0.5, "hidden": 512}),
    ("resnet8", {"width_mult": 0.5}),
    ("resnet8", {"width_mult": 1.0}),
    ("resnet14", {"width_mult": 0.5}),
    ("resnet14", {"width_mult": 1.0}),
    ("resnet20", {"width_mult": 0.5}),
    ("resnet20", {"width_mult": 1.0}),
]


def name(model: str, kwargs: dict) -> str:
    return f"{model} ×{kwargs['width_mult']:g}"


def macs(model: torch.nn.Module, size: int) -> float:
    """Forward multiply-accumulates for one image (FlopCounterMode counts 2 FLOPs per MAC)."""
    with FlopCounterMode(display=False) as counter:
        model(torch.zeros(1, 1, size, size))
    return counter.get_total_flops() / 2


def images_per_second(model: torch.nn.Module, size: int, batch: int, steps: int) -> float:
    opt = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
    x, y = torch.randn(batch, 1, size, size), torch.randint(0, 10, (batch,))
    t0 = time.perf_counter()
    for _ in range(steps):
        opt.zero_grad(set_to_none=True)
        torch.nn.functional.cross_entropy(model(x), y).backward()
        opt.step()
    return batch * steps / (time.perf_counter() - t0)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="check that it runs; measures nothing")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--out", help="also write the table to this CSV file")
    args = ap.parse_args()
    torch.set_num_threads(1)
    torch.manual_seed(0)
    candidates = CANDIDATES[::3] if args.quick else CANDIDATES
    sizes, batches = ((28,), (32,)) if args.quick else ((28, 32), (32, 128))
    rounds, images = (1, 64) if args.quick else (args.rounds, 2048)
    rows, speed = [], {}
    for r in range(rounds):  # interleaved: a slow spell of the machine touches every candidate alike
        for model_name, kwargs in candidates:
            for size in sizes:
                model = build_model(model_name, 10, 1, size, **kwargs).train()
                for batch in batches:
                    images_per_second(model, size, batch, 2)  # warm-up: allocator and oneDNN kernels
                    speed.setdefault((model_name, kwargs["width_mult"], size, batch), []).append(
                        images_per_second(model, size, batch, max(2, images // batch))
                    )
                    if r == 0:
                        rows.append(
                            {
                                "network": name(model_name, kwargs),
                                "image": size,
                                "batch": batch,
                                "params": count_params(model),
                                "MMAC/image": macs(model.eval(), size) / 1e6,
                            }
                        )
                        model.train()
    table = pd.DataFrame(rows)
    table["images/s"] = [statistics.median(v) for v in speed.values()]
    table["s per 1,000 images"] = 1000 / table["images/s"]
    print(f"{torch.__version__}, 1 thread, fp32, median of {rounds} interleaved round(s)")
    print(table.round(3).to_string(index=False))
    if args.out:
        table.to_csv(args.out, index=False)
    top = table[table.batch == max(batches)]
    base = top[top.network.str.startswith("resnet20") & (top.image == max(sizes))]["images/s"].max()
    best = []
    for family in ("alexnet", "resnet"):
        of = top[top.network.str.startswith(family)]
        fastest = of.loc[of["images/s"].idxmax()] if len(of) else None
        if fastest is not None:
            best.append(
                f"{fastest.network} ({fastest.image} px) {fastest['s per 1,000 images']:.2f} s / 1,000 images"
                + (f", {fastest['images/s'] / base:.1f}× ResNet-20's speed" if base == base else "")
            )
    print(f"RESULT cheapest per family at batch {max(batches)}: " + "; ".join(best))


if __name__ == "__main__":
    main()
