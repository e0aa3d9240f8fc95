"""Notebook 02's batched programs as one process of 2 threads against jobs on processes of 1 thread.

    python benchmarks/bench_jobs.py [--quick]

The workload is a slice of notebook 02's teacher–student grid: k = 8 and 10, three λ each, the
random-anchor control, fewer runs and a lower step cap (six jobs, as the notebook has twelve).
First in this process with torch's threads (2 here: how the notebook ran before), then as one job
per (k, λ) on ``workers="auto"`` processes of one thread (``executors.starmap``, what
``profiles.cached_jobs`` does). The tables must be identical (checked);
the ratio of wall times is the speed-up.
"""

from __future__ import annotations

import argparse
import time

import pandas as pd
import torch

from pnlib.experiments import executors
from pnlib.synthetic import studies


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="a tiny grid: checks that it runs, measures nothing")
    args = ap.parse_args()
    strengths = (0.01, 0.1, 1.0)
    grid = (
        dict(runs=100, seed=0, K=2, cap=200, penalty_steps=100)
        if args.quick
        else dict(runs=500, seed=0, K=3, cap=2000, penalty_steps=1000)
    )
    workers = executors.resolve_workers("auto", 1)
    ks = (8, 10)
    print(
        f"teacher-student k={ks}, λ {strengths}, random anchors, {grid}; "
        f"1 process of {torch.get_num_threads()} threads vs {workers} processes of 1 thread"
    )
    t0 = time.perf_counter()
    one = pd.concat(
        [studies.teacher_student_grid(k, strengths, random_anchors=True, **grid) for k in ks],
        ignore_index=True,
    )
    t_one = time.perf_counter() - t0
    t0 = time.perf_counter()
    jobs = pd.concat(
        executors.starmap(
            [
                job
                for k in ks
                for job in studies.teacher_student_jobs(k, strengths, random_anchors=True, **grid)
            ],
            workers,
        ),
        ignore_index=True,
    )
    t_jobs = time.perf_counter() - t0
    same = one.drop(columns="seconds").equals(jobs.drop(columns="seconds"))
    print(
        pd.DataFrame(
            {
                "arm": [f"1 process, {torch.get_num_threads()} threads", f"{workers} processes, 1 thread"],
                "wall s": [round(t_one, 1), round(t_jobs, 1)],
            }
        ).to_string(index=False)
    )
    print(f"tables identical: {same}")
    print(f"RESULT jobs / one process: {t_one / t_jobs:.2f}x faster (target ≥ 1.5x on 2 cores)")
    if not same:
        raise SystemExit("the tables differ: the jobs do not reproduce the one-process program")


if __name__ == "__main__":
    main()
