"""The controls and the verdict rules of issue #19: random anchors (geometry and run), the per-layer
kick, the standard repulsive ensemble (KDE update, median heuristic), divergence counting, the
``identical`` verdict, the constant-difference fix of ``paired_t`` and the precondition labels."""

import math

import numpy as np
import pandas as pd
import pytest
import torch
from cells import cfg
from torch import nn

from pnlib.experiments.experiment import Experiment
from pnlib.method import kicks, repulsion
from pnlib.method.persistence import PenaltyConfig, PersistentPenalty
from pnlib.report import claims, selection, stats


def net():
    torch.manual_seed(0)
    return nn.Sequential(nn.Conv2d(2, 3, 3), nn.Tanh(), nn.Flatten(), nn.Linear(12, 4)).double()


# -- random anchors -------------------------------------------------------------------------------
@pytest.mark.parametrize("granularity", ["neuron", "layer", "model"])
def test_random_anchor_keeps_every_groups_distance_from_theta0_and_forgets_the_direction(granularity):
    m = net()
    config = PenaltyConfig(granularity=granularity)
    theta0 = {k: v.clone() for k, v in m.state_dict().items()}
    anchor = {k: v + 0.5 * torch.randn_like(v) for k, v in theta0.items()}
    moved = kicks.random_anchor(m, config, theta0, anchor, seed=3)
    torch.testing.assert_close(
        kicks.group_norms(m, config, moved, theta0), kicks.group_norms(m, config, anchor, theta0)
    )
    # the direction does not depend on the anchor's: two anchors in opposite directions at the same
    # distances give the same random anchor for the same seed
    opposite = {k: 2 * theta0[k] - anchor[k] for k in theta0}
    again = kicks.random_anchor(m, config, theta0, opposite, seed=3)
    for k in moved:
        torch.testing.assert_close(again[k], moved[k])
    # and it is not the anchor: its directions are (almost surely) far from the anchor's
    pen = PersistentPenalty(m, PenaltyConfig(granularity="model"), theta0=theta0)
    d = lambda s: torch.cat([(s[k] - theta0[k]).reshape(-1) for k in pen.param_names])  # noqa: E731
    cos = torch.nn.functional.cosine_similarity(d(moved), d(anchor), dim=0)
    assert abs(float(cos)) < 0.5
    other = kicks.random_anchor(m, config, theta0, anchor, seed=4)
    assert not torch.equal(other["3.weight"], moved["3.weight"])


def test_random_anchor_run_shares_trajectory_one_and_keeps_the_travel_bandwidth(tiny_data, tmp_path):
    exp = Experiment(tmp_path, tiny_data, progress=False)
    c = cfg()
    pers, rand = exp.run("persistent", c, 0), exp.run("anchors", c, 0)
    assert rand.method.tolist() == ["trajectory 1", "random anchors", "random anchors"]
    assert rand.iloc[0].test_acc == pers.iloc[0].test_acc  # the shared trajectory 1, read back, not retrained
    tp, tr = exp.trajectories("persistent", c, 0), exp.trajectories("anchors", c, 0)
    assert tp.key[0] == tr.key[0] and (tp.key[1:] != tr.key[1:]).all()
    stored = torch.load(exp.folder(tr.key[1]) / "anchors.pt")
    pen = PersistentPenalty(exp.model(c), c.penalty)
    pen.load_state_dict(stored)
    theta0, a1 = exp.theta0(c, 0), exp.solution(tr.key[0])
    anchor = {k: v[0] for k, v in pen.anchors.items()}
    torch.testing.assert_close(
        kicks.group_norms(exp.model(c), c.penalty, {**theta0, **anchor}, theta0),
        kicks.group_norms(exp.model(c), c.penalty, a1, theta0),
    )
    assert not torch.allclose(
        anchor["net.0.weight"] if "net.0.weight" in anchor else next(iter(anchor.values())),
        a1["net.0.weight"] if "net.0.weight" in a1 else a1[next(iter(anchor))],
    )
    with pytest.raises(ValueError, match="random-anchor"):
        exp.run("anchors", cfg(penalty=None), 0)


def test_per_layer_kick_has_one_norm_per_layer(tiny_data, tmp_path):
    exp = Experiment(tmp_path, tiny_data, progress=False)
    c = cfg()
    rows = exp.run("kick_layer", c, 0)
    assert rows.method.tolist() == ["random kick (per layer)"] * 2 and (rows.status == "ok").all()
    exp.run("kick", c, 0)
    assert exp.trajectories("kick_layer", c, 0).key[1] != exp.trajectories("kick", c, 0).key[1]


# -- the standard repulsive ensemble ------------------------------------------------------------
def test_median_heuristic_on_constructed_distances():
    # three members on a line at 0, 3 and 7: pairwise distances 3, 4, 7; median 4; h = 16 / log 3
    W = torch.tensor([[0.0, 0.0], [3.0, 0.0], [7.0, 0.0]], dtype=torch.float64)
    assert float(repulsion.median_bandwidth(W)) == pytest.approx(16 / math.log(3))
    # four members: six distances 1, 2, 3, 1, 2, 1 -> sorted 1 1 1 2 2 3, median (1 + 2)/2
    W4 = torch.tensor([[0.0], [1.0], [2.0], [3.0]], dtype=torch.float64)
    assert float(repulsion.median_bandwidth(W4)) == pytest.approx(1.5**2 / math.log(4))
    with pytest.raises(ValueError, match="K ≥ 2"):
        repulsion.median_bandwidth(W[:1])


def test_kde_repulsion_fused_equals_autograd_and_pushes_members_apart():
    torch.manual_seed(0)
    W = torch.randn(4, 50, dtype=torch.float64)
    fused, k = repulsion.kde_gradient(W, n_train=1000)
    torch.testing.assert_close(fused, repulsion.kde_gradient_autograd(W, n_train=1000))
    assert torch.allclose(k.diagonal(), torch.ones(4, dtype=torch.float64))
    # a descent step along −grad moves every member away from the ensemble's mean
    stepped = W - 100.0 * fused
    assert ((stepped - W.mean(0)).norm(dim=1) > (W - W.mean(0)).norm(dim=1)).all()


def test_standard_repulsive_ensemble_starts_from_the_restarts_inits(tiny_data, tmp_path):
    exp = Experiment(tmp_path, tiny_data, progress=False)
    plain = cfg(penalty=None)
    rows = exp.run("repulsive", plain, 0)
    assert rows.method.tolist() == ["repulsive ensemble"] * 2 and (rows.status == "ok").all()
    hist = exp.history(exp.trajectories("repulsive", plain, 0).key[0])
    assert "kernel_mass" in hist and hist.kernel_mass.between(0, 2).all()
    # with the repulsion, every pair of members ends farther apart than the restarts that start where
    # they do, with the same batch orders: the repulsion is the only difference
    exp.run("restarts", plain, 0)

    def spread(method):
        s = [
            torch.cat([v.reshape(-1) for v in exp.solution(k).values()])
            for k in exp.trajectories(method, plain, 0).key
        ]
        return torch.stack([(s[i] - s[j]).norm() for i in range(len(s)) for j in range(i + 1, len(s))])

    assert (spread("repulsive") > spread("restarts")).all()


# -- verdicts: identical, constant differences, divergence, preconditions ------------------------
def test_paired_t_constant_difference_uses_the_exact_sign_test():
    est, p, interval, n, tost = stats.paired_t([0.6] * 5, [0.5] * 5)
    assert est == pytest.approx(0.1) and p == pytest.approx(2 * 0.5**5) and n == 5
    assert tost(0.2) == pytest.approx(0.5**5) and tost(0.05) == 1.0
    assert stats.paired_t([0.5] * 3, [0.5] * 3)[1] == 1.0
    # with two seeds a constant difference is no longer "proof": p = 0.5
    assert stats.paired_t([0.6, 0.7], [0.5, 0.6])[1] == pytest.approx(0.5)


def summary_rows(values: dict, diverged: dict | None = None, selected_k: dict | None = None):
    rows = []
    for method, vals in values.items():
        for seed, v in enumerate(vals):
            rows.append(
                {
                    "init": "default",
                    "method": method,
                    "mode": "full" if method == "persistent" else "",
                    "selection": "" if method in ("trajectory 1", "longer") else "selected",
                    "seed": seed,
                    "test_acc": v,
                    "status": "ok" if np.isfinite(v) else "diverged",
                    "diverged": (diverged or {}).get(method, [0] * len(vals))[seed],
                    "selected_k": (selected_k or {}).get(method, [np.nan] * len(vals))[seed],
                }
            )
    return pd.DataFrame(rows)


def test_identical_sides_are_identical_not_equivalent_and_leave_the_holm_family():
    s = summary_rows(
        {"trajectory 1": [0.5, 0.6, 0.7], "persistent": [0.5, 0.6, 0.7], "longer": [0.52, 0.61, 0.74]},
        selected_k={"persistent": [1, 1, 1]},
    )
    fam = claims.family(
        "c",
        claims.side("default", "persistent", "full"),
        [claims.side("default", "trajectory 1"), claims.side("default", "longer")],
    )
    v = claims.verdict_table(s, fam, margin=0.005)
    assert v.verdict.tolist()[0] == "identical"
    assert "selection chose trajectory 1 on both sides in 3 of 3 seeds" in v.note[0]
    assert np.isnan(v.p_holm[0]) and v.p_holm[1] == pytest.approx(v.p[1])  # a family of one, not two


def test_a_run_with_one_surviving_trajectory_counts_its_diverged_ones_and_is_not_tested():
    s = summary_rows(
        {"trajectory 1": [0.5, 0.6, 0.7], "persistent": [0.6, 0.7, 0.8], "longer": [0.5, 0.6, 0.7]},
        diverged={"persistent": [2, 0, 1]},
    )
    fam = claims.family("c", claims.side("default", "persistent", "full"), [claims.side("default", "longer")])
    v = claims.verdict_table(s, fam, margin=0.005)
    assert v.diverged_a[0] == 3 and v.diverged_b[0] == 0 and "side a lost 3 trajectories" in v.note[0]
    found = claims.conclusions(v, converged=True)
    assert found.status[0] == "not tested" and "3 trajectories to divergence" in found.why[0]
    from pnlib.report.analysis import compare

    table = compare(s.assign(dataset="d", model="m", epochs=1, K=3))
    assert int(table[table.method == "persistent"].diverged.iloc[0]) == 3


def test_precondition_labels():
    s = summary_rows({"trajectory 1": [0.5, 0.6, 0.7, 0.5], "persistent": [0.6, 0.71, 0.8, 0.62]})
    fam = claims.family(
        "c", claims.side("default", "persistent", "full"), [claims.side("default", "trajectory 1")]
    )
    v = claims.verdict_table(s, fam, margin=0.005)
    assert claims.conclusions(v, converged=None).why[0] == "no pilot was run for the trajectory length"
    assert claims.conclusions(v, converged=False).status[0] == "not tested"
    # persistent − trajectory 1 is +0.1075 on all 4 seeds (Holm p = 0.0002): better, so supported
    assert claims.conclusions(v, converged={"c": True}).status[0] == "supported"
    # another failed precondition, in words, is the reason
    untrained = claims.conclusions(v, converged={"c": "trajectory 1 is not trained (0.80 < 0.85)"})
    assert (
        untrained.status[0] == "not tested"
        and untrained.why[0] == "trajectory 1 is not trained (0.80 < 0.85)"
    )


def test_a_claim_whose_baselines_all_give_the_same_numbers_says_it_repeats_one_comparison():
    s = summary_rows({"trajectory 1": [0.1] * 4, "persistent": [0.5, 0.6, 0.7, 0.55], "longer": [0.1] * 4})
    fam = claims.family(
        "c",
        claims.side("default", "persistent", "full"),
        [claims.side("default", "trajectory 1"), claims.side("default", "longer")],
    )
    v = claims.verdict_table(s, fam, margin=0.005)
    assert v.repeats.tolist() == ["", v.comparison[0]]
    assert claims.conclusions(v, converged=True).distinct[0] == 1


def test_sensitivity_chooses_on_the_ensemble_and_reports_ties():
    from pnlib.method.persistence import PenaltyConfig as P

    settings = {"a": P(strength=0.01), "b": P(strength=0.1), "c": P(strength=1.0)}
    rows = []
    for label, ens in zip(settings, (0.80, 0.82, 0.82)):
        for seed in (1000, 1001, 1002):
            rows += [
                {
                    "mode": label,
                    "method": "persistent",
                    "selection": "selected",
                    "val_acc": 0.79,
                    "selected_k": 1,
                    "seed": seed,
                    "status": "ok",
                    "diverged": 0,
                },
                {
                    "mode": label,
                    "method": "persistent",
                    "selection": "ensemble",
                    "val_acc": ens,
                    "seed": seed,
                    "status": "ok",
                    "diverged": 0,
                },
            ]
    best, table = selection.sensitivity(pd.DataFrame(rows), settings)
    assert (
        best == "b"
        and table.tied.tolist() == [False, True, True]
        and table.chosen.tolist() == [False, True, False]
    )
    assert table["selected trajectory 1"].tolist() == [3, 3, 3]
    # a setting that diverged on a tuning seed is never chosen
    rows[-1]["diverged"] = rows[-2]["diverged"] = 1
    rows[8]["val_acc"] = rows[10]["val_acc"] = 0.9
    best, table = selection.sensitivity(pd.DataFrame(rows), settings)
    assert best == "b" and not table.set_index("setting").tied["c"]


def test_the_family_builder_compares_ensembles_only_with_ensembles():
    fam = claims.family(
        "c",
        claims.side("default", "persistent", "full"),
        [claims.side("default", "trajectory 1"), claims.side("default", "restarts")],
        ("selected", "ensemble"),
    )
    pairs = [(c["a"].get("selection"), c["b"]["method"], c["b"].get("selection")) for c in fam]
    assert pairs == [
        ("selected", "trajectory 1", ""),
        ("selected", "restarts", "selected"),
        ("ensemble", "restarts", "ensemble"),
    ]
    unlike = [{"claim": "c", "a": {**fam[2]["a"]}, "b": fam[0]["b"]}]
    with pytest.raises(ValueError, match="compares an ensemble with a single model"):
        claims.like_with_like(unlike)


def test_a_claim_is_labelled_per_setting():
    s = summary_rows({"trajectory 1": [0.5, 0.6, 0.7, 0.5], "persistent": [0.6, 0.71, 0.8, 0.62]})
    fam = [
        *claims.family(
            "c",
            claims.side("default", "persistent", "full"),
            [claims.side("default", "trajectory 1")],
            setting="A",
        ),
        *claims.family(
            "c",
            claims.side("default", "persistent", "full"),
            [claims.side("default", "trajectory 1")],
            setting="B",
        ),
    ]
    v = claims.verdict_table(s, fam, margin=0.005)
    assert v.repeats.tolist() == ["", v.comparison[0]]  # the same numbers: counted once
    assert (v.ci_low[1], v.p_holm[1], v.verdict[1]) == (v.ci_low[0], v.p_holm[0], v.verdict[0])
    found = claims.conclusions(v, converged={"A": True, "B": False}).set_index("setting")
    assert found.status.to_dict() == {"A": "supported", "B": "not tested"}
    assert "did not converge" in found.why["B"]


def test_claims_without_a_budget_are_labelled_beside_claims_with_one():
    s = summary_rows({"trajectory 1": [0.5, 0.6, 0.7, 0.5], "persistent": [0.6, 0.71, 0.8, 0.62]})
    side = claims.side("default", "persistent", "full"), [claims.side("default", "trajectory 1")]
    v = claims.verdict_table(s, claims.family("axis", *side, setting="A"), margin=0.005).assign(budget="3×2")
    v = pd.concat([v, claims.verdict_table(s, claims.family("plain", *side, setting="k=6"), margin=0.005)])
    found = claims.conclusions(v[v.claim == "plain"], converged={"k=6": True})
    assert found.claim.tolist() == ["plain"] and found.status.tolist() == ["supported"]
    assert len(claims.conclusions(v, converged=True)) == 2
