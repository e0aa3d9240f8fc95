"""The verdict rule on constructed data with known answers."""

import numpy as np
import pytest

from pnlib.report import stats


def test_holm_matches_the_hand_computed_step_down():
    np.testing.assert_allclose(stats.holm([0.01, 0.04, 0.03, 0.2]), [0.04, 0.09, 0.09, 0.2])
    np.testing.assert_allclose(stats.holm([0.5, 0.001]), [0.5, 0.002])
    assert stats.holm([0.9, 0.8, 0.7]).max() <= 1.0


def test_mcnemar_exact_p_on_known_tables():
    a = np.array([True] * 10 + [True] * 20 + [False] * 20)
    b = np.array([False] * 10 + [True] * 20 + [False] * 20)  # 10 discordant pairs, all for a
    est, p, interval, n, _ = stats.mcnemar(a, b)
    assert (est, n) == (10 / 50, 50) and p == pytest.approx(2 * 0.5**10)
    est, p, _, _, _ = stats.mcnemar(np.array([True] * 5 + [False] * 5), np.array([False] * 5 + [True] * 5))
    assert est == 0 and p == pytest.approx(1.0)


def test_paired_t_matches_scipy():
    from scipy import stats as st

    rng = np.random.default_rng(0)
    a, b = rng.normal(0.8, 0.01, 10), rng.normal(0.79, 0.01, 10)
    est, p, interval, n, _ = stats.paired_t(a, b)
    assert p == pytest.approx(st.ttest_rel(a, b).pvalue) and n == 10
    lo, hi = interval(0.95)
    assert lo < est < hi


def _cmp(name, diffs, kind="t"):
    base = np.full(len(diffs), 0.8)
    return {
        "claim": "c",
        "comparison": name,
        "metric": "test_acc",
        "a": base + np.asarray(diffs),
        "b": base,
        "kind": kind,
    }


def test_verdicts_better_worse_equivalent_inconclusive():
    rng = np.random.default_rng(1)
    family = [
        _cmp("clearly better", 0.02 + rng.normal(0, 0.002, 10)),
        _cmp("clearly worse", -0.02 + rng.normal(0, 0.002, 10)),
        _cmp("equivalent", 0.0005 + rng.normal(0, 0.0005, 10)),
        _cmp("noisy", rng.normal(0.003, 0.03, 10)),
    ]
    v = stats.verdicts(family, margin=0.005).set_index("comparison")
    assert v.verdict.to_dict() == {
        "clearly better": "better",
        "clearly worse": "worse",
        "equivalent": "equivalent",
        "noisy": "inconclusive",
    }
    assert (v.p_holm >= v.p).all() and list(v.columns[:9]) == [
        "claim",
        "metric",
        "n_seeds",
        "estimate",
        "ci_low",
        "ci_high",
        "ci_level",
        "p",
        "p_holm",
    ]
    assert v.loc["clearly better", "ci_low"] > 0 and v.loc["clearly worse", "ci_high"] < 0


def test_multiplicity_can_turn_a_single_win_inconclusive():
    z = np.linspace(-1, 1, 10)
    z = (z - z.mean()) / z.std(ddof=1)  # exactly mean 0, sd 1
    win = _cmp("borderline", 0.005 + 0.006 * z)  # t = 2.64 on 9 df: p = 0.027
    alone = stats.verdicts([win], margin=0.001)
    assert alone.p.item() == pytest.approx(0.027, abs=0.001) and alone.verdict.item() == "better"
    nulls = [_cmp(f"null {i}", 0.006 * np.roll(z, i)) for i in range(9)]  # estimate 0: p = 1
    together = stats.verdicts([win, *nulls], margin=0.001).set_index("comparison")
    assert together.loc["borderline", "p_holm"] == pytest.approx(10 * alone.p.item())
    assert together.loc["borderline", "verdict"] == "inconclusive"


def test_mcnemar_verdicts_on_success_rates():
    a = np.array([True] * 60 + [False] * 40)
    b = np.array([True] * 30 + [False] * 70)  # a wins 30 discordant pairs, loses none
    v = stats.verdicts(
        [
            {
                "claim": "k",
                "comparison": "persistent − restarts",
                "metric": "success",
                "a": a,
                "b": b,
                "kind": "mcnemar",
            }
        ],
        margin=0.02,
    )
    assert v.verdict.item() == "better" and v.estimate.item() == pytest.approx(0.3)


def test_equivalence_is_holm_adjusted_on_its_own_p_values():
    # one tight null comparison: equivalent alone; among many noisy ones still tested on its own TOST p
    tight = _cmp("tight", 0.0002 * np.linspace(-1, 1, 10))
    alone = stats.verdicts([tight], margin=0.005)
    assert alone.verdict.item() == "equivalent" and alone.p_equiv.item() < 1e-6
    noisy = [_cmp(f"noisy {i}", np.random.default_rng(i).normal(0, 0.03, 10)) for i in range(5)]
    v = stats.verdicts([tight, *noisy], margin=0.005).set_index("comparison")
    assert v.loc["tight", "verdict"] == "equivalent"
    assert v.loc["tight", "p_equiv"] <= v.loc["tight", "p_equiv_holm"] <= 6 * v.loc["tight", "p_equiv"]
    assert (v.drop("tight").verdict == "inconclusive").all()
    # a TOST p by hand: mean 0.001, sd such that se = 0.001, margin 0.005, 9 df
    z = np.linspace(-1, 1, 10)
    d = 0.001 + 0.001 * np.sqrt(10) * (z - z.mean()) / z.std(ddof=1)
    *_, tost = stats.paired_t(d, np.zeros(10))
    from scipy import stats as sst

    assert tost(0.005) == pytest.approx(max(sst.t.sf(6.0, 9), sst.t.cdf(-4.0, 9)), rel=1e-6)


def test_mcnemar_with_no_pair_names_the_problem():
    with pytest.raises(ValueError, match="no pair"):
        stats.mcnemar(np.array([], dtype=bool), np.array([], dtype=bool))


@pytest.mark.parametrize(
    "wins,losses,n", [(30, 0, 100), (12, 4, 500), (47, 30, 500), (5, 5, 50), (9, 2, 200)]
)
def test_the_mcnemar_interval_excludes_zero_exactly_when_the_exact_test_rejects(wins, losses, n):
    a = np.array([True] * wins + [False] * losses + [True] * (n - wins - losses))
    b = np.array([False] * wins + [True] * losses + [True] * (n - wins - losses))
    est, p, interval, _, _ = stats.mcnemar(a, b)
    for level in (0.95, 0.99, 0.995):
        lo, hi = interval(level)
        assert lo <= est <= hi
        assert (lo > 0 or hi < 0) == (p < 1 - level), (level, p, lo, hi)
