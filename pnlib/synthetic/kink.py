"""The kink study of notebook 02 along a compute axis.

Adam with a fixed step is deterministic, so one long plain run from θ₀, read at 1×, 2×, 4× … the
base length, is the whole doubling pilot of trajectory 1 (``plain_job``); the same runs give the
``longer`` run (θ₀'s run read at K × T) and the ``restarts`` (the best of θ₀'s and K − 1 fresh inits'
runs read at T) at every point of the axis. ``penalised_job`` runs persistence and its two controls
(the random kick, random anchors) at one trajectory length T. Every method of a point of the axis
uses K × T steps, trajectory 1 only T. ``characterise`` says what trajectory 1's failures are at the
pilot's end: still falling (a plateau), a saddle (negative curvature) or a minimum.
"""

from __future__ import annotations

import math
import time

import numpy as np
import pandas as pd
import torch

from pnlib.base import labels, seeds
from pnlib.method.persistence import PenaltyConfig
from pnlib.report.selection import doubling_rule
from pnlib.report.stats import paired
from pnlib.synthetic.engine import group_sq, persistent_descent
from pnlib.synthetic.problems import kink_forward, kink_init, kink_problem
from pnlib.synthetic.studies import kink_outcomes


def _rows(method: str, length: int, budget: int, loss: torch.Tensor, **extra) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "method": method,
            "length": length,
            "budget": budget,
            "run": range(len(loss)),
            "best_loss": loss.numpy(),
        }
    ).assign(**extra)


def _read(objective, path: torch.Tensor, every: int) -> dict[int, torch.Tensor]:
    """Losses (runs,) of a recorded path (T, runs, D) at each recorded step."""
    return {i * every: objective(theta)[0] for i, theta in enumerate(path)}


def plain_job(
    distribution: str,
    width: int,
    *,
    runs: int,
    seed: int,
    K: int,
    base: int,
    doublings: int,
    lengths,
    lr: float,
) -> pd.DataFrame:
    """Trajectory 1 read at base × 2^i (i = 0 … ``doublings``), the restarts at each T of
    ``lengths`` (best of K runs of T steps: θ₀'s and K − 1 fresh inits') and the longer run (θ₀'s run
    read at K × T), per run; and ``characterise``'s columns on trajectory 1's rows at the pilot's end."""
    X, y, widths, objective, groups = kink_problem(distribution, width)
    t0 = time.perf_counter()
    end = base * 2**doublings
    theta0 = kink_init(runs, widths, seed=seeds.init_seed(seed, 1))
    longest = max(lengths)
    one = persistent_descent(
        objective,
        theta0,
        K=1,
        steps=max(end, K * longest),
        lr=lr,
        optimizer="adam",
        record_every=base,
        groups=groups,
    )
    at = _read(objective, one.paths[0], base)
    fresh = [kink_init(runs, widths, seed=seeds.init_seed(seed, k)) for k in range(2, K + 1)]
    more = persistent_descent(
        objective,
        torch.cat(fresh),
        K=1,
        steps=longest,
        lr=lr,
        optimizer="adam",
        record_every=math.gcd(*lengths),
        groups=groups,
    )
    more_at = _read(objective, more.paths[0], math.gcd(*lengths))
    parts = [
        _rows(labels.TRAJECTORY_1, base * 2**i, base * 2**i, at[base * 2**i]) for i in range(doublings + 1)
    ]
    for T in lengths:
        others = more_at[T].view(K - 1, runs)
        best = torch.cat([at[T].unsqueeze(0), others]).nan_to_num(nan=math.inf).min(0).values
        parts += [_rows("restarts", T, K * T, best), _rows("longer", T, K * T, at[K * T])]
    table = pd.concat(parts, ignore_index=True)
    ends = characterise(objective, one.paths[0, end // base], at[end // 2], X, y, widths, groups)
    last = (table.method == labels.TRAJECTORY_1) & (table.length == end)
    for col in ends:
        table.loc[last, col] = ends[col].to_numpy()
    return table.assign(distribution=distribution, width=width, seconds=time.perf_counter() - t0)


def characterise(objective, theta, loss_before, X, y, widths, groups, sample: int = 24):
    """Per run at the end of the pilot: the loss, its relative fall over the last doubling, the
    gradient norm, and for the first ``sample`` runs the smallest Hessian eigenvalue (the network
    is 1-D and small, so the Hessian is exact and cheap; nan for the others). ``X``, ``y``, ``widths``:
    the problem's data and widths, as ``kink_problem`` gives them."""
    X, y = X.double(), y.double()
    loss, grad = objective(theta)
    eig = np.full(len(theta), np.nan)
    for i in range(min(sample, len(theta))):
        H = torch.autograd.functional.hessian(
            lambda t: (kink_forward(t.unsqueeze(0), X, widths)[0] - y).square().mean(), theta[i].double()
        )
        eig[i] = float(torch.linalg.eigvalsh(H).min())
    return pd.DataFrame(
        {
            "fall_last_doubling": ((loss_before - loss) / loss_before.clamp_min(1e-30)).numpy(),
            "grad_norm": group_sq(groups, grad).sum(-1).sqrt().numpy(),
            "min_hessian_eig": eig,
        }
    )


def penalised_job(
    distribution: str,
    width: int,
    *,
    runs: int,
    seed: int,
    K: int,
    length: int,
    lr: float,
    penalty: PenaltyConfig,
) -> pd.DataFrame:
    """Persistent, the random kick and random anchors with trajectories of ``length`` steps (λ over
    the first half of each), per run: the best final loss of each method's K trajectories."""
    table = kink_outcomes(
        distribution,
        width,
        runs=runs,
        seed=seed,
        K=K,
        penalty=penalty,
        methods=("persistent", labels.KICK, labels.RANDOM_ANCHORS),
        steps=length,
        lr=lr,
        optimizer="adam",
        penalty_steps=length // 2,
    )
    return table.assign(length=length, budget=K * length)[
        ["method", "length", "budget", "run", "best_loss", "distribution", "width", "seconds"]
    ]


def job_cost(job: tuple) -> float:
    """A kink job's work, known before it runs (``cached_jobs``' ``cost``): runs × Adam steps × width.
    ``plain_job`` runs θ₀'s trajectory to the pilot's end and K − 1 fresh ones to the longest T;
    ``penalised_job`` K persistent trajectories of T and K − 1 each for the kick and random anchors."""
    fn, kw = job
    if fn is plain_job:
        longest = max(kw["lengths"])
        steps = max(kw["base"] * 2 ** kw["doublings"], kw["K"] * longest) + (kw["K"] - 1) * longest
    else:
        steps = (3 * kw["K"] - 2) * kw["length"]
    return kw["runs"] * steps * kw["width"]


def pilot_table(axis: pd.DataFrame, margin: float) -> pd.DataFrame:
    """Trajectory 1's success rate at each length of the doubling pilot, per setting, the gain from
    doubling it and the converged length: the smallest whose doubling, and every later doubling the
    pilot measured, gains less than ``margin`` (a plateau before a late rise is not convergence; the
    rule of ``selection.choose_epochs``)."""
    t1 = axis[axis.method == labels.TRAJECTORY_1]
    out = (
        t1.groupby(["distribution", "width", "length"], sort=False)
        .success.mean()
        .rename("success")
        .reset_index()
    )
    rule = pd.concat(
        [
            doubling_rule(g.set_index("length").success, margin).set_index(g.index)
            for _, g in out.groupby(["distribution", "width"], sort=False)
        ]
    )
    out = out.join(rule)
    first = out[out.converged].groupby(["distribution", "width"]).length.min()
    out["chosen"] = [first.get((d, w)) == n for d, w, n in zip(out.distribution, out.width, out.length)]
    return out


def failures(axis: pd.DataFrame, success_mse: float, margin: float, falling: float = 0.01) -> pd.DataFrame:
    """What trajectory 1's failed runs are at the pilot's end, per setting: how many failed; how many
    of the runs that had failed at the previous length succeeded by the end (escaped); the share of
    the failed whose loss still fell by more than ``falling`` over the last doubling; the median
    gradient norm; and among the sampled runs with a Hessian, the share with negative curvature
    (smallest eigenvalue below −1e−6). ``kind``: ``plateaus`` where trajectory 1 has not converged
    by the pilot rule (runs still escape: the failures are slow, not final), else ``saddles`` where
    most sampled failures curve down, else ``minima`` (stationary, no escape, no descent direction
    seen)."""
    t1 = axis[axis.method == labels.TRAJECTORY_1]
    pilot = pilot_table(axis, margin)
    rows = []
    for (d, w), g in t1.groupby(["distribution", "width"], sort=False):
        end_len = int(g.length.max())
        end = g[g.length == end_len].set_index("run")
        before = g[g.length == end_len // 2].set_index("run").best_loss
        bad = end[end.best_loss >= success_mse]
        was_bad = before[before >= success_mse].index
        eig = bad.min_hessian_eig.dropna()
        converged = bool(pilot[(pilot.distribution == d) & (pilot.width == w)].converged.any())
        neg = float((eig < -1e-6).mean()) if len(eig) else float("nan")
        kind = (
            "none failed"
            if not len(bad)
            else "plateaus"
            if not converged
            else "saddles"
            if neg > 0.5
            else "minima"
        )
        rows.append(
            {
                "distribution": d,
                "width": w,
                "steps": end_len,
                "failed": len(bad),
                "of": len(end),
                "escaped in the last doubling": int((end.loc[was_bad].best_loss < success_mse).sum()),
                "failed before it": len(was_bad),
                "still falling": float((bad.fall_last_doubling > falling).mean())
                if len(bad)
                else float("nan"),
                "median gradient norm": float(bad.grad_norm.median()) if len(bad) else float("nan"),
                "with a Hessian": len(eig),
                "negative curvature": neg,
                "kind": kind,
            }
        )
    return pd.DataFrame(rows)


CLAIMS = {
    labels.TRAJECTORY_1: "kink: persistence beats the baselines",
    "restarts": "kink: persistence beats the baselines",
    "longer": "kink: persistence beats the baselines",
    labels.KICK: "kink: a single push does not explain it",
    labels.RANDOM_ANCHORS: "kink: the memory of earlier solutions matters",
}


def setting_name(distribution: str, width: int) -> str:
    return f"{distribution}, w={width}"


def family(axis: pd.DataFrame, K: int, lengths) -> list[dict]:
    """Persistent − each method of ``CLAIMS`` on success, per setting and point of the compute axis
    (K × T steps; trajectory 1 at T), paired run by run (McNemar)."""
    out = []
    for (d, w), g in axis.groupby(["distribution", "width"], sort=False):
        for T in lengths:
            for m in CLAIMS:
                out.append(
                    {
                        "claim": CLAIMS[m],
                        "setting": setting_name(d, w),
                        "budget": f"{K}×{T:,}",
                        "comparison": f"persistent − {m} ({setting_name(d, w)}, {K}×{T:,} steps)",
                        "metric": "success",
                        "kind": "mcnemar",
                        **paired(
                            g, {"method": "persistent", "length": T}, {"method": m, "length": T}, "success"
                        ),
                    }
                )
    return out


def labels_at_convergence(axis_found: pd.DataFrame, pilot: pd.DataFrame, K: int, lengths) -> pd.DataFrame:
    """Each claim's label per setting: its label at the converged length where trajectory 1 converged
    at a length on the compute axis, else "not tested at convergence" with the pilot's evidence and
    the labels along the compute axis (``axis_found``: ``claims.conclusions`` per claim, setting
    and budget)."""
    rows = []
    for (claim, setting), g in axis_found.groupby(["claim", "setting"], sort=False):
        p = pilot[[setting_name(d, w) == setting for d, w in zip(pilot.distribution, pilot.width)]]
        chosen = p[p.chosen].length.tolist()
        along = "; ".join(f"{b}: {s}" for b, s in zip(g.budget, g.status))
        if chosen and chosen[0] in lengths:
            at = g[g.budget == f"{K}×{chosen[0]:,}"].iloc[0]
            rows.append(
                {
                    "claim": claim,
                    "setting": setting,
                    "status": at.status,
                    "at": at.budget,
                    "why": at.why,
                    "along the axis": along,
                }
            )
            continue
        rates = ", ".join(f"{r:.3f}" for r in p.success)
        why = (
            f"trajectory 1 converged only at {chosen[0]:,} steps, beyond the axis"
            if chosen
            else f"trajectory 1 kept improving up to {int(p.length.max()):,} steps (success {rates})"
        )
        rows.append(
            {
                "claim": claim,
                "setting": setting,
                "status": "not tested at convergence",
                "at": "",
                "why": why,
                "along the axis": along,
            }
        )
    return pd.DataFrame(rows)
