"""Notebook 04's design (``pnlib.experiments.networks``): its declared families and what it costs,
counted by hand from the smoke profile's preset."""

from pnlib.base import labels
from pnlib.experiments import networks
from pnlib.experiments.executors import Engine
from pnlib.experiments.profiles import config_for

CFG = config_for("04_alexnet_resnet", {"profile": "smoke"}, verbose=False)  # K 2, 2 tuning seeds, 2 rates


def test_the_cost_of_the_design_counts_every_stage():
    table = networks.cost(CFG, {"alexnet": 1, "resnet8": 2}, n_key=3).set_index(["model", "stage"])
    alex = table.loc["AlexNet ×0.25 (MLP 128)"].epochs.to_dict()
    assert alex == {
        "learning-rate pilot": 2 * 2 * 2 * 2,  # rates × tuning seeds × (trajectory 1, one penalised) × E0
        "length pilot": 2 * 4,  # tuning seeds × the candidate after the first (4 epochs)
        "power runs": 2
        * 5
        * 1,  # tuning seeds × (persistent, re-runs, restarts, kick, anchors) × (K − 1) × E
        "key cells (3 seeds)": 3 * (1 + 5) * 1,
        "other cells (2 seeds)": 2 * (2 + 1 + 1) * 1,  # longer K·E, snapshot and partial (K − 1)·E each
    }
    assert table.loc["ResNet-8 ×0.5"].epochs["key cells (3 seeds)"] == 3 * 6 * 2
    minutes = networks.projected_minutes(
        table.reset_index(), {"AlexNet ×0.25 (MLP 128)": 60.0}, Engine(workers=2)
    )
    assert minutes.minutes.iloc[0] == 16 / 2  # 16 epochs of a minute on 2 workers


def test_each_network_declares_its_families_like_with_like():
    fam = networks.family(CFG, "resnet8")
    claims = {c["claim"] for c in fam}
    assert claims == {f"ResNet-8 ×0.5: {c}" for c in networks.CLAIMS}
    assert all(c["a"]["model"] == c["b"]["model"] == "resnet8" for c in fam)
    ensembles = [c for c in fam if c["a"].get("selection") == "ensemble"]
    assert ensembles and all(c["b"]["method"] not in labels.SINGLE_ROW for c in ensembles)
    # trajectory 1, re-runs, restarts, longer, snapshot (selected) + re-runs, restarts, snapshot (ensemble);
    # the kick and random anchors (both); the partial mode (selected)
    assert len(fam) == 8 + 2 + 2 + 1
    modes = networks.modes(CFG, networks.cell(CFG, "alexnet", device="cpu", lr=0.1, num_epochs=1))
    assert set(modes) == {labels.RE_RUNS, "full", "partial: classifier"}


def pilot_of(at_E: dict, converged: dict):
    import pandas as pd

    from pnlib.experiments.pilots import EpochPilot

    longest = max(CFG.pilot_epochs)
    table = pd.DataFrame(
        [
            {
                "model": m,
                "E": e,
                "val_acc": a + (0.01 if e == longest else 0),
                "gain_from_doubling": 0.02,
                "chosen": e == 2,
            }
            for m, a in at_E.items()
            for e in CFG.pilot_epochs
        ]
    )
    return EpochPilot(
        E={m: 2 for m in at_E},
        converged=converged,
        learns={m: a > 0.15 for m, a in at_E.items()},
        table=table,
        runs=pd.DataFrame(),
    )


def test_the_projection_is_at_E_where_converged_and_at_the_longest_length_where_not():
    pilot = pilot_of({"alexnet": 0.9, "resnet8": 0.9}, {"alexnet": True, "resnet8": False})
    per_epoch = {networks.name(CFG, m): 60.0 for m in CFG.models}
    got = networks.projection(CFG, pilot, per_epoch, Engine(workers=1))
    cost = networks.cost(CFG, {"alexnet": 2, "resnet8": 4}, CFG.max_seeds).groupby("model").epochs.sum()
    assert got == {"alexnet": (2, cost["AlexNet ×0.25 (MLP 128)"]), "resnet8": (4, cost["ResNet-8 ×0.5"])}


def test_the_budget_goes_only_to_testable_networks_that_fit_in_order():
    import dataclasses

    cfg = dataclasses.replace(CFG, budget_minutes=60)
    fits = {"alexnet": (2, 50.0), "resnet8": (2, 20.0)}
    testable = pilot_of({"alexnet": 0.9, "resnet8": 0.9}, {"alexnet": True, "resnet8": True})
    # both testable: the first fits (50 min), the second would take the total over 60
    plan = networks.plan(cfg, testable, 0.85, fits)
    assert plan["alexnet"] is None and "over what is left" in plan["resnet8"]
    # a network that is not trained, or not converged, gets none of the budget: the next one fits
    plan = networks.plan(
        cfg, pilot_of({"alexnet": 0.7, "resnet8": 0.9}, {"alexnet": True, "resnet8": True}), 0.85, fits
    )
    assert "not trained: validation accuracy 0.700 at E = 2, 0.710 at 4 epochs" in plan["alexnet"]
    assert plan["resnet8"] is None
    plan = networks.plan(
        cfg, pilot_of({"alexnet": 0.9, "resnet8": 0.9}, {"alexnet": False, "resnet8": True}), 0.85, fits
    )
    assert "not converged: doubling 2 to 4 epochs still gains 0.020" in plan["alexnet"]
    assert "at least 50 min" in plan["alexnet"] and plan["resnet8"] is None
    # no budget (0): every network that learns runs, and its preconditions label its claims
    plan = networks.plan(
        dataclasses.replace(CFG, budget_minutes=0),
        pilot_of({"alexnet": 0.1, "resnet8": 0.7}, {"alexnet": False, "resnet8": False}),
        0.85,
        {"alexnet": (4, 500.0), "resnet8": (4, 500.0)},
    )
    assert "at chance" in plan["alexnet"] and plan["resnet8"] is None
    row = (
        networks.design_table(
            cfg,
            testable,
            0.85,
            {networks.name(CFG, m): 2.0 for m in CFG.models},
            fits,
            {"alexnet": None, "resnet8": "over"},
        )
        .set_index("network")
        .loc["ResNet-8 ×0.5"]
    )
    assert (row.E, row.val_acc_longest, row.trained, row.converged, row.E_needed, row.projected_minutes) == (
        2,
        0.91,
        True,
        True,
        2,
        20.0,
    )
    assert (row.ran, row.why_not) == (False, "over")


def test_notebook_03_declares_each_claim_like_with_like_and_the_tuned_claim_only_when_tuning_moved():
    from pnlib.experiments import lenet_design

    cfg = config_for("03_lenet", {"profile": "smoke"}, verbose=False)
    fam = lenet_design.family(cfg, tuned=False)
    claims = list(dict.fromkeys(c["claim"] for c in fam))
    assert len(claims) == 8 and all(c["a"]["method"] == "persistent" for c in fam)
    assert {c["a"]["init"] for c in fam if c["claim"].startswith("poor")} == {cfg.poor_init}
    ensembles = [c for c in fam if c["a"].get("selection") == "ensemble"]
    assert ensembles and all(c["b"]["method"] not in labels.SINGLE_ROW for c in ensembles)
    tuned = lenet_design.family(cfg, tuned=True)
    assert len({c["claim"] for c in tuned}) == 9 and tuned[: len(fam)] == fam
