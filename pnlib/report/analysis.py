"""What notebooks 03 and 04 measure on finished runs: paired comparisons, distances between
solutions, loss along the line between two solutions, and saturated activations."""

from __future__ import annotations

import numpy as np
import pandas as pd
import torch
from torch import nn

from pnlib.base import labels
from pnlib.method.persistence import PenaltyConfig, PersistentPenalty
from pnlib.report.claims import diverged_trajectories
from pnlib.report.stats import mean_ci
from pnlib.train.evaluation import score


def compare(summary: pd.DataFrame, metric: str = "test_acc") -> pd.DataFrame:
    """Mean ± std over seeds per cell (model, init, mode, method, selection), and the paired
    difference to trajectory 1 of the same (dataset, model, init, seed) with its 95% t-interval."""
    keys = ["dataset", "model", "init"]
    # every persistent run of a seed repeats the same trajectory 1; take a row whose job did not fail
    ones = summary[summary.method == labels.TRAJECTORY_1]
    first = ones.sort_values("status", key=lambda s: s != "ok", kind="stable").drop_duplicates(
        keys + ["seed"]
    )
    base = first.set_index(keys + ["seed"])[metric]
    cells = summary[summary.method != labels.TRAJECTORY_1]
    rows = []
    for (ds, model, init, mode, method, selection), g in pd.concat([first.assign(mode=""), cells]).groupby(
        keys + ["mode", "method", "selection"], sort=False, dropna=False
    ):
        diffs = [getattr(r, metric) - base.get((ds, model, init, r.seed), np.nan) for r in g.itertuples()]
        d_mean, d_lo, d_hi = mean_ci(diffs)
        vals = g[metric].to_numpy(dtype=float)
        rows.append(
            {
                "dataset": ds,
                "model": model,
                "init": init,
                "mode": mode,
                "method": method,
                "selection": selection,
                "seeds": len(g),
                "epochs": int(g.epochs.iloc[0]),
                # trajectories lost to divergence in this cell's runs (a run can lose some and still
                # give a selected solution and an ensemble), and jobs that failed
                "diverged": diverged_trajectories(g),
                "failed": int((g.status == "failed").sum()),
                f"{metric}_mean": np.nanmean(vals) if np.isfinite(vals).any() else np.nan,
                f"{metric}_std": np.nanstd(vals, ddof=1) if len(g) > 1 else np.nan,
                "diff_vs_traj1": d_mean,
                "diff_ci_low": d_lo,
                "diff_ci_high": d_hi,
            }
        )
    return pd.DataFrame(rows)


def flat(state: dict, names: list[str] | None = None) -> torch.Tensor:
    names = names or [k for k, v in state.items() if v.is_floating_point() and "running" not in k]
    return torch.cat([state[k].reshape(-1).double() for k in names])


def distance_matrix(states: dict[str, dict]) -> pd.DataFrame:
    """Euclidean distances between parameter vectors (θ₀ and the solutions), by label."""
    names = [
        k for k, v in next(iter(states.values())).items() if v.is_floating_point() and "running" not in k
    ]
    vecs = {label: flat(s, names) for label, s in states.items()}
    labels = list(vecs)
    return pd.DataFrame(
        [[float((vecs[a] - vecs[b]).norm()) for b in labels] for a in labels], index=labels, columns=labels
    )


@torch.no_grad()
def interpolate(
    model: nn.Module, a: dict, b: dict, X: torch.Tensor, y: torch.Tensor, num: int = 11
) -> pd.DataFrame:
    """Loss and accuracy at (1 − α)·a + α·b for α on a grid: is there a barrier between a and b?
    BatchNorm running statistics are interpolated too (no re-estimation)."""
    rows = []
    for alpha in np.linspace(0, 1, num):
        model.load_state_dict(
            {k: (1 - alpha) * a[k] + alpha * b[k] if a[k].is_floating_point() else a[k] for k in a}
        )
        model.eval()
        rows.append({"alpha": alpha, **score(model(X), y)})
    return pd.DataFrame(rows)


@torch.no_grad()
def saturation(
    model: nn.Module, X: torch.Tensor, layers: list[str], threshold: float = 0.95
) -> dict[str, float]:
    """Fraction of activations in the saturated tails, per named activation module: |tanh| >
    threshold, or sigmoid outside (1 − threshold, threshold)."""
    out, hooks = {}, []
    mods = dict(model.named_modules())

    def hook(name):
        def fn(mod, inp, res):
            a = res.abs() if isinstance(mod, nn.Tanh) else (2 * res - 1).abs()
            out[name] = float((a > threshold).float().mean())

        return fn

    for name in layers:
        hooks.append(mods[name].register_forward_hook(hook(name)))
    model.eval()
    model(X)
    for h in hooks:
        h.remove()
    return out


def readable(table: pd.DataFrame, by: list[str], metric: str = "test_acc") -> pd.DataFrame:
    """``compare``'s output as the notebooks show it: "mean ± std" and "diff [low, high]"."""
    f = "{:.4f}".format
    out = table[by + ["mode", "method", "selection", "seeds", "epochs", "diverged", "failed"]].rename(
        columns={"diverged": "diverged trajectories", "failed": "failed jobs"}
    )
    out[f"{metric} (mean ± std over seeds)"] = (
        table[f"{metric}_mean"].map(f) + " ± " + table[f"{metric}_std"].map(f)
    )
    out[f"{metric} − trajectory 1 (95% CI, paired)"] = (
        table.diff_vs_traj1.map("{:+.4f}".format)
        + " ["
        + table.diff_ci_low.map("{:+.4f}".format)
        + ", "
        + table.diff_ci_high.map("{:+.4f}".format)
        + "]"
    )
    return out


def interpolation(
    exp, runs: dict, seeds, splits: dict[str, tuple[torch.Tensor, torch.Tensor]], a: str = "a1", b: str = "a2"
) -> pd.DataFrame:
    """Loss and accuracy along the line from solution ``a`` to ``b`` of the persistent run of each
    labelled RunConfig (label -> config), on each named split (name -> (X, y)), for each seed
    (an int or a list of them)."""
    curves = []
    for seed in [seeds] if isinstance(seeds, int) else seeds:
        for label, cfg in runs.items():
            sol = exp.solutions("persistent", cfg, seed)
            for split, (X, y) in splits.items():
                curves.append(
                    interpolate(exp.model(cfg), sol[a], sol[b], X, y).assign(
                        run=label, split=split, seed=seed
                    )
                )
    return pd.concat(curves, ignore_index=True)


def barriers(curves: pd.DataFrame, by: list[str]) -> pd.DataFrame:
    """The loss barrier on each interpolation line (max loss − the higher of its two ends), mean
    and 95% t-interval over seeds per group of ``by``."""
    per_seed = (
        curves.groupby(by + ["seed"])
        .apply(lambda d: d.loss.max() - max(d.loss.iloc[0], d.loss.iloc[-1]), include_groups=False)
        .rename("barrier")
    )
    rows = [
        dict(
            zip(by, k if isinstance(k, tuple) else (k,)),
            seeds=len(g),
            **dict(zip(("barrier (max loss − higher end point)", "ci_low", "ci_high"), mean_ci(g))),
        )
        for k, g in per_seed.groupby(by)
    ]
    return pd.DataFrame(rows)


def saturation_by_trajectory(exp, runs: dict, seeds, X: torch.Tensor, layers: list[str]) -> pd.DataFrame:
    """Share of saturated activations per layer of every trajectory k of the persistent run of each
    labelled RunConfig (trained here if needed), for each seed (an int or a list)."""
    rows = []
    for seed in [seeds] if isinstance(seeds, int) else seeds:
        for label, cfg in runs.items():
            exp.run("persistent", cfg, seed)
            for r in exp.trajectories("persistent", cfg, seed).itertuples():
                if r.status == "ok":
                    fractions = saturation(exp.model(cfg, exp.solution(r.key)), X, layers)
                    rows += [
                        {
                            "mode": label,
                            "seed": seed,
                            "k": r.k,
                            "layer": layer,
                            "saturated": frac,
                            "test_acc": r.test_acc,
                        }
                        for layer, frac in fractions.items()
                    ]
    return pd.DataFrame(rows)


def selected_on_validation(summary: pd.DataFrame, histories: pd.DataFrame) -> bool:
    """Whether every selected persistent solution (and re-run) is the trajectory with the best
    final validation accuracy of its run: the test set chose nothing."""
    run = ["model", "init", "method", "mode", "seed"]
    best = histories.sort_values("epoch").groupby(run + ["k"]).val_acc.last().groupby(run).max()
    chosen = (
        summary[
            (summary.selection == "selected")
            & summary.method.isin(best.index.unique("method"))
            & (summary.status == "ok")
        ]
        .set_index(run)
        .val_acc
    )
    return bool(np.allclose(chosen.to_numpy(), best.reindex(chosen.index).to_numpy(), equal_nan=True))


def gradient_check(kernel: str, granularity: str, seed: int = 0, h: float = 1e-6) -> dict:
    """The largest |fused − autograd| and |autograd − central finite difference| of the penalty's
    gradient on a small Conv + Linear network in float64 (notebook 01 shows it for every kernel
    and granularity; tests/test_persistence.py asserts it)."""
    torch.manual_seed(seed)
    net = nn.Sequential(nn.Conv2d(2, 3, 3), nn.Tanh(), nn.Flatten(), nn.Linear(12, 4)).double()
    # hinge is zero outside the unit ball: a wide fixed bandwidth makes its gradient visible
    pen = PersistentPenalty(
        net,
        PenaltyConfig(
            kernel=kernel,
            granularity=granularity,
            strength=0.7,
            bandwidth=5.0 if kernel == "hinge" else "travel",
        ),
    )
    for _ in range(3):
        pen.add_anchor({k: v + 0.3 * torch.randn_like(v) for k, v in net.state_dict().items()})
    with torch.no_grad():  # away from θ₀, so the gradient is generic
        for p in net.parameters():
            p.add_(0.1 * torch.randn_like(p))
    auto = torch.autograd.grad(pen.value(0.3), list(net.parameters()))
    pen.apply_(0.3)
    fused = max((p.grad - g).abs().max().item() for p, g in zip(net.parameters(), auto))
    w, g = net[3].weight, auto[2]
    fd = 0.0
    with torch.no_grad():
        for i in range(0, w.numel(), 7):
            old = w.view(-1)[i].item()
            w.view(-1)[i] = old + h
            up = pen.value(0.3).item()
            w.view(-1)[i] = old - h
            down = pen.value(0.3).item()
            w.view(-1)[i] = old
            fd = max(fd, abs((up - down) / (2 * h) - g.view(-1)[i].item()))
    return {
        "kernel": kernel,
        "granularity": granularity,
        "max |fused − autograd|": fused,
        "max |autograd − finite diff.|": fd,
    }
