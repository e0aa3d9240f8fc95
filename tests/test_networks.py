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
