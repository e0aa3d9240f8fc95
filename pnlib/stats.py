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
