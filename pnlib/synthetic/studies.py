"""The experiments of notebooks 01 and 02 on the synthetic problems: every method run and
tabulated (``kink_outcomes`` for the kink's sweep and gallery, ``teacher_student_outcomes`` /
``teacher_student_grid``, ``toy_outcomes`` / ``toy_summary``), the teacher–student claim family,
and the engine's speed-up. The kink's compute axis is ``pnlib.synthetic.kink``."""

from __future__ import annotations

import math
import time

import numpy as np
import pandas as pd
import torch

from pnlib.base import labels, seeds
from pnlib.method.persistence import PenaltyConfig
from pnlib.report.stats import mean_ci, paired, rates, wilson
from pnlib.synthetic.engine import Objective, Trajectories, outcomes, persistent_descent, run_methods
from pnlib.synthetic.problems import (
    kink_forward,
    kink_init,
    kink_problem,
    nearest_minimum,
    neuron_groups,
    teacher_student_init,
    teacher_student_objective,
    toy_surface,
)


def toy_outcomes(runs: dict[str, Trajectories], minima: torch.Tensor) -> pd.DataFrame:
    """One row per (method, θ₀): how many distinct minima its K end points reached, whether one
    of them is the deepest, and the best loss."""
    deepest_idx = int(toy_surface(minima).argmin())
    rows = []
    for method, t in runs.items():
        found = nearest_minimum(t.theta, minima)  # (K, runs)
        rows.append(
            pd.DataFrame(
                {
                    "method": method,
                    "K": len(t.theta),
                    "run": range(found.shape[1]),
                    "distinct_minima": [len(set(c)) for c in found.T.tolist()],
                    "found_deepest": (found == deepest_idx).any(0).numpy(),
                    "best_loss": t.best().numpy(),
                }
            )
        )
    return pd.concat(rows, ignore_index=True)


def toy_summary(outcomes: pd.DataFrame) -> pd.DataFrame:
    """Per method (``toy_outcomes`` rows): distinct minima reached per θ₀ and the share of θ₀ that
    reached the deepest one (95% t- and Wilson intervals), and the best loss."""
    rows = []
    for method, g in outcomes.groupby("method", sort=False):
        m, lo, hi = mean_ci(g.distinct_minima.to_numpy(dtype=float))
        dlo, dhi = wilson(int(g.found_deepest.sum()), len(g))
        bm, blo, bhi = mean_ci(g.best_loss.to_numpy())
        rows.append(
            {
                "method": method,
                "K": int(g.K.iloc[0]),
                "theta0": len(g),
                "distinct_minima": m,
                "distinct_ci_low": lo,
                "distinct_ci_high": hi,
                "found_deepest": g.found_deepest.mean(),
                "deepest_ci_low": dlo,
                "deepest_ci_high": dhi,
                "best_loss": bm,
                "best_loss_ci_low": blo,
                "best_loss_ci_high": bhi,
            }
        )
    return pd.DataFrame(rows)


# full-batch descent is deterministic, so re-runs from θ₀ repeat trajectory 1 exactly (notebook 01)
KINK_METHODS = (labels.TRAJECTORY_1, "persistent", "restarts", "longer", labels.KICK, labels.RANDOM_ANCHORS)


def kink_outcomes(
    distribution: str,
    width: int,
    *,
    runs: int,
    seed: int,
    K: int,
    penalty: PenaltyConfig,
    methods=KINK_METHODS,
    **descent,
) -> pd.DataFrame:
    """Per-run best training MSE of every method on the kink (``descent``: steps, lr, optimizer, ...)."""
    _, _, widths, objective, groups = kink_problem(distribution, width)
    t0 = time.perf_counter()
    out = run_methods(
        objective,
        lambda s: kink_init(runs, widths, seed=s),
        seed=seed,
        K=K,
        penalty=penalty,
        methods=methods,
        groups=groups,
        **descent,
    )
    return outcomes(
        out,
        distribution=distribution,
        width=width,
        kernel=penalty.kernel,
        strength=penalty.strength,
        schedule=penalty.schedule,
        seconds=time.perf_counter() - t0,
    )


def kink_fits(
    distribution: str, width: int, chosen, *, runs: int, seed: int, K: int, penalty: PenaltyConfig, **descent
) -> dict[str, dict[str, torch.Tensor]]:
    """For the ``chosen`` runs (indices among ``runs``): the fitted curves of trajectory 1 and of
    the best persistent trajectory, recomputed on those runs alone (for a figure)."""
    X, _, widths, objective, groups = kink_problem(distribution, width)
    theta0 = kink_init(runs, widths, seed=seeds.init_seed(seed, 1))[list(chosen)]
    t = persistent_descent(objective, theta0, K=K, penalty=penalty, groups=groups, **descent)
    curves = {}
    for i, run in enumerate(chosen):
        best = int(t.loss[:, i].nan_to_num(nan=math.inf).argmin())
        curves[f"run {run}"] = {
            f"traj. 1 (MSE {t.loss[0, i]:.3f})": kink_forward(t.theta[0, i : i + 1], X, widths)[0],
            f"best persistent, k={best + 1} (MSE {t.loss[best, i]:.1e})": kink_forward(
                t.theta[best, i : i + 1], X, widths
            )[0],
        }
    return curves


TS_METHODS = (labels.TRAJECTORY_1, "persistent", "restarts", "longer")


def teacher_student_outcomes(
    k: int,
    *,
    runs: int,
    seed: int,
    K: int,
    cap: int,
    penalty: PenaltyConfig,
    penalty_steps: int = 2000,
    methods=TS_METHODS,
    bad_loss: float = 1e-3,
) -> pd.DataFrame:
    """Per-run outcome of every method for k = n = d: gradient descent with step 0.1 until it
    settles (gradient ≤ 1e−9, or loss < ``bad_loss`` once the penalty is off) or hits ``cap`` steps
    per trajectory; λ follows its schedule over the first ``penalty_steps`` steps. ``outcome``:
    ``good`` (best loss < ``bad_loss``), ``bad`` (settled above it), or ``capped`` (above it with a
    trajectory still moving at the cap: undecided, a third outcome, never counted as bad)."""
    t0 = time.perf_counter()
    out = run_methods(
        teacher_student_objective(k, k),
        lambda s: teacher_student_init(runs, k, k, seed=s),
        seed=seed,
        K=K,
        steps=cap,
        penalty=penalty,
        methods=methods,
        lr=0.1,
        groups=neuron_groups(k, k),
        tol=1e-9,
        stop_below=bad_loss,
        penalty_steps=min(penalty_steps, cap),
    )
    table = outcomes(out, k=k, n=k, step_cap=cap, seconds=time.perf_counter() - t0)
    good = table.best_loss < bad_loss
    return table.assign(outcome=np.where(good, "good", np.where(table.capped, "capped", "bad")))


def teacher_student_grid(
    k: int,
    strengths,
    *,
    runs: int,
    seed: int,
    K: int,
    cap: int,
    penalty_steps: int = 2000,
    schedule: str = "linear",
    random_anchors: bool = False,
    baselines: bool = True,
) -> pd.DataFrame:
    """``teacher_student_outcomes`` for every λ of ``strengths`` (column ``strength``; the baselines,
    which do not depend on λ, are run once, with the first λ, unless ``baselines`` is false, and
    carry no strength). ``random_anchors``: the random-anchor control too, at every λ."""
    parts, penalized = [], ("persistent", labels.RANDOM_ANCHORS) if random_anchors else ("persistent",)
    for i, lam in enumerate(strengths):
        pen = PenaltyConfig(strength=lam, schedule=schedule)
        t = teacher_student_outcomes(
            k,
            runs=runs,
            seed=seed,
            K=K,
            cap=cap,
            penalty=pen,
            penalty_steps=penalty_steps,
            methods=(TS_METHODS if baselines and i == 0 else ("persistent",)) + penalized[1:],
        )
        parts.append(t.assign(strength=np.where(t.method.isin(penalized), lam, np.nan)))
    return pd.concat(parts, ignore_index=True)


def teacher_student_jobs(k: int, strengths, **grid) -> list[tuple]:
    """``teacher_student_grid(k, strengths, **grid)`` as one job per λ (for ``executors.starmap``):
    concatenated in order, their tables are that grid's table."""
    return [
        (teacher_student_grid, dict(k=k, strengths=(lam,), baselines=i == 0, **grid))
        for i, lam in enumerate(strengths)
    ]


def teacher_student_rates(grid_runs: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """``teacher_student_grid``'s rows with each penalised method labelled by its λ (``persistent
    λ=0.1``) and boolean ``good`` / ``bad`` / ``undecided`` (capped) columns; and per (k, method) the
    bad-run rate with its Wilson interval, the undecided count and the mean steps used."""
    lam = grid_runs.strength.map("{:g}".format)
    runs = grid_runs.assign(
        method=grid_runs.method.where(grid_runs.strength.isna(), grid_runs.method + " λ=" + lam),
        good=grid_runs.outcome == "good",
        bad=grid_runs.outcome == "bad",
        undecided=grid_runs.outcome == "capped",
    )
    steps = runs.groupby(["k", "method"]).steps.mean().rename("mean steps").reset_index()
    return runs, rates(runs, ["k", "method"], "bad", also=("undecided",)).merge(steps, on=["k", "method"])


# the declared comparisons of notebook 02's teacher–student part (paired outcomes per run, McNemar)
def teacher_student_family(ts_runs: pd.DataFrame) -> list[dict]:
    """Per k (in the table's order; the setting ``k=…``) and λ: persistent − trajectory 1 / restarts /
    longer, then, where
    the table holds the random-anchor control, persistent − random anchors at each of its λ. Methods
    are labelled ``persistent λ=…`` / ``random anchors λ=…``; the outcome is ``good``, and pairs with
    a capped (``undecided``) side are left out."""

    def row(claim, comparison, k, a, b):
        return {
            "claim": claim,
            "setting": f"k={k}",
            "comparison": comparison,
            "metric": "good (capped pairs left out)",
            "kind": "mcnemar",
            **paired(ts_runs, {"k": k, "method": a}, {"k": k, "method": b}, "good", undecided="undecided"),
        }

    def strengths(k, prefix):
        of = ts_runs[(ts_runs.k == k) & ts_runs.method.str.startswith(prefix)]
        return sorted(of.strength.dropna().unique())

    ks = pd.unique(ts_runs.k)
    return [
        row(
            "teacher-student: persistence beats the baselines (equal step cap)",
            f"persistent λ={lam:g} − {m} (k={k})",
            k,
            f"persistent λ={lam:g}",
            m,
        )
        for k in ks
        for lam in strengths(k, "persistent")
        for m in (labels.TRAJECTORY_1, "restarts", "longer")
    ] + [
        row(
            "teacher-student: the memory of earlier solutions matters",
            f"persistent − random anchors, λ={lam:g} (k={k})",
            k,
            f"persistent λ={lam:g}",
            f"random anchors λ={lam:g}",
        )
        for k in ks
        for lam in strengths(k, labels.RANDOM_ANCHORS)
    ]


def toy_ends(per: Trajectories, minima: torch.Tensor) -> pd.DataFrame:
    """The K end points of one θ₀ on the toy surface: loss, which minimum (0 = deepest), distance to anchor 1."""
    depth_rank = toy_surface(minima).argsort().argsort()
    return pd.DataFrame(
        {
            "trajectory": range(1, len(per.theta) + 1),
            "end loss": per.loss[:, 0].numpy(),
            "minimum reached (0 = deepest)": depth_rank[nearest_minimum(per.theta[:, 0], minima)].numpy(),
            "distance to anchor 1": (per.theta[:, 0] - per.theta[0, 0]).norm(dim=-1).numpy(),
        }
    )


def speedup(objective: Objective, theta0: torch.Tensor, n_loop: int = 8, **descent) -> dict:
    """Seconds per run of the batched program on all of ``theta0`` against a Python loop over
    ``n_loop`` single runs (B = 1), timed here in the same process."""
    t0 = time.perf_counter()
    persistent_descent(objective, theta0, **descent)
    batched = (time.perf_counter() - t0) / len(theta0)
    t0 = time.perf_counter()
    for i in range(n_loop):
        persistent_descent(objective, theta0[i : i + 1], **descent)
    loop = (time.perf_counter() - t0) / n_loop
    return {"runs": len(theta0), "batched s/run": batched, "loop s/run": loop, "speedup": loop / batched}


def speed_table(k: int, width: int, *, ts_runs: int, kink_runs: int) -> pd.DataFrame:
    """``speedup`` (batched program against a per-seed loop, timed in this process) for the
    teacher–student problem of size k and the kink network of ``width``, 300 steps each."""
    return pd.DataFrame(
        [
            {
                "workload": f"teacher-student k={k}",
                **speedup(
                    teacher_student_objective(k, k),
                    teacher_student_init(ts_runs, k, k, seed=1),
                    K=1,
                    steps=300,
                    lr=0.1,
                ),
            },
            {
                "workload": f"kink width {width}",
                **speedup(
                    kink_problem("shifted", width)[3],
                    kink_init(kink_runs, (width, width), seed=0),
                    K=1,
                    steps=300,
                    lr=0.01,
                    optimizer="adam",
                ),
            },
        ]
    )
