"""Batched synthetic training (notebook 02) against a Python loop over seeds.

    python benchmarks/bench_seeds.py [--seeds 256] [--steps 300]

Workloads: teacher–student k = 10 (gradient descent, closed form) and the kink network
(Adam), 256 seeds, the same steps. Checks that the batched results equal the loop's.
"""

from __future__ import annotations

import argparse
import time

import pandas as pd
import torch

from pnlib.synthetic.engine import persistent_descent
from pnlib.synthetic.problems import (
    kink_data,
    kink_init,
    kink_objective,
    teacher_student_init,
    teacher_student_objective,
)


def compare(name, objective, theta0, **run):
    t0 = time.perf_counter()
    batched = persistent_descent(objective, theta0, K=1, **run)
    t_batched = time.perf_counter() - t0
    t0 = time.perf_counter()
    loop = [persistent_descent(objective, theta0[i : i + 1], K=1, **run) for i in range(len(theta0))]
    t_loop = time.perf_counter() - t0
    loop_theta = torch.cat([r.theta[0] for r in loop])
    err = (loop_theta - batched.theta[0]).abs().max().item()
    scale = batched.theta[0].abs().max().item()
    assert err <= 1e-5 * scale, f"{name}: batched and looped results differ by {err}"
    return {
        "workload": name,
        "seeds": len(theta0),
        "steps": run["steps"],
        "loop s": t_loop,
        "batched s": t_batched,
        "speed-up": t_loop / t_batched,
        "max |batched − loop|": err,
    }


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seeds", type=int, default=256)
    ap.add_argument("--steps", type=int, default=300)
    args = ap.parse_args()
    rows = [
        compare(
            "teacher-student k=10",
            teacher_student_objective(10, 10),
            teacher_student_init(args.seeds, 10, 10, seed=0),
            steps=args.steps,
            lr=0.1,
        )
    ]
    X, y, _ = kink_data("shifted")
    rows.append(
        compare(
            "kink width 4",
            kink_objective(X, y, (4, 4)),
            kink_init(args.seeds, (4, 4), seed=0),
            steps=args.steps,
            lr=0.01,
            optimizer="adam",
        )
    )
    df = pd.DataFrame(rows).set_index("workload")
    print(f"torch {torch.__version__}, threads {torch.get_num_threads()}")
    print(df.to_string(float_format=lambda v: f"{v:.3g}"))
    print(
        "RESULT batched vs per-seed loop: "
        + ", ".join(f"{w} {r['speed-up']:.0f}×" for w, r in df.iterrows())
        + " (target ≥ 20×)"
    )


if __name__ == "__main__":
    main()
