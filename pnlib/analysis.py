"""What notebooks 03 and 04 measure on finished runs: paired comparisons, distances between
solutions, loss along the line between two solutions, and saturated activations."""
from __future__ import annotations

import numpy as np
import pandas as pd
import torch
from torch import nn

from . import stats
from .persistence import PenaltyConfig, PersistentPenalty
from .stats import mean_ci
from .training import score


def compare(summary: pd.DataFrame, metric: str = "test_acc") -> pd.DataFrame:
    """Mean ± std over seeds per cell (model, init, mode, method, selection), and the paired
    difference to trajectory 1 of the same (dataset, model, init, seed) with its 95% t-interval."""
    keys = ["dataset", "model", "init"]
    # every persistent run of a seed repeats the same trajectory 1; take a row whose job did not fail
    ones = summary[summary.method == "trajectory 1"]
    first = ones.sort_values("status", key=lambda s: s != "ok", kind="stable").drop_duplicates(keys + ["seed"])
    base = first.set_index(keys + ["seed"])[metric]
    cells = summary[summary.method != "trajectory 1"]
    rows = []
    for (ds, model, init, mode, method, selection), g in pd.concat([first.assign(mode=""), cells]).groupby(
            keys + ["mode", "method", "selection"], sort=False, dropna=False):
        diffs = [getattr(r, metric) - base.get((ds, model, init, r.seed), np.nan) for r in g.itertuples()]
        d_mean, d_lo, d_hi = mean_ci(diffs)
        vals = g[metric].to_numpy(dtype=float)
        rows.append({"dataset": ds, "model": model, "init": init, "mode": mode, "method": method,
                     "selection": selection, "seeds": len(g), "epochs": int(g.epochs.iloc[0]),
                     "diverged": int((g.status == "diverged").sum()), "failed": int((g.status == "failed").sum()),
                     f"{metric}_mean": np.nanmean(vals) if np.isfinite(vals).any() else np.nan,
                     f"{metric}_std": np.nanstd(vals, ddof=1) if len(g) > 1 else np.nan,
                     "diff_vs_traj1": d_mean, "diff_ci_low": d_lo, "diff_ci_high": d_hi})
    return pd.DataFrame(rows)


def flat(state: dict, names: list[str] | None = None) -> torch.Tensor:
    names = names or [k for k, v in state.items() if v.is_floating_point() and "running" not in k]
    return torch.cat([state[k].reshape(-1).double() for k in names])


def distance_matrix(states: dict[str, dict]) -> pd.DataFrame:
    """Euclidean distances between parameter vectors (θ₀ and the solutions), by label."""
    names = [k for k, v in next(iter(states.values())).items() if v.is_floating_point() and "running" not in k]
    vecs = {label: flat(s, names) for label, s in states.items()}
    labels = list(vecs)
    return pd.DataFrame([[float((vecs[a] - vecs[b]).norm()) for b in labels] for a in labels], index=labels, columns=labels)


@torch.no_grad()
def interpolate(model: nn.Module, a: dict, b: dict, X: torch.Tensor, y: torch.Tensor, num: int = 11) -> pd.DataFrame:
    """Loss and accuracy at (1 − α)·a + α·b for α on a grid: is there a barrier between a and b?
    BatchNorm running statistics are interpolated too (no re-estimation)."""
    rows = []
    for alpha in np.linspace(0, 1, num):
        model.load_state_dict({k: (1 - alpha) * a[k] + alpha * b[k] if a[k].is_floating_point() else a[k] for k in a})
        model.eval()
        rows.append({"alpha": alpha, **score(model(X), y)})
    return pd.DataFrame(rows)


@torch.no_grad()
def saturation(model: nn.Module, X: torch.Tensor, layers: list[str], threshold: float = 0.95) -> dict[str, float]:
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
    out = table[by + ["mode", "method", "selection", "seeds", "epochs", "diverged", "failed"]].copy()
    out[f"{metric} (mean ± std over seeds)"] = table[f"{metric}_mean"].map(f) + " ± " + table[f"{metric}_std"].map(f)
    out[f"{metric} − trajectory 1 (95% CI, paired)"] = (
        table.diff_vs_traj1.map("{:+.4f}".format) + " [" + table.diff_ci_low.map("{:+.4f}".format) + ", "
        + table.diff_ci_high.map("{:+.4f}".format) + "]")
    return out


def interpolation(exp, runs: dict, seeds, splits: dict[str, tuple[torch.Tensor, torch.Tensor]],
                  a: str = "a1", b: str = "a2") -> pd.DataFrame:
    """Loss and accuracy along the line from solution ``a`` to ``b`` of the persistent run of each
    labelled RunConfig (label -> config), on each named split (name -> (X, y)), for each seed
    (an int or a list of them)."""
    curves = []
    for seed in [seeds] if isinstance(seeds, int) else seeds:
        for label, cfg in runs.items():
            sol = exp.solutions("persistent", cfg, seed)
            for split, (X, y) in splits.items():
                curves.append(interpolate(exp.model(cfg), sol[a], sol[b], X, y).assign(run=label, split=split, seed=seed))
    return pd.concat(curves, ignore_index=True)


def barriers(curves: pd.DataFrame, by: list[str]) -> pd.DataFrame:
    """The loss barrier on each interpolation line (max loss − the higher of its two ends), mean
    and 95% t-interval over seeds per group of ``by``."""
    per_seed = curves.groupby(by + ["seed"]).apply(lambda d: d.loss.max() - max(d.loss.iloc[0], d.loss.iloc[-1]),
                                                   include_groups=False).rename("barrier")
    rows = [dict(zip(by, k if isinstance(k, tuple) else (k,)), seeds=len(g), **dict(zip(
        ("barrier (max loss − higher end point)", "ci_low", "ci_high"), mean_ci(g)))) for k, g in per_seed.groupby(by)]
    return pd.DataFrame(rows)


# -- choosing settings on validation, then verdicts ---------------------------------------------------
def choose_epochs(pilot: pd.DataFrame, margin: float) -> tuple[int, pd.DataFrame]:
    """The trajectory length E from a pilot of single runs (rows of ``longer`` with K = 1, one per
    candidate E and seed): the smallest E whose doubling gains less than ``margin`` in mean
    validation accuracy. If no candidate passes, the largest E that has a doubling, marked not
    converged."""
    t = pilot[pilot.status == "ok"].groupby("epochs").val_acc.agg(["mean", "std", "size"]).rename(
        columns={"mean": "val_acc", "std": "val_acc_sd", "size": "seeds"})
    t["gain_from_doubling"] = [t.val_acc.get(2 * e, np.nan) - t.val_acc[e] for e in t.index]
    t["converged"] = t.gain_from_doubling < margin
    ok = t.index[t.converged]
    doubled = t.index[t.gain_from_doubling.notna()]
    if not len(doubled):
        raise ValueError("the pilot needs candidates E and 2E (e.g. 2, 4, 8, 16) to measure a doubling")
    E = int(ok.min()) if len(ok) else int(doubled.max())
    t["chosen"] = t.index == E
    return E, t.reset_index().rename(columns={"epochs": "E"})


def sensitivity(summary: pd.DataFrame, settings: dict) -> tuple[str, pd.DataFrame]:
    """Mean validation accuracy (selected solution and ensemble) of each penalty setting (mode
    label -> PenaltyConfig) over the tuning seeds, and the label with the best selected one. The
    test set plays no part."""
    rows = []
    for label, pen in settings.items():
        g = summary[(summary["mode"] == label) & (summary.method == "persistent")]
        sel, ens = g[g.selection == "selected"], g[g.selection == "ensemble"]
        rows.append({"setting": label, "λ": pen.strength, "kernel": pen.kernel, "bandwidth": pen.bandwidth,
                     "seeds": len(sel), "val_acc (selected)": sel.val_acc.mean(), "val_acc (ensemble)": ens.val_acc.mean(),
                     # trajectories that diverged, over all tuning seeds (a diverged run is a row with a count)
                     "diverged": int(sel.get("diverged", pd.Series(0, index=sel.index)).fillna(0).sum())})
    t = pd.DataFrame(rows)
    eligible = t[t.diverged == 0]  # a setting that diverged on any tuning seed is not chosen
    if eligible.empty:
        raise ValueError("every penalty setting diverged on some tuning seed: lower the strengths or the learning rate")
    best = t.loc[eligible["val_acc (selected)"].idxmax(), "setting"]
    return best, t.assign(chosen=t.setting == best)


def side(init: str, method: str, mode: str = "", selection: str = "") -> dict:
    """One side of a declared comparison: the summary rows of this init, method, mode and selection
    (trajectory 1 is the same run in every mode, so its mode is not part of it)."""
    spec = {"init": init, "method": method, "mode": mode, "selection": selection}
    return {k: v for k, v in spec.items() if not (k == "mode" and method == "trajectory 1")}


def describe(spec: dict) -> str:
    """A comparison side as text: ``persistent [full] (selected), small_normal init``."""
    text = (f"{spec['model']}: " if "model" in spec else "") + spec["method"] + (f" [{spec['mode']}]" if spec.get("mode") else "")
    text += f" ({spec['selection']})" if spec.get("selection") else ""
    return text + (f", {spec['init']} init" if "init" in spec else "")


def paired_values(summary: pd.DataFrame, spec: dict, metric: str) -> pd.Series:
    """``metric`` per seed of the rows matching every column of ``spec``. Trajectory 1, repeated by
    every persistent run of a seed, is taken once (from a job that did not fail); any other side
    must match one row per seed."""
    rows = summary
    for col, value in spec.items():
        rows = rows[rows[col].fillna("") == value] if isinstance(value, str) else rows[rows[col] == value]
    if spec.get("method") == "trajectory 1":
        rows = rows.sort_values("status", key=lambda s: s != "ok", kind="stable").drop_duplicates(
            ["model", "seed"] if "model" in rows else "seed")
    if rows.seed.duplicated().any():
        raise ValueError(f"{describe(spec)} matches several runs of one seed: add the filter (e.g. model) that "
                         f"tells them apart")
    return rows.set_index("seed")[metric].astype(float)


def verdict_table(summary: pd.DataFrame, family: list[dict], margin: float, metric: str = "test_acc",
                  alpha: float = 0.05) -> pd.DataFrame:
    """``stats.verdicts`` on a family declared before the results: each entry is ``{"claim": ..., "a":
    spec, "b": spec}`` (column filters of the summary, see ``paired_values``); the estimate is the
    paired mean of a − b over the seeds both have."""
    comparisons = []
    for c in family:
        a, b = paired_values(summary, c["a"], metric), paired_values(summary, c["b"], metric)
        common = a.index.intersection(b.index)
        if not len(common):
            raise ValueError(f"comparison {describe(c['a'])} − {describe(c['b'])} has no seed in common: "
                             f"is one side missing from the summary?")
        missing = int((a[common].isna() | b[common].isna()).sum())  # a diverged side has no accuracy
        comparisons.append({"claim": c["claim"], "comparison": f"{describe(c['a'])} − {describe(c['b'])}",
                            "metric": metric, "a": a[common].to_numpy(), "b": b[common].to_numpy(),
                            "dropped": missing})
    table = stats.verdicts(comparisons, margin, alpha)
    # seeds left out because one side diverged: shown, never silent
    return table.assign(seeds_dropped=[c["dropped"] for c in comparisons])


def conclusions(verdicts: pd.DataFrame) -> pd.DataFrame:
    """One line per claim from its comparisons' verdicts: ``supported`` (every one better),
    ``refuted`` (none better, at least one worse), ``no difference`` (every one equivalent),
    ``mixed`` (some better, not all), ``open`` (otherwise: inconclusive)."""
    rows = []
    for claim, g in verdicts.groupby("claim", sort=False):
        v = g.verdict
        status = ("supported" if (v == "better").all() else "mixed" if (v == "better").any()
                  else "refuted" if (v == "worse").any() else "no difference" if (v == "equivalent").all() else "open")
        rows.append({"claim": claim, "status": status, **{k: int((v == k).sum()) for k in
                                                         ("better", "worse", "equivalent", "inconclusive")}})
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
                    rows += [{"mode": label, "seed": seed, "k": r.k, "layer": layer, "saturated": frac,
                              "test_acc": r.test_acc} for layer, frac in fractions.items()]
    return pd.DataFrame(rows)


def selected_on_validation(summary: pd.DataFrame, histories: pd.DataFrame) -> bool:
    """Whether every selected persistent solution (and re-run) is the trajectory with the best
    final validation accuracy of its run: the test set chose nothing."""
    run = ["model", "init", "method", "mode", "seed"]
    best = histories.sort_values("epoch").groupby(run + ["k"]).val_acc.last().groupby(run).max()
    chosen = summary[(summary.selection == "selected") & summary.method.isin(best.index.unique("method"))
                     & (summary.status == "ok")].set_index(run).val_acc
    return bool(np.allclose(chosen.to_numpy(), best.reindex(chosen.index).to_numpy(), equal_nan=True))


def gradient_check(kernel: str, granularity: str, seed: int = 0, h: float = 1e-6) -> dict:
    """The largest |fused − autograd| and |autograd − central finite difference| of the penalty's
    gradient on a small Conv + Linear network in float64 (notebook 01 shows it for every kernel
    and granularity; tests/test_persistence.py asserts it)."""
    torch.manual_seed(seed)
    net = nn.Sequential(nn.Conv2d(2, 3, 3), nn.Tanh(), nn.Flatten(), nn.Linear(12, 4)).double()
    # hinge is zero outside the unit ball: a wide fixed bandwidth makes its gradient visible
    pen = PersistentPenalty(net, PenaltyConfig(kernel=kernel, granularity=granularity, strength=0.7,
                                               bandwidth=5.0 if kernel == "hinge" else "travel"))
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
    return {"kernel": kernel, "granularity": granularity, "max |fused − autograd|": fused,
            "max |autograd − finite diff.|": fd}
