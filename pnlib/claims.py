"""Claims decided by numbers: settings chosen on validation (a pilot for the trajectory length, a
sensitivity table for the penalty), families of comparisons declared before the results, their
verdicts (``stats.verdicts``: paired tests, Holm, TOST inside a margin) and one line per claim.

A comparison side is a dict of summary-column filters (``side``); a family is a list of
``{"claim", "a", "b"}`` (``family`` builds one claim's comparisons against several baselines).
"""
from __future__ import annotations

import textwrap

import numpy as np
import pandas as pd

from . import stats
from .methods import REGISTRY

# the methods whose summary has one row per seed (no selected / ensemble)
SINGLE_ROW = ("trajectory 1", *(m.label for m in REGISTRY.values() if m.rows == "single"))
VERDICT_COLUMNS = ["claim", "comparison", "n_seeds", "estimate", "ci_low", "ci_high", "p_holm", "verdict"]


def no_verdicts() -> pd.DataFrame:
    """The verdict table of an empty family (every model at chance, say), with its columns."""
    return pd.DataFrame(columns=["claim", "comparison", "metric", *VERDICT_COLUMNS[2:]])


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
    for claim, g in verdicts.groupby("claim", sort=False) if len(verdicts) else ():
        v = g.verdict
        status = ("supported" if (v == "better").all() else "mixed" if (v == "better").any()
                  else "refuted" if (v == "worse").any() else "no difference" if (v == "equivalent").all() else "open")
        rows.append({"claim": claim, "status": status, **{k: int((v == k).sum()) for k in
                                                         ("better", "worse", "equivalent", "inconclusive")}})
    return pd.DataFrame(rows, columns=["claim", "status", "better", "worse", "equivalent", "inconclusive"])


def family(claim: str, a: dict, bs: list[dict], selections=("selected",), **filters) -> list[dict]:
    """One claim's comparisons: side ``a`` against each side of ``bs``, for each selection (outer
    loop); the selection is applied to every side that has one (not trajectory 1 or longer), and
    ``filters`` (e.g. ``model="resnet20"``) to both sides."""
    def pick(spec, sel):
        return {**filters, **spec, **({} if spec["method"] in SINGLE_ROW else {"selection": sel})}
    return [{"claim": claim, "a": pick(a, sel), "b": pick(b, sel)} for sel in selections for b in bs]


def short_labels(family: list[dict]) -> pd.DataFrame:
    """For a verdict figure: ``a − b`` by method (with the mode where it tells runs apart, and the
    init where a claim spans several), and the selection of each comparison of ``family``."""
    def name(spec):
        tag = spec.get("mode", "").removeprefix("full, ")
        tag = "" if tag in ("", "full", spec["method"]) else f" [{tag}]"
        return spec["method"] + tag
    inits = {c["claim"]: {x["a"].get("init") for x in family if x["claim"] == c["claim"]} for c in family}
    return pd.DataFrame([{"label": f"{name(c['a'])} − {name(c['b'])}" + (
                              f" ({c['a']['init']} init)" if len(inits[c["claim"]]) > 1 else ""),
                          "selection": c["a"].get("selection") or c["b"].get("selection") or "single"}
                         for c in family])


def shown(verdicts: pd.DataFrame) -> pd.DataFrame:
    """The verdict table as the notebooks show it."""
    return verdicts[VERDICT_COLUMNS].round(4)


def equal_compute(init: str) -> list[dict]:
    """The plain equal-compute baselines of an init: trajectory 1, re-runs from θ₀, restarts, longer."""
    return [side(init, "trajectory 1"), side(init, "re-runs from θ₀", "re-runs from θ₀"), side(init, "restarts"),
            side(init, "longer")]


def report(verdicts: pd.DataFrame, header: str, not_tested: dict | None = None) -> pd.DataFrame:
    """Print ``header``, the claims that ``not_tested`` names (claim -> why) as NOT TESTED, then each
    claim's conclusion and its comparisons grouped by verdict; return ``conclusions``."""
    found = conclusions(verdicts)
    print(header)
    for claim, why in (not_tested or {}).items():
        print(f"- {claim}: NOT TESTED ({why})")
    for r in found.itertuples():
        print(f"- {r.claim}: {r.status.upper()} ({r.better} better, {r.worse} worse, {r.equivalent} equivalent, "
              f"{r.inconclusive} inconclusive)")
        for v, rows in verdicts[verdicts.claim == r.claim].groupby("verdict", sort=False):
            line = "; ".join(f"{c} {e:+.3f}" for c, e in zip(rows.comparison, rows.estimate))
            print(textwrap.indent(textwrap.fill(f"{v}: {line}", 110, subsequent_indent="    "), "    "))
    return found
