"""What a trajectory spends outside its training steps, and what two evaluation settings save.

    python benchmarks/bench_eval.py [--quick]

``fit`` scores the validation set after every epoch for the history (the learning curves), and the
run scores validation and test once more at the end (``runs.Experiment.record``). At notebook 03's
``cpu`` size the validation set is as large as the training set. This trains one trajectory per
arm, in one process with 1 torch thread, after one unmeasured warm-up epoch, the arms interleaved
(each twice, in the order A B C C B A):

* A, the baseline (how 03 and 04 ran before 2026-12-02): evaluation batch 1000, every epoch;
* B: evaluation batch 256 (the new default), every epoch;
* C: batch 256, every ``eval_every``-th epoch: 4 for LeNet-5 (03's ``cpu`` profile), 3 for ResNet-20
  (04's ``cpu`` profile keeps every epoch: its E of a few epochs would leave two points);

LeNet-5 in fp32 on 5,000 training / 5,000 validation / 10,000 test images (03's ``cpu`` profile),
and ResNet-20 in bf16 on 1,000 / 1,000 / 2,000 (04's). Each arm's time is ``fit`` plus the final
validation + test scoring. Evaluation changes nothing in the training: the weights of every arm
must be identical (checked). Fashion-MNIST (padded to
32×32 for ResNet-20) when it is installed, else generated CIFAR-format files. ``--quick`` checks
that it runs and measures nothing.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from dataclasses import replace

import pandas as pd
import torch
from datasource import fashion_or_generated

from pnlib.train.evaluation import evaluate
from pnlib.train.loop import TrainConfig, fit
from pnlib.train.models import build_model

ARMS = {
    "A: batch 1000, every epoch": dict(eval_batch_size=1000, eval_every=1),
    "B: batch 256, every epoch": dict(eval_batch_size=256, eval_every=1),
    "C: batch 256, every n-th": dict(eval_batch_size=256),
}


def run(model_name: str, data, cfg: TrainConfig) -> tuple[float, dict]:
    torch.manual_seed(0)
    model = build_model(
        model_name, num_classes=data.num_classes, in_channels=data.in_channels, image_size=data.image_size
    )
    t0 = time.perf_counter()
    fit(model, data, cfg, seed=0, progress=False)
    for X, y in ((data.X_val, data.y_val), (data.X_test, data.y_test)):
        evaluate(model, X, y, cfg.eval_batch_size)
    return time.perf_counter() - t0, model.state_dict()


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="tiny sizes, one epoch: checks that it runs")
    args = ap.parse_args()
    torch.set_num_threads(1)
    q = args.quick
    settings = {  # model: (padded to 32, train, val, test, TrainConfig)
        "lenet5": (
            False,
            128 if q else 5000,
            128 if q else 5000,
            128 if q else 10000,
            TrainConfig(num_epochs=1 if q else 8, batch_size=128, lr=0.05, eval_every=4),
        ),
        "resnet20": (
            True,
            32 if q else 1000,
            32 if q else 1000,
            32 if q else 2000,
            TrainConfig(
                num_epochs=1 if q else 6,
                batch_size=32,
                lr=0.01,
                augment=True,
                amp=True,
                channels_last=True,
                eval_every=3,
            ),
        ),
    }
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for m, (pad, n_train, n_val, n_test, base) in settings.items():
            data = fashion_or_generated(
                tmp, train_size=n_train, val_size=n_val, test_size=n_test, pad_to_32=pad
            )
            run(m, data, replace(base, num_epochs=1))  # warm-up, not measured: one-time costs
            ref = None
            for arm in list(ARMS) + list(reversed(ARMS)):
                seconds, state = run(m, data, replace(base, **ARMS[arm]))
                ref = ref or state
                same = all(torch.equal(ref[k], state[k]) for k in ref)
                rows.append({"model": m, "arm": arm, "seconds": seconds, "same weights": same})
                print(
                    f"  {m} ({data.name}, {n_train} train / {n_val} val, {base.num_epochs} epochs, "
                    f"{base.precision}) {arm}: {seconds:.1f} s, weights identical to A: {same}"
                )
    table = pd.DataFrame(rows)
    if not table["same weights"].all():
        raise SystemExit("the evaluation settings changed the trained weights: a bug in fit")
    t = table.groupby(["model", "arm"]).seconds.median().unstack("model")
    ratio = t.iloc[0] / t
    print("median seconds per trajectory (fit + final validation and test scoring), and A / arm:")
    print(pd.concat({"seconds": t, "A / arm": ratio}, axis=1).round(2).to_string())
    print(
        "RESULT A / arm: "
        + "; ".join(f"{m}: " + ", ".join(f"{a[0]} {ratio.loc[a, m]:.2f}×" for a in ARMS) for m in settings)
        + ("  [quick: nothing measured]" if q else "")
    )


if __name__ == "__main__":
    main()
