"""Cost of one training step with and without persistence (fused gradient vs autograd penalty).

    python benchmarks/bench_penalty.py [--device cpu|cuda] [--rounds 5]

The fused gradient has two paths (``PersistentPenalty.apply_``): per tensor (the CPU's default) and
flat, θ_S as one vector in a fixed number of kernels (CUDA's default); both are timed.

Models LeNet-5 and ResNet-20, batch 128 of 32×32×3, full persistent set, neuron granularity,
3 anchors. The variants' steps are interleaved one by one, in a shuffled order each time, for
``rounds`` × ``steps`` repetitions, and each fused (autograd) step is compared with the plain step
of the same repetition: a drift in machine load hits both sides of every ratio alike. The overhead
is the median of those paired ratios, with its interquartile range as the spread. Prints a table
and a final line with the ratios.
"""

from __future__ import annotations

import argparse
import random
import statistics
import time

import numpy as np
import pandas as pd
import torch
import torch.nn.functional as F

from pnlib import PenaltyConfig, PersistentPenalty, build_model


def sync(device):
    if device.type == "cuda":
        torch.cuda.synchronize()


FUSED = {"fused": False, "fused flat": True}  # the variants of apply_, by its ``flat`` argument


def make_step(model, penalty, variant, X, y, opt):
    def step():
        opt.zero_grad(set_to_none=True)
        loss = F.cross_entropy(model(X), y)
        if variant == "autograd":
            loss = loss + penalty.value(0.3)
        loss.backward()
        if variant in FUSED:
            penalty.apply_(0.3, flat=FUSED[variant])
        opt.step()

    return step


def time_steps(step, n, device):
    sync(device)
    t0 = time.perf_counter()
    for _ in range(n):
        step()
    sync(device)
    return (time.perf_counter() - t0) / n


def bench_model(name, device, rounds, steps):
    torch.manual_seed(0)
    model = build_model(name, num_classes=10, in_channels=3, image_size=32).to(device)
    X = torch.randn(128, 3, 32, 32, device=device)
    y = torch.randint(0, 10, (128,), device=device)
    penalty = PersistentPenalty(model, PenaltyConfig(granularity="neuron", kernel="gaussian", strength=0.01))
    for j in range(3):
        penalty.add_anchor(
            {
                k: v + 0.01 * torch.randn_like(v) if v.is_floating_point() else v
                for k, v in model.state_dict().items()
            }
        )
    opt = torch.optim.SGD(model.parameters(), lr=1e-4, momentum=0.9)
    variants = {v: make_step(model, penalty, v, X, y, opt) for v in ("plain", *FUSED, "autograd")}
    for s in variants.values():  # warm-up
        for _ in range(2):
            s()
    times = {v: [] for v in variants}
    order = random.Random(0)
    for _ in range(rounds * steps):  # one step of each variant per repetition, in a shuffled order
        names = list(variants)
        order.shuffle(names)
        for v in names:
            times[v].append(time_steps(variants[v], 1, device))
    plain = np.array(times["plain"])
    over = {v: 100 * (np.array(times[v]) / plain - 1) for v in (*FUSED, "autograd")}  # paired, per repetition
    q = {v: np.percentile(o, [25, 50, 75]) for v, o in over.items()}
    # the penalty alone, per call, as a share of the plain step and per million persistent parameters
    for p in model.parameters():
        p.grad = torch.zeros_like(p)
    alone, flat_alone = (
        statistics.median(
            time_steps(lambda: penalty.apply_(0.3, flat=flat), steps * 5, device) for _ in range(rounds)
        )
        for flat in FUSED.values()
    )
    auto_alone = statistics.median(
        time_steps(lambda: penalty.value(0.3).backward(), steps * 5, device) for _ in range(rounds)
    )
    n = penalty.num_parameters()
    return {
        "model": name,
        "persistent params": n,
        "repetitions": len(plain),
        "plain step ms": 1e3 * np.median(plain),
        "fused overhead %": q["fused"][1],
        "fused IQR %": f"[{q['fused'][0]:.1f}, {q['fused'][2]:.1f}]",
        "flat overhead %": q["fused flat"][1],
        "flat IQR %": f"[{q['fused flat'][0]:.1f}, {q['fused flat'][2]:.1f}]",
        "autograd overhead %": q["autograd"][1],
        "fused penalty alone ms": 1e3 * alone,
        "penalty / plain step %": 100 * alone / np.median(plain),
        "flat penalty alone ms": 1e3 * flat_alone,
        "autograd penalty alone ms": 1e3 * auto_alone,
        "penalty ms per 1M params": 1e3 * alone / (n / 1e6),
    }


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--rounds", type=int, default=5, help="repetitions = rounds × steps per model (≥ 5)")
    ap.add_argument(
        "--quick", action="store_true", help="a few steps only: checks that it runs, measures nothing"
    )
    args = ap.parse_args()
    device = torch.device(args.device)
    print(f"device {device}, torch {torch.__version__}, threads {torch.get_num_threads()}")
    steps = (2, 1) if args.quick else (40, 6)
    rows = [
        bench_model("lenet5", device, args.rounds, steps[0]),
        bench_model("resnet20", device, args.rounds, steps[1]),
    ]
    df = pd.DataFrame(rows).set_index("model")
    print(df.round(3).to_string())
    le, rn = df.loc["lenet5"], df.loc["resnet20"]
    flat = device.type == "cuda"  # apply_'s default path on this device
    path, other = ("flat", "fused") if flat else ("fused", "flat")
    over, iqr, alone = f"{path} overhead %", f"{path} IQR %", f"{path} penalty alone ms"
    print(
        f"RESULT fused penalty ({'flat' if flat else 'per tensor'}, this device's default) adds "
        f"{rn[over]:.1f}% (IQR {rn[iqr]}) to a ResNet-20 step (target ≤ 5%) and {le[over]:.1f}% "
        f"(IQR {le[iqr]}) to a LeNet-5 step (target ≤ 10%); the penalty alone takes {rn[alone]:.3f} ms and "
        f"{le[alone]:.3f} ms ({100 * rn[alone] / rn['plain step ms']:.1f}% and "
        f"{100 * le[alone] / le['plain step ms']:.1f}% of a plain step); the other path alone: "
        f"{rn[f'{other} penalty alone ms']:.3f} ms and {le[f'{other} penalty alone ms']:.3f} ms; the autograd "
        f"penalty costs "
        f"{rn['autograd penalty alone ms'] / rn[alone]:.1f}× (ResNet-20) and "
        f"{le['autograd penalty alone ms'] / le[alone]:.1f}× (LeNet-5) the fused one, timed alone"
    )


if __name__ == "__main__":
    main()
