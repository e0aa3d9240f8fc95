"""fp32 against bf16 (bf16 autocast of the forward pass + channels_last) on this machine's CPU.

    python benchmarks/bench_precision.py [--quick]

Part 1, speed: LeNet-5 and ResNet-20 trained end to end (``fit`` + ``evaluate``) in both
precisions, interleaved fp32, bf16, bf16, fp32 in one process with 1 torch thread; the ratio is
the median fp32 time over the median bf16 time. Part 2, accuracy: the same models over several
seeds in both precisions on a shorter setting, evaluated in fp32 as pnlib does, paired by seed,
with the project's verdict rule (``stats.verdicts``: paired t, Holm, TOST inside ±0.5 points); bf16 evaluation of the bf16 weights
against their fp32 evaluation; and ``torch.compile`` on top of bf16 for ResNet-20 at the ``cpu``
profile's trajectory length, compile time included. The last line states both ratios and both
verdicts. Fashion-MNIST (padded to 32×32) when it is installed, else generated CIFAR-format files.
``--quick`` checks that it runs and measures nothing.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from dataclasses import replace

import numpy as np
import pandas as pd
import torch
from datasource import fashion_or_generated

from pnlib.report import stats
from pnlib.train.evaluation import evaluate
from pnlib.train.loop import TrainConfig, fit
from pnlib.train.models import build_model
from pnlib.train.precision import bf16_support

TARGETS = {"resnet20": 2.0, "lenet5": 1.6}
MARGIN = 0.005


def bf16(cfg: TrainConfig) -> TrainConfig:
    return replace(cfg, amp=True, channels_last=True)


def run(model_name: str, data, cfg: TrainConfig, seed: int) -> dict:
    """Train from the seed's init, then evaluate on test in the precision trained and in fp32."""
    torch.manual_seed(seed)
    model = build_model(
        model_name, num_classes=data.num_classes, in_channels=data.in_channels, image_size=data.image_size
    )
    t0 = time.perf_counter()
    fit(model, data, cfg, seed=seed, progress=False)
    acc = evaluate(model, data.X_test, data.y_test, cfg.eval_batch_size, cfg.amp)["acc"]
    seconds = time.perf_counter() - t0
    acc32 = evaluate(model, data.X_test, data.y_test, cfg.eval_batch_size, False)["acc"]
    return {
        "model": model_name,
        "precision": cfg.precision,
        "seed": seed,
        "seconds": seconds,
        "test_acc": acc,
        "test_acc_fp32_eval": acc32,
        "compile": cfg.compile,
    }


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="tiny sizes, one epoch: checks that it runs")
    args = ap.parse_args()
    torch.set_num_threads(1)
    q = args.quick
    ok, why = bf16_support(torch.device("cpu"))
    print(f"CPU: {why}; torch {torch.__version__}, 1 thread")
    with tempfile.TemporaryDirectory() as tmp:
        sizes = (
            dict(val_size=64, train_size=64, test_size=64)
            if q
            else dict(val_size=2000, train_size=5000, test_size=5000)
        )
        data = fashion_or_generated(tmp, pad_to_32=True, **sizes)
        print(f"data: {data.name}, {len(data.y_train)} train / {len(data.y_test)} test images")
        small = {"lenet5": dict(n=64 if q else 5000), "resnet20": dict(n=32 if q else 2000)}
        speed_cfg = {
            "lenet5": TrainConfig(num_epochs=1 if q else 16, batch_size=128, lr=0.05),
            "resnet20": TrainConfig(num_epochs=1 if q else 6, batch_size=32, lr=0.01, augment=True),
        }
        equiv_cfg = {
            "lenet5": TrainConfig(num_epochs=1 if q else 8, batch_size=128, lr=0.05),
            "resnet20": TrainConfig(num_epochs=1 if q else 3, batch_size=32, lr=0.01, augment=True),
        }
        seeds = {"lenet5": 2 if q else 10, "resnet20": 2 if q else 5}

        def subset(model_name):
            n = small[model_name]["n"]
            return replace(data, X_train=data.X_train[:n], y_train=data.y_train[:n])

        # -- part 1: speed, interleaved fp32, bf16, bf16, fp32 -------------------------------------
        rows = []
        for m in ("lenet5", "resnet20"):
            d = subset(m)
            for cfg in (speed_cfg[m], bf16(speed_cfg[m]), bf16(speed_cfg[m]), speed_cfg[m]):
                rows.append({**run(m, d, cfg, seed=0), "part": "speed"})
                print(
                    f"  {m} {rows[-1]['precision']}: {rows[-1]['seconds']:.1f} s, test acc {rows[-1]['test_acc']:.4f}"
                )
        speed = pd.DataFrame(rows).groupby(["model", "precision"]).seconds.median().unstack()
        ratio = (speed["fp32"] / speed["bf16"]).to_dict()
        print(
            "part 1, end to end (fit + evaluate), median seconds:\n"
            + speed.round(2).assign(**{"fp32 / bf16": pd.Series(ratio)}).round(2).to_string()
        )

        # -- part 2: accuracy, paired by seed ----------------------------------------------------
        rows = []
        for m in ("lenet5", "resnet20"):
            d = subset(m)
            for seed in range(seeds[m]):
                for cfg in (equiv_cfg[m], bf16(equiv_cfg[m])):
                    rows.append(run(m, d, cfg, seed=100 + seed))
        acc = pd.DataFrame(rows)
        comparisons = []
        for m in ("lenet5", "resnet20"):
            # as pnlib evaluates: in fp32, whatever the training precision
            wide = acc[acc.model == m].pivot(index="seed", columns="precision", values="test_acc_fp32_eval")
            comparisons.append(
                {
                    "claim": "bf16 is equivalent to fp32",
                    "comparison": f"{m}: bf16 − fp32",
                    "metric": "test_acc",
                    "a": wide["bf16"].to_numpy(),
                    "b": wide["fp32"].to_numpy(),
                }
            )
        verdicts = stats.verdicts(comparisons, MARGIN)
        print(
            f"part 2, test accuracy paired by seed ({seeds['lenet5']} LeNet-5 seeds, {equiv_cfg['lenet5'].num_epochs} "
            f"epochs; {seeds['resnet20']} ResNet-20 seeds, {equiv_cfg['resnet20'].num_epochs} epochs), margin "
            f"±{MARGIN}:\n"
            + verdicts[
                [
                    "comparison",
                    "n_seeds",
                    "estimate",
                    "ci_low",
                    "ci_high",
                    "p_holm",
                    "p_equiv_holm",
                    "verdict",
                ]
            ]
            .round(4)
            .to_string(index=False)
        )
        b = acc[acc.precision == "bf16"]
        moved = (b.test_acc - b.test_acc_fp32_eval).abs()
        print(
            f"evaluation of the bf16-trained weights in bf16 against fp32: largest |Δ test acc| "
            f"{100 * moved.max():.3f} points, mean {100 * moved.mean():.3f} ({len(b)} models; the rule: evaluate "
            f"in fp32 if it exceeds 0.05 points)"
        )

        # -- torch.compile on top of bf16, ResNet-20 at the cpu profile's trajectory length -------
        cpu04 = bf16(TrainConfig(num_epochs=1 if q else 3, batch_size=32, lr=0.01, augment=True))
        d = subset("resnet20")
        plain = run("resnet20", d, cpu04, seed=0)["seconds"]
        compiled = np.nan
        try:  # --quick skips it: compiling alone takes about a minute here
            compiled = np.nan if q else run("resnet20", d, replace(cpu04, compile=True), seed=0)["seconds"]
        except Exception as exc:  # a compiler toolchain missing on this machine is a finding, not a crash
            print(f"torch.compile failed: {type(exc).__name__}: {str(exc).splitlines()[0][:200]}")
        print(
            f"torch.compile on bf16 ResNet-20 ({cpu04.num_epochs} epochs of {len(d.y_train)} images, compile time "
            f"included): {plain:.1f} s plain, {compiled:.1f} s compiled: {plain / compiled:.2f}× (kept only if ≥ 1.2×)"
        )

    v = dict(zip(["lenet5", "resnet20"], verdicts.verdict))
    missed = [f"{m} {ratio[m]:.2f}× < {t}×" for m, t in TARGETS.items() if ratio[m] < t]
    print(
        f"RESULT bf16 / fp32 end to end: resnet20 {ratio['resnet20']:.2f}× (target {TARGETS['resnet20']}×), "
        f"lenet5 {ratio['lenet5']:.2f}× (target {TARGETS['lenet5']}×); equivalence ±{MARGIN}: resnet20 "
        f"{v['resnet20']}, lenet5 {v['lenet5']}"
        + (f"; MISSED: {', '.join(missed)}" if missed and not q else "")
        + ("  [quick: nothing measured]" if q else "")
    )


if __name__ == "__main__":
    main()
