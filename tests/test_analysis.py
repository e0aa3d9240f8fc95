import pandas as pd
import pytest
import torch
from torch import nn

from pnlib import analysis


def test_compare_pairs_each_seed_with_its_own_trajectory_one():
    rows = []
    for seed, (t1, sel) in enumerate([(0.5, 0.6), (0.7, 0.75), (0.6, 0.7)]):
        for method, selection, acc in (("trajectory 1", "", t1), ("persistent", "selected", sel)):
            rows.append({"dataset": "d", "model": "m", "init": "i", "mode": "full", "method": method,
                         "selection": selection, "seed": seed, "epochs": 3, "status": "ok", "test_acc": acc})
    t = analysis.compare(pd.DataFrame(rows)).set_index("method")
    assert t.loc["persistent", "diff_vs_traj1"] == pytest.approx((0.1 + 0.05 + 0.1) / 3)
    assert t.loc["persistent", "diff_ci_low"] < t.loc["persistent", "diff_vs_traj1"] < t.loc["persistent", "diff_ci_high"]
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
    assert analysis.distance_matrix({"a": a, "b": b}).loc["a", "b"] == pytest.approx(8 ** 0.5)


def test_saturation_counts_the_tails():
    net = nn.Sequential(nn.Linear(1, 1, bias=False), nn.Tanh())
    with torch.no_grad():
        net[0].weight.fill_(1.0)
    X = torch.tensor([[0.0], [0.5], [3.0], [-3.0]])
    assert analysis.saturation(net, X, ["1"]) == {"1": 0.5}
