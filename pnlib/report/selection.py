"""Settings chosen on validation before any reported run: the trajectory length E by the pilot's
doubling rule (``choose_epochs``, ``converged``) and the penalty setting of a sensitivity table
(``sensitivity``). The test set plays no part in either."""

from __future__ import annotations

import numpy as np
import pandas as pd

from pnlib.report.claims import diverged_trajectories


def doubling_rule(means: pd.Series, margin: float) -> pd.DataFrame:
    """The pilot's doubling rule on a metric's mean per length (``means``, indexed by length): the
    gain from doubling each length (nan where the pilot has no double), and whether that doubling
    and every later one the pilot measured gain less than ``margin`` (a plateau before a late rise
    is not convergence)."""
    gain = pd.Series([means.get(2 * n, np.nan) - means[n] for n in means.index], index=means.index)
    measured = gain.dropna()
    converged = [
        bool(n in measured.index and (measured[measured.index >= n] < margin).all()) for n in means.index
    ]
    return pd.DataFrame({"gain_from_doubling": gain, "converged": converged}, index=means.index)


def choose_epochs(pilot: pd.DataFrame, margin: float) -> tuple[int, pd.DataFrame]:
    """The trajectory length E from a pilot of single runs (rows of ``longer`` with K = 1, one per
    candidate E and seed): the smallest E whose doubling, and every later doubling the pilot
    measured, gains less than ``margin`` in mean validation accuracy (so a plateau before a late
    rise, e.g. a model still at chance, does not pass). If no candidate passes, the largest E that
    has a doubling, marked not converged."""
    t = (
        pilot[pilot.status == "ok"]
        .groupby("epochs")
        .val_acc.agg(["mean", "std", "size"])
        .rename(columns={"mean": "val_acc", "std": "val_acc_sd", "size": "seeds"})
    )
    t = t.join(doubling_rule(t.val_acc, margin))
    ok = t.index[t.converged]
    doubled = t.index[t.gain_from_doubling.notna()]
    if not len(doubled):
        raise ValueError("the pilot needs candidates E and 2E (e.g. 2, 4, 8, 16) to measure a doubling")
    E = int(ok.min()) if len(ok) else int(doubled.max())
    t["chosen"] = t.index == E
    return E, t.reset_index().rename(columns={"epochs": "E"})


def sensitivity(
    summary: pd.DataFrame, settings: dict, by: str = "val_acc (ensemble)"
) -> tuple[str, pd.DataFrame]:
    """Mean validation accuracy (selected solution and ensemble) of each
    penalty setting (mode label -> PenaltyConfig) over the tuning seeds, and the label with the best
    ``by``. The default is the ensemble's, a quantity the penalty always changes: the selected
    solution is trajectory 1 whenever validation prefers it, which makes most settings tie. Settings
    within 1e−9 of the best are ties (``tied``); the first of them in ``settings``' order wins, and
    the table says so. A setting that lost a trajectory to divergence on any tuning seed is not
    chosen. The test set plays no part."""
    rows = []
    for label, pen in settings.items():
        g = summary[(summary["mode"] == label) & (summary.method == "persistent")]
        sel, ens = g[g.selection == "selected"], g[g.selection == "ensemble"]
        rows.append(
            {
                "setting": label,
                "λ": pen.strength,
                "kernel": pen.kernel,
                "bandwidth": pen.bandwidth,
                "seeds": len(sel),
                "val_acc (selected)": sel.val_acc.mean(),
                "val_acc (ensemble)": ens.val_acc.mean(),
                "selected trajectory 1": int(
                    sel.get("selected_k", pd.Series(np.nan, index=sel.index)).eq(1).sum()
                ),
                "diverged": diverged_trajectories(sel) if len(sel) else 0,
            }
        )
    t = pd.DataFrame(rows)
    eligible = t[t.diverged == 0]  # a setting that diverged on any tuning seed is not chosen
    if eligible.empty:
        raise ValueError(
            "every penalty setting diverged on some tuning seed: lower the strengths or the learning rate"
        )
    top = eligible[by].max()
    t["tied"] = (t.diverged == 0) & ((t[by] - top).abs() <= 1e-9)
    best = t.loc[t.tied].setting.iloc[0]
    return best, t.assign(chosen=t.setting == best)


def converged(short: float, longer: float, margin: float) -> bool:
    """The pilot rule on two lengths of trajectory 1: running longer (at least twice as long) gains
    less than ``margin`` in the claim's metric. For the synthetic runs, whose "longer" baseline is
    trajectory 1 run K times as long from the same θ₀, this is the rule of ``choose_epochs``."""
    return bool(longer - short < margin)
