"""A LeNet-5 mini-grid (about 2 minutes serially here) with 1 worker and with ``workers="auto"``.

    python benchmarks/bench_workers.py [--quick]

Both runs use 1 torch thread per job, so their summaries must be identical (checked); the ratio
of wall times is the speed-up of the local executor (target ≥ 1.4× on a 2-core machine).
Fashion-MNIST when it is installed, else generated CIFAR-format files.
"""

from __future__ import annotations

import argparse
import tempfile
import time

import torch
from datasource import fashion_or_generated

from pnlib.experiments.executors import Engine, resolve_workers
from pnlib.experiments.experiment import Experiment
from pnlib.experiments.grid import modes, run_grids
from pnlib.method.persistence import PenaltyConfig
from pnlib.train.loop import TrainConfig
from pnlib.train.runs import RunConfig

COLUMNS = ["model", "init", "mode", "method", "selection", "seed", "epochs", "status", "val_acc", "test_acc"]


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="a tiny grid: checks that it runs, measures nothing")
    args = ap.parse_args()
    torch.set_num_threads(1)
    sizes = (
        dict(val_size=500, train_size=1000, test_size=500)
        if args.quick
        else dict(val_size=2000, train_size=20000, test_size=2000)
    )
    with tempfile.TemporaryDirectory() as tmp:
        data = fashion_or_generated(tmp, **sizes)
        cell = RunConfig(
            model="lenet5",
            K=2,
            train=TrainConfig(num_epochs=1 if args.quick else 4, batch_size=128, lr=0.05, weight_decay=5e-4),
            penalty=PenaltyConfig(strength=0.01, schedule="cosine"),
        )
        g = {"lenet5": modes(cell)}
        seeds = 1 if args.quick else 3
        auto = resolve_workers("auto", 1)
        print(
            f"{data.name}: {len(data.y_train)} train images, LeNet-5, K={cell.K}, {cell.train.num_epochs} epochs, "
            f"{seeds} seeds; 1 thread per job; workers: 1 vs auto = {auto}"
        )
        wall, tables = {}, {}
        for workers in (1, "auto"):
            exp = Experiment(f"{tmp}/results-{workers}", data, progress=False, threads=1)
            t0 = time.perf_counter()
            tables[workers] = run_grids(exp, g, seeds, Engine(workers=workers))[0][COLUMNS]
            wall[workers] = time.perf_counter() - t0
    same = tables[1].equals(tables["auto"])
    print(
        f"RESULT workers=auto ({auto}) ran the grid in {wall['auto']:.0f} s against {wall[1]:.0f} s with 1 worker: "
        f"{wall[1] / wall['auto']:.2f}× (target ≥ 1.4× on 2 cores); summaries identical: {same}"
    )
    if not same:
        raise SystemExit("the summaries differ between 1 and several workers")


if __name__ == "__main__":
    main()
