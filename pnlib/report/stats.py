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


# -- verdicts: paired differences, Holm across a declared family, TOST for equivalence ---------------
def holm(p_values) -> np.ndarray:
    """Holm's step-down adjustment of a family of p-values (same order as given)."""
    p = np.asarray(p_values, dtype=float)
    order = np.argsort(p)
    m = len(p)
    adjusted = np.empty(m)
    running = 0.0
    for rank, i in enumerate(order):
        running = max(running, min(1.0, (m - rank) * p[i]))
        adjusted[i] = running
    return adjusted


def paired_t(a, b):
    """Paired t-test of mean(a − b): (estimate, p, interval(level) -> (low, high), n, tost(margin) -> p).
    ``tost`` is the p-value of the two one-sided tests that the mean lies inside ±margin."""
    d = np.asarray(a, dtype=float) - np.asarray(b, dtype=float)
    d = d[np.isfinite(d)]
    n, est = len(d), float(d.mean()) if len(d) else float("nan")
    if n < 2 or np.ptp(d) == 0:
        # no spread: every seed gives the same difference c, and the t statistic is undefined. The
        # exact sign test stands in: all n differences on one side of 0 (of ±margin for the TOST)
        # has probability 2^−n under the null, so p = min(1, 2·2^−n) for a difference (1 when
        # c = 0) and 2^−n for equivalence when |c| < margin (1 otherwise). One seed proves nothing.
        p = 1.0 if n < 2 or est == 0 else min(1.0, 2.0 * 0.5**n)
        return (
            est,
            p,
            (lambda level: (est, est)),
            n,
            (lambda margin: 0.5**n if n >= 2 and abs(est) < margin else 1.0),
        )
    se = float(d.std(ddof=1) / np.sqrt(n))
    p = float(2 * stats.t.sf(abs(est) / se, n - 1))

    def tost(margin):
        return float(max(stats.t.sf((est + margin) / se, n - 1), stats.t.cdf((est - margin) / se, n - 1)))

    return (
        est,
        p,
        (lambda level: tuple(float(x) for x in stats.t.interval(level, n - 1, loc=est, scale=se))),
        n,
        tost,
    )


def mcnemar(a, b):
    """Paired binary outcomes (a and b succeed or fail on the same runs): the difference in success
    rates, McNemar's exact p (binomial on the discordant pairs), the interval of the paired
    difference that inverts that exact test (Clopper–Pearson on the discordant pairs' split, scaled
    by their share: it excludes 0 exactly when the test rejects at its level), and the two one-sided
    z-tests of equivalence."""
    a, b = np.asarray(a, dtype=bool), np.asarray(b, dtype=bool)
    n = len(a)
    if n == 0:
        raise ValueError(
            "McNemar's test got no pair: the two sides share no run (or every pair was left out "
            "as undecided); check the comparison's filters"
        )
    only_a, only_b = int((a & ~b).sum()), int((~a & b).sum())
    est = (only_a - only_b) / n
    p = float(stats.binomtest(only_a, only_a + only_b).pvalue) if only_a + only_b else 1.0
    se = np.sqrt(max(only_a + only_b - (only_a - only_b) ** 2 / n, 0.0)) / n

    def interval(level):
        discordant = only_a + only_b
        if not discordant:
            return 0.0, 0.0
        ci = stats.binomtest(only_a, discordant).proportion_ci(level, method="exact")
        return float(discordant / n * (2 * ci.low - 1)), float(discordant / n * (2 * ci.high - 1))

    def tost(margin):
        if se == 0:
            return 0.0 if abs(est) < margin else 1.0
        return float(max(stats.norm.sf((est + margin) / se), stats.norm.cdf((est - margin) / se)))

    return est, p, interval, n, tost


def verdicts(comparisons: list[dict], margin: float, alpha: float = 0.05):
    """One verdict per comparison of families declared before the results.

    Each comparison is a dict with ``claim``, ``comparison``, ``metric``, and paired outcomes ``a``
    and ``b`` (``kind``: ``"t"`` for accuracies, ``"mcnemar"`` for success/failure), optionally a
    ``setting`` (a data distribution × width, a k, an init) and a ``budget`` (a point of a compute
    axis), which are copied to the row. The estimate is mean(a − b). **A family is one claim**: the
    comparisons that test it (docs/method.md), Holm-adjusted among themselves. In each family:

    * ``better`` / ``worse``: the difference test's Holm-adjusted p (``p_holm``) < α, in the
      direction of the estimate;
    * ``equivalent``: otherwise, if the equivalence test's (two one-sided tests against
      ±``margin``) Holm-adjusted p (``p_equiv_holm``) < α;
    * ``inconclusive``: neither;
    * ``identical`` overrides them all when the two sides are the same numbers in every seed (for
      example selection chose trajectory 1 on both): no test can say anything about such a pair,
      least of all that two methods are equivalent;
    * ``repeats`` names the earlier comparison of the same claim with the very same numbers on both
      sides (a baseline identical to another by construction, e.g. deterministic descent's longer
      run and trajectory 1): it is shown with that comparison's verdict, adjusted p and interval,
      but counted once.

    ``identical`` comparisons and repeats are left out of the Holm families, so they do not dilute
    the others. The interval is given at the level Holm's procedure used for the comparison's
    difference test (α/(m − r) for the r-th smallest p), so it excludes 0 exactly when the verdict is
    better/worse.
    """
    import pandas as pd

    arrays = [(np.asarray(c["a"], dtype=float), np.asarray(c["b"], dtype=float)) for c in comparisons]
    same = [len(a) > 0 and bool(np.array_equal(a, b, equal_nan=True)) for a, b in arrays]
    first: dict = {}
    repeats, origin = [], []  # the comparison each repeats (its name and index), "" / itself if none
    for i, (c, (a, b)) in enumerate(zip(comparisons, arrays)):
        key = (c["claim"], c.get("kind", "t"), a.tobytes(), b.tobytes())
        j = first.setdefault(key, i)
        repeats.append(comparisons[j]["comparison"] if j != i else "")
        origin.append(j)
    tests = [(paired_t if c.get("kind", "t") == "t" else mcnemar)(c["a"], c["b"]) for c in comparisons]
    p = np.array([t[1] for t in tests])
    p_equiv = np.array([t[4](margin) for t in tests])
    p_holm, p_equiv_holm = np.full(len(p), np.nan), np.full(len(p), np.nan)
    level = np.full(len(p), alpha)
    claims = [c["claim"] for c in comparisons]
    for claim in dict.fromkeys(claims):
        live = np.array(
            [i for i, c in enumerate(claims) if c == claim and not same[i] and not repeats[i]], dtype=int
        )
        if not len(live):
            continue
        p_holm[live], p_equiv_holm[live] = holm(p[live]), holm(p_equiv[live])
        level[live[np.argsort(p[live], kind="stable")]] = alpha / (len(live) - np.arange(len(live)))
    for i, j in enumerate(origin):  # a repeat is the same test: its adjusted p and interval level
        p_holm[i], p_equiv_holm[i], level[i] = p_holm[j], p_equiv_holm[j], level[j]
    rows, by_name = [], {}
    for i, (c, (est, _, interval, n, _)) in enumerate(zip(comparisons, tests)):
        lo, hi = interval(1 - level[i])
        if same[i]:
            verdict = "identical"
        elif repeats[i]:
            verdict = by_name[(c["claim"], repeats[i])]
        elif p_holm[i] < alpha:
            verdict = "better" if est > 0 else "worse"
        elif p_equiv_holm[i] < alpha:
            verdict = "equivalent"
        else:
            verdict = "inconclusive"
        by_name[(c["claim"], c["comparison"])] = verdict
        rows.append(
            {
                "claim": c["claim"],
                **{k: c[k] for k in ("setting", "budget") if k in c},
                "comparison": c["comparison"],
                "metric": c["metric"],
                "n_seeds": n,
                "estimate": est,
                "ci_low": lo,
                "ci_high": hi,
                "ci_level": 1 - level[i],
                "p": p[i],
                "p_holm": p_holm[i],
                "margin": margin,
                "p_equiv": p_equiv[i],
                "p_equiv_holm": p_equiv_holm[i],
                "verdict": verdict,
                "repeats": repeats[i],
            }
        )
    return pd.DataFrame(rows)


def paired(table, a: dict, b: dict, outcome: str, on: str = "run", undecided: str | None = None) -> dict:
    """The paired outcomes of two methods on the same runs: ``{"a": ..., "b": ...}`` aligned on
    ``on``, from the rows matching every column of ``a`` and of ``b``. Pairs where either side is
    ``undecided`` (a boolean column, e.g. a run still moving at its step cap) are left out."""

    def side(spec):
        rows = table
        for col, value in spec.items():
            rows = rows[rows[col] == value]
        return rows.set_index(on)

    A, B = side(a), side(b)
    for name, rows in (("a", A), ("b", B)):
        if rows.index.has_duplicates:
            raise ValueError(
                f"side {name} of a paired comparison matches several rows per {on!r}: add the "
                f"filter that tells them apart"
            )
    common = A.index.intersection(B.index)
    A, B = A.loc[common], B.loc[common]
    if undecided is not None:
        keep = ~(A[undecided].to_numpy(dtype=bool) | B[undecided].to_numpy(dtype=bool))
        A, B = A[keep], B[keep]
    return {"a": A[outcome].to_numpy(), "b": B[outcome].to_numpy()}
