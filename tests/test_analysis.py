import pandas as pd
import pytest
import torch
from torch import nn

from pnlib.report import analysis


def test_compare_pairs_each_seed_with_its_own_trajectory_one():
    rows = []
    for seed, (t1, sel) in enumerate([(0.5, 0.6), (0.7, 0.75), (0.6, 0.7)]):
        for method, selection, acc in (("trajectory 1", "", t1), ("persistent", "selected", sel)):
            rows.append(
                {
                    "dataset": "d",
                    "model": "m",
                    "init": "i",
                    "mode": "full",
                    "method": method,
                    "selection": selection,
                    "seed": seed,
                    "epochs": 3,
                    "status": "ok",
                    "diverged": 0,
                    "test_acc": acc,
                }
            )
    t = analysis.compare(pd.DataFrame(rows)).set_index("method")
    assert t.loc["persistent", "diff_vs_traj1"] == pytest.approx((0.1 + 0.05 + 0.1) / 3)
    assert (
        t.loc["persistent", "diff_ci_low"]
        < t.loc["persistent", "diff_vs_traj1"]
        < t.loc["persistent", "diff_ci_high"]
    )
    assert t.loc["trajectory 1", "diff_vs_traj1"] == 0.0
    shown = analysis.readable(t.reset_index(), ["dataset", "mode"])
    assert shown.iloc[1, -1].startswith("+0.0833 [")


def test_interpolation_ends_at_the_two_solutions():
    torch.manual_seed(0)
    net = nn.Linear(3, 2)
    a = {k: v.clone() for k, v in net.state_dict().items()}
    b = {k: v + 1.0 for k, v in a.items()}
    X, y = torch.randn(20, 3), torch.randint(0, 2, (20,))
    curve = analysis.interpolate(net, a, b, X, y, num=5)
    net.load_state_dict(b)
    assert curve.alpha.tolist() == [0, 0.25, 0.5, 0.75, 1.0]
    assert curve.loss.iloc[-1] == pytest.approx(nn.functional.cross_entropy(net(X), y).item())
    assert analysis.distance_matrix({"a": a, "b": b}).loc["a", "b"] == pytest.approx(8**0.5)


def test_saturation_counts_the_tails():
    net = nn.Sequential(nn.Linear(1, 1, bias=False), nn.Tanh())
    with torch.no_grad():
        net[0].weight.fill_(1.0)
    X = torch.tensor([[0.0], [0.5], [3.0], [-3.0]])
    assert analysis.saturation(net, X, ["1"]) == {"1": 0.5}


def test_a_family_declares_each_selection_against_each_baseline_in_order():
    from pnlib.report import claims

    fam = claims.family(
        "c",
        claims.side("default", "persistent", "full"),
        claims.equal_compute("default"),
        ("selected", "ensemble"),
        model="lenet5",
    )
    # like with like: the ensemble is not compared with the single models (trajectory 1, longer)
    assert len(fam) == 6 and [c["a"]["selection"] for c in fam] == ["selected"] * 4 + ["ensemble"] * 2
    singles = {c["b"]["method"]: c["b"] for c in fam[:4]}
    assert singles["trajectory 1"]["selection"] == singles["longer"]["selection"] == ""  # one row per seed
    assert [c["b"]["method"] for c in fam[4:]] == ["re-runs from θ₀", "restarts"]
    assert fam[5]["b"]["selection"] == "ensemble" and all(c["a"]["model"] == "lenet5" for c in fam)
    labels = claims.short_labels(
        fam
        + claims.family(
            "c", claims.side("poor", "persistent", "full"), [claims.side("poor", "random kick", "full")]
        )
    )
    assert labels.label.iloc[0] == "persistent − trajectory 1 (default init)"  # the claim spans two inits
    assert labels.label.iloc[-1] == "persistent − random kick (poor init)" and set(labels.selection) == {
        "selected",
        "ensemble",
    }


def test_report_names_untested_claims_and_handles_an_empty_family(capsys):
    from pnlib.report import claims

    found = claims.report(pd.DataFrame(columns=claims.VERDICT_COLUMNS), "header", {"alexnet": "at chance"})
    assert list(found.columns)[:2] == ["claim", "status"]  # the untested claim is a row of its own
    assert found[["claim", "status", "why", "better"]].values.tolist() == [
        ["alexnet", "not tested", "at chance", 0]
    ]
    assert "alexnet: NOT TESTED (at chance)" in capsys.readouterr().out


def test_interval_figures_are_the_same_in_every_run():
    """The interpolation and saturation figures draw t-intervals (the tables' intervals), not
    seaborn's bootstrap with a random seed: drawn twice, the pixels are equal."""
    import io

    import matplotlib.image as mpimg
    import matplotlib.pyplot as plt
    import numpy as np
    import pandas as pd

    from pnlib.report import plots
    from pnlib.report.stats import mean_ci

    rng = np.random.default_rng(0)
    curves = pd.DataFrame(
        [
            {"alpha": a, "loss": rng.normal(1 + a * (1 - a)), "run": r, "split": "val", "seed": s}
            for a in (0, 0.5, 1)
            for r in ("x", "y")
            for s in range(6)
        ]
    )
    sat = pd.DataFrame(
        [
            {"layer": f"act{i}", "saturated": rng.uniform(), "k": k, "mode": "full", "seed": s}
            for i in (1, 2)
            for k in (1, 2)
            for s in range(6)
        ]
    )
    assert plots.t_interval([1.0, 2.0, 4.0]) == mean_ci([1.0, 2.0, 4.0])[1:]

    def pixels(fig):
        buf = io.BytesIO()
        fig.savefig(buf, format="png")
        plt.close(fig)
        buf.seek(0)
        return mpimg.imread(buf)

    for draw in (
        lambda: plots.interpolation_curves(curves, "split", "t", hue="run"),
        lambda: plots.saturation_bars(sat, "t"),
    ):
        np.testing.assert_array_equal(pixels(draw()), pixels(draw()))


def test_learning_curves_show_the_training_loss_from_epoch_1_and_validation_where_it_was_scored():
    import matplotlib.pyplot as plt

    from pnlib.report import plots

    hist = pd.DataFrame(
        [
            {"epoch": e, "k": k, "mode": "full", "seed": s, "train_loss": 2.0 / e + 0.1 * k,
             "val_acc": 0.5 + 0.01 * e if e % 4 == 0 else float("nan")}
            for e in range(1, 9)
            for k in (1, 2)
            for s in range(3)
        ]
    )  # fmt: skip
    fig = plots.learning_curves(hist, "mode", "t")
    top, bottom = fig.axes[0], fig.axes[1]
    first_x = lambda ax: min(line.get_xdata()[0] for line in ax.get_lines() if len(line.get_xdata()))  # noqa: E731
    assert (top.get_ylabel(), top.get_yscale(), first_x(top)) == ("training loss (log scale)", "log", 1)
    assert (bottom.get_ylabel(), first_x(bottom)) == ("validation accuracy", 4)
    plt.close(fig)


@pytest.mark.parametrize("level, drawn", [(2.2, True), (0.3, False)])
def test_interpolation_names_the_chance_loss_where_the_curves_come_near_it(level, drawn):

    import matplotlib.pyplot as plt

    from pnlib.report import plots

    curves = pd.DataFrame({"alpha": [0, 0.5, 1] * 2, "loss": [0.2, level, 0.2] * 2, "run": 0, "split": "val"})
    fig = plots.interpolation_curves(curves, "split", "t", classes=10)
    texts = [t.get_text() for t in fig.axes[0].texts]
    assert (texts == ["chance: ln 10 = 2.30"]) is drawn and (texts == []) is not drawn
    plt.close(fig)


def test_a_diverged_trajectory_does_not_set_the_colours_of_the_distance_heatmap():
    import matplotlib.pyplot as plt

    from pnlib.report import plots

    D = pd.DataFrame([[0, 5, 6, 502], [5, 0, 7, 500], [6, 7, 0, 501], [502, 500, 501, 0]], dtype=float)
    fig = plots.distances({"seed 0": D}, "t", fmt=".0f")
    mesh = fig.axes[0].collections[0]
    assert (mesh.norm.vmin, mesh.norm.vmax) == (0, 7)  # the diverged row left out of the colours
    assert "502" in [t.get_text() for t in fig.axes[0].texts]  # the numbers stay exact
    plt.close(fig)


def test_a_trajectory_that_barely_moved_keeps_the_full_colour_range():
    import matplotlib.pyplot as plt

    from pnlib.report import plots

    D = pd.DataFrame([[0, 0.2, 11.8, 15.4], [0.2, 0, 11.8, 15.4], [11.8, 11.8, 0, 21], [15.4, 15.4, 21, 0]])
    fig = plots.distances({"poor init": D}, "t")
    assert fig.axes[0].collections[0].norm.vmax == 21
    plt.close(fig)
