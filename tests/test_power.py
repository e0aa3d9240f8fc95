"""The power analysis against known cases: a closed-form check and a simulation of the verdict rule."""

import numpy as np
import pytest

from pnlib.report import power, stats


def test_large_samples_match_the_normal_approximation():
    # with many seeds the t quantiles are normal ones: n ≈ ((z_{1−α/m} + z_{0.9}) · sd / δ)²
    from scipy.stats import norm

    sd, margin, m = 0.01, 0.001, 3
    z = norm.ppf(1 - 0.05 / m) + norm.ppf(0.9)
    n = power.seeds_needed(sd, margin, m, tests=("equivalence",))
    assert n == pytest.approx((z * sd / margin) ** 2, rel=0.02)
    zd = norm.ppf(1 - 0.05 / m / 2) + norm.ppf(0.8)
    assert power.seeds_needed(sd, margin, m, tests=("difference",)) == pytest.approx(
        (zd * sd / (2 * margin)) ** 2, rel=0.03
    )


def test_more_comparisons_and_more_spread_need_more_seeds():
    base = power.seeds_needed(0.004, 0.005, 1)
    assert power.seeds_needed(0.004, 0.005, 10) > base
    assert power.seeds_needed(0.008, 0.005, 1) > base
    assert power.seeds_needed(0.0, 0.005, 1) == 2
    with pytest.raises(ValueError, match="margin > 0"):
        power.seeds_needed(0.004, 0.0)


def test_the_seed_count_gives_the_power_when_the_verdict_rule_is_simulated():
    # m = 3 comparisons of true difference 0, sd 0.004, margin 0.005: how often does the rule itself
    # (paired t, Holm, TOST) call every one equivalent, at the n the analysis asks for and one less?
    sd, margin, m = 0.004, 0.005, 3
    n = power.seeds_needed(sd, margin, m, tests=("equivalence",))
    rng = np.random.default_rng(0)

    def share_equivalent(n_seeds, reps=400):
        hits = 0
        for _ in range(reps):
            fam = [
                {
                    "claim": "c",
                    "comparison": f"c{i}",
                    "metric": "acc",
                    "a": rng.normal(0, sd, n_seeds),
                    "b": np.zeros(n_seeds),
                }
                for i in range(m)
            ]
            hits += (stats.verdicts(fam, margin).verdict == "equivalent").mean()
        return hits / reps

    assert share_equivalent(n) >= 0.78  # 80% by the analysis (Holm is a little less strict than α/m)
    assert share_equivalent(max(2, n - 3)) < share_equivalent(n)


def test_the_table_pools_centred_differences():
    diffs = {"a − b": np.array([0.01, 0.02, 0.03]), "a − c": np.array([-0.01, 0.0, 0.01])}
    sd, df = power.pooled_sd(diffs)
    assert (sd, df) == (
        pytest.approx(0.01),
        4,
    )  # each centred on its own mean: the true difference is not spread
    t = power.table({"claim": diffs}, {"claim": 2}, margin=0.005)
    assert t["seeds needed"].item() == power.seeds_needed(0.01, 0.005, 2)
    with pytest.raises(ValueError, match="two tuning seeds"):
        power.pooled_sd({"x": np.array([0.1])})


def test_each_group_runs_the_seeds_its_own_claims_need_within_the_budget():
    from pnlib.experiments.pilots import seeds_per_group

    needed = {"good: vs restarts": 9, "good: vs kick": 4, "poor: vs restarts": 22}
    group_of = {"good: vs restarts": "good", "good: vs kick": "good", "poor: vs restarts": "poor"}
    got = seeds_per_group(needed, group_of, ["good", "poor", "tanh"], design_seeds=6, max_seeds=16)
    # good: its most demanding claim (9); poor: capped by the budget; a group without claims: the design's
    assert got == {"good": 9, "poor": 16, "tanh": 6}
    assert seeds_per_group({"a": 2}, {"a": "g"}, ["g"], design_seeds=6, max_seeds=16) == {"g": 6}
    with pytest.raises(ValueError, match="raise max_seeds"):
        seeds_per_group(needed, group_of, ["good"], design_seeds=10, max_seeds=8)
