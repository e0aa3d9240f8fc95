"""How many seeds a family of paired comparisons needs, decided before the main runs.

For a paired t-test on n seeds with a standard deviation ``sd`` of the paired differences, a
family of ``m`` comparisons under Holm's correction (its first step is Bonferroni, α/m, which is
the level a comparison must be able to pass), and an equivalence margin δ:

* **equivalence** (TOST) at a true difference of 0 succeeds when both one-sided tests reject,
  power = 2·P(T′ > t) − 1 with T′ noncentral t (n − 1 df, noncentrality δ√n/sd) and t the
  one-sided critical value at α/m;
* a **difference** of 2δ is detected with power P(T′ > t), noncentrality 2δ√n/sd, t the
  two-sided critical value at α/m.

``seeds_needed`` is the smallest n that reaches the target power for both (``tests/test_power.py``
checks it by simulating the verdict rule itself).
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
from scipy import stats


def _rejects(n: int, sd: float, effect: float, level: float) -> float:
    """P(T′ > t_{1−level}) for a paired t statistic on n seeds whose true mean difference is
    ``effect``: T′ is noncentral t with n − 1 df and noncentrality effect·√n/sd."""
    if n < 2:
        return 0.0
    if sd <= 0:
        return 1.0
    return float(stats.nct.sf(stats.t.ppf(1 - level, n - 1), n - 1, effect * math.sqrt(n) / sd))


def equivalence_power(n: int, sd: float, margin: float, m: int = 1, alpha: float = 0.05) -> float:
    """Power of the TOST at ±``margin`` when the true difference is 0 (n seeds, family of m)."""
    return max(0.0, 2 * _rejects(n, sd, margin, alpha / m) - 1)


def difference_power(n: int, sd: float, effect: float, m: int = 1, alpha: float = 0.05) -> float:
    """Power of the two-sided paired t-test to detect a true difference ``effect`` (family of m)."""
    return _rejects(n, sd, abs(effect), alpha / m / 2)


def seeds_needed(
    sd: float,
    margin: float,
    m: int = 1,
    alpha: float = 0.05,
    power: float = 0.8,
    tests=("equivalence", "difference"),
    most: int = 10_000,
) -> int:
    """The smallest n with ≥ ``power`` in each of ``tests``: an equivalence at ``margin`` when the
    true difference is 0, a difference of twice the margin; ``most + 1`` when ``most`` falls short."""
    if not (sd >= 0 and margin > 0 and m >= 1):
        raise ValueError(f"need sd ≥ 0, margin > 0 and m ≥ 1 (got sd={sd}, margin={margin}, m={m})")
    checks = {
        "equivalence": lambda n: equivalence_power(n, sd, margin, m, alpha),
        "difference": lambda n: difference_power(n, sd, 2 * margin, m, alpha),
    }
    for n in range(2, most + 1):
        if all(checks[t](n) >= power for t in tests):
            return n
    return most + 1


def pooled_sd(differences: dict[str, np.ndarray]) -> tuple[float, int]:
    """The pooled standard deviation of several comparisons' paired differences (each centred on
    its own mean, so a true difference does not count as spread) and its degrees of freedom."""
    ss, df = 0.0, 0
    for d in differences.values():
        d = np.asarray(d, dtype=float)
        d = d[np.isfinite(d)]
        if len(d) >= 2:
            ss += float(((d - d.mean()) ** 2).sum())
            df += len(d) - 1
    if not df:
        raise ValueError("the power analysis needs at least two tuning seeds with a paired difference")
    return math.sqrt(ss / df), df


def table(
    families: dict[str, dict[str, np.ndarray]],
    sizes: dict[str, int],
    margin: float,
    alpha: float = 0.05,
    power: float = 0.8,
) -> pd.DataFrame:
    """One row per family: the tuning seeds' pooled SD of the paired differences (``families``:
    family -> comparison -> differences), the family's size m (``sizes``: its comparisons in the
    main design) and the seeds each test needs and the design needs (the larger)."""
    rows = []
    for name, diffs in families.items():
        sd, df = pooled_sd(diffs)
        m = sizes[name]
        rows.append(
            {
                "family": name,
                "tuning comparisons": len(diffs),
                "sd of paired differences": sd,
                "df": df,
                "comparisons (m)": m,
                "seeds for equivalence": seeds_needed(sd, margin, m, alpha, power, ("equivalence",)),
                "seeds for 2× margin": seeds_needed(sd, margin, m, alpha, power, ("difference",)),
                "seeds needed": seeds_needed(sd, margin, m, alpha, power),
            }
        )
    return pd.DataFrame(rows)
