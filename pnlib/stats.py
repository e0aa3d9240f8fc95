"""Intervals for the numbers the notebooks report (scipy does the statistics)."""
from __future__ import annotations

import numpy as np
from scipy import stats


def wilson(successes: int, n: int, level: float = 0.95) -> tuple[float, float]:
    """Wilson score interval of a success rate."""
    if n == 0:
        return float("nan"), float("nan")
    ci = stats.binomtest(int(successes), int(n)).proportion_ci(level, method="wilson")
    return float(ci.low), float(ci.high)


def mean_ci(values, level: float = 0.95) -> tuple[float, float, float]:
    """Mean and t-interval of the mean (nan interval for fewer than two values)."""
    x = np.asarray(values, dtype=float)
    x = x[np.isfinite(x)]
    if len(x) < 2:
        m = float(x.mean()) if len(x) else float("nan")
        return m, float("nan"), float("nan")
    if np.ptp(x) == 0:  # no spread: the interval is the point (scipy would warn and return nan)
        return float(x[0]), float(x[0]), float(x[0])
    lo, hi = stats.t.interval(level, len(x) - 1, loc=x.mean(), scale=stats.sem(x))
    return float(x.mean()), float(lo), float(hi)


def rates(table, by: list[str], outcome: str, also: tuple[str, ...] = ()):
    """Per group of ``by``: runs, how many have ``outcome`` true, the rate and its Wilson interval,
    and the counts of the boolean columns ``also``."""
    g = table.groupby(by, sort=False)
    out = g[outcome].agg(runs="size", count="sum").reset_index()
    for col in also:
        out[col] = g[col].sum().to_numpy()
    out["rate"] = out["count"] / out["runs"]
    ci = [wilson(int(c), int(n)) for c, n in zip(out["count"], out["runs"])]
    out["ci_low"], out["ci_high"] = [c[0] for c in ci], [c[1] for c in ci]
    return out
