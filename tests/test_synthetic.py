import math

import numpy as np
import pandas as pd
import pytest
import torch

from pnlib.method.persistence import PenaltyConfig
from pnlib.report.stats import mean_ci, wilson
from pnlib.synthetic import studies
from pnlib.synthetic.engine import autograd_objective, persistent_descent
from pnlib.synthetic.problems import (
    kink_data,
    kink_dim,
    kink_forward,
    kink_groups,
    kink_init,
    kink_objective,
    neuron_groups,
    teacher_student_init,
    teacher_student_objective,
    toy_minima,
    toy_surface,
)


def test_teacher_student_closed_form_gradient_matches_finite_differences():
    obj = teacher_student_objective(5, 5)
    W = teacher_student_init(3, 5, 5, seed=0)
    _, g = obj(W)
    h = 1e-6
    for i in range(0, 25, 4):
        e = torch.zeros_like(W)
        e[:, i] = h
        fd = (obj(W + e)[0] - obj(W - e)[0]) / (2 * h)
        torch.testing.assert_close(fd, g[:, i], atol=1e-8, rtol=1e-6)
    assert obj(torch.eye(5, dtype=torch.float64).view(1, -1))[0].item() == pytest.approx(0.0, abs=1e-14)


@pytest.mark.parametrize("k, d, dtype", [(6, 6, torch.float64), (4, 7, torch.float64), (5, 5, torch.float32)])
def test_the_identity_teacher_gives_the_general_teachers_numbers_to_the_bit(k, d, dtype):
    """V = None reads the products with V = I off W; passing torch.eye multiplies them: the same
    loss and gradient, bit for bit (02's results do not move with the shortcut)."""
    W = teacher_student_init(64, k, d, seed=4).to(dtype)
    W[0] = 0.0  # a run with every neuron dead, and one with neuron 0 dead
    W[1, :d] = 0.0
    fast = teacher_student_objective(k, d)(W)
    general = teacher_student_objective(k, d, V=torch.eye(k, d, dtype=torch.float64))(W)
    assert all(torch.equal(a, b) and a.isfinite().all() for a, b in zip(fast, general))
    with pytest.raises(ValueError, match="k ≤ d"):
        teacher_student_objective(5, 3)


def test_teacher_student_closed_form_matches_monte_carlo():
    k, d = 4, 4
    W = teacher_student_init(1, k, d, seed=1).view(k, d)
    x = torch.randn(400_000, d, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    mc = 0.5 * (torch.relu(x @ W.T).sum(1) - torch.relu(x).sum(1)).square().mean()
    exact = teacher_student_objective(k, d)(W.view(1, -1))[0].item()
    assert exact == pytest.approx(mc.item(), rel=0.02)


def test_batched_runs_equal_one_run_at_a_time():
    k = 6
    obj, groups = teacher_student_objective(k, k), neuron_groups(k, k)
    W0 = teacher_student_init(8, k, k, seed=2)
    pen = PenaltyConfig(strength=0.1, schedule="linear")
    kw = dict(
        K=2, steps=600, lr=0.1, penalty=pen, groups=groups, tol=1e-9, stop_below=1e-3, penalty_steps=200
    )
    batched = persistent_descent(obj, W0, **kw)
    for b in (0, 5):
        single = persistent_descent(obj, W0[b : b + 1], **kw)
        torch.testing.assert_close(single.theta[:, 0], batched.theta[:, b], atol=1e-12, rtol=1e-10)
        assert torch.equal(single.steps[:, 0], batched.steps[:, b])


def test_kink_net_matches_torch_linear_layers():
    widths = (3, 4)
    theta = kink_init(2, widths, seed=0, dtype=torch.float64)
    assert theta.shape == (2, kink_dim(widths)) and theta.abs().max() <= 1.0
    X, y, c = kink_data("shifted", n=16, dtype=torch.float64)
    assert c == 3.0 and X.min() == 2.0 and X.max() == 4.0
    net = torch.nn.Sequential(
        torch.nn.Linear(1, 3), torch.nn.ReLU(), torch.nn.Linear(3, 4), torch.nn.ReLU(), torch.nn.Linear(4, 1)
    ).double()
    torch.nn.utils.vector_to_parameters(theta[1], net.parameters())
    torch.testing.assert_close(kink_forward(theta, X, widths)[1], net(X.view(-1, 1)).squeeze(-1))
    assert kink_groups(widths).sizes == [3, 4, 1] and kink_groups(widths).numel == kink_dim(widths)
    loss, grad = kink_objective(X, y, widths)(theta)
    assert loss.shape == (2,) and grad.shape == theta.shape


def test_persistence_on_the_toy_surface_leaves_the_first_minimum():
    obj = autograd_objective(toy_surface)
    theta0 = torch.tensor([[-0.4, 0.5]], dtype=torch.float64)
    minima = toy_minima()
    plain = persistent_descent(obj, theta0, K=3, steps=800, lr=0.05)
    assert torch.equal(plain.theta[0], plain.theta[2])  # λ = 0: deterministic GD repeats itself
    pen = PenaltyConfig(strength=1.0, granularity="model", schedule="linear")
    tr = persistent_descent(obj, theta0, K=3, steps=800, lr=0.05, penalty=pen, penalty_steps=400)
    ends = (tr.theta[:, 0].unsqueeze(1) - minima).square().sum(-1).argmin(-1)
    assert len(set(ends.tolist())) == 3


def test_intervals():
    lo, hi = wilson(5, 10)
    assert lo == pytest.approx(0.2366, abs=1e-3) and hi == pytest.approx(0.7634, abs=1e-3)
    m, lo, hi = mean_ci([1.0, 2.0, 3.0])
    assert m == 2.0 and lo == pytest.approx(2 - 4.303 / math.sqrt(3), abs=1e-3)


def test_interval_without_spread_is_the_point():
    assert mean_ci([0.1, 0.1, 0.1]) == (0.1, 0.1, 0.1)


@pytest.mark.parametrize("kernel", ["gaussian", "inverse", "hinge"])
@pytest.mark.parametrize(
    "granularity, bandwidth",
    [("neuron", "travel"), ("layer", "travel"), ("model", "travel"), ("neuron", 0.8)],
)
def test_batched_penalty_gradient_equals_persistent_penalty(kernel, granularity, bandwidth):
    """The synthetic runs' penalty and PersistentPenalty.apply_ are one definition: the same
    gradient for the kink network written as flat parameters and as an nn.Module."""
    from torch import nn

    from pnlib.method.persistence import PersistentPenalty, groups_of
    from pnlib.synthetic.engine import group_sq, penalty_gradient

    widths = (4, 3)
    config = PenaltyConfig(kernel=kernel, granularity=granularity, strength=0.7, bandwidth=bandwidth)
    theta0, theta = (
        kink_init(1, widths, seed=0, dtype=torch.float64),
        kink_init(1, widths, seed=1, dtype=torch.float64),
    )
    anchors = torch.stack([kink_init(1, widths, seed=s, dtype=torch.float64) for s in (2, 3)])  # (J, 1, D)
    net = nn.Sequential(nn.Linear(1, 4), nn.ReLU(), nn.Linear(4, 3), nn.ReLU(), nn.Linear(3, 1)).double()
    groups = groups_of(net, config)  # the network's own geometry serves its flat parameters
    sigma2 = config.sigma2(group_sq(groups, theta0.unsqueeze(0) - anchors))
    batched = penalty_gradient(theta, anchors, sigma2, config, config.strength_at(0.3), groups)[0]

    def state(flat):
        torch.nn.utils.vector_to_parameters(flat[0].clone(), net.parameters())
        return {k: v.clone() for k, v in net.state_dict().items()}

    pen = PersistentPenalty(net, config, theta0=state(theta0))
    for a in anchors:
        pen.add_anchor(state(a))
    net.load_state_dict(state(theta))
    pen.apply_(0.3)
    module = torch.cat([p.grad.reshape(-1) for p in net.parameters()])
    torch.testing.assert_close(batched, module, atol=1e-12, rtol=1e-10)


def test_kick_starts_match_the_norm_of_every_group_with_a_random_direction():
    from pnlib.synthetic.engine import group_sq, kick_starts

    torch.manual_seed(0)
    k = 4
    groups = neuron_groups(k, k)
    theta0, a, b = (torch.randn(50, k * k, dtype=torch.float64) for _ in range(3))
    kicked = kick_starts(theta0, a, b, groups, seed=3)
    torch.testing.assert_close(group_sq(groups, kicked - theta0), group_sq(groups, a - b))
    assert not torch.allclose(kicked - theta0, a - b)
    assert not torch.allclose(kicked, kick_starts(theta0, a, b, groups, seed=4))
    one = kick_starts(theta0, a, b, None, seed=3)  # no groups: one norm per run
    torch.testing.assert_close((one - theta0).norm(dim=1), (a - b).norm(dim=1))


def test_random_kick_control_starts_from_the_early_displacement_of_persistence():
    from pnlib.synthetic.engine import run_methods
    from pnlib.synthetic.problems import toy_init
    from pnlib.synthetic.studies import toy_outcomes, toy_summary

    obj = autograd_objective(toy_surface)
    pen = PenaltyConfig(strength=1.0, granularity="model", schedule="linear")
    out = run_methods(
        obj,
        toy_init(40),
        seed=0,
        K=3,
        steps=400,
        penalty=pen,
        lr=0.05,
        penalty_steps=200,
        methods=("persistent", "random kick", "longer"),
    )
    per, kick = out["persistent"], out["random kick"]
    assert kick.theta.shape == per.theta.shape and torch.equal(
        kick.theta[0], per.theta[0]
    )  # trajectory 1 shared
    assert out["longer"].steps.max() <= 3 * 400 and len(out["longer"].theta) == 1
    table = toy_outcomes(out, toy_minima())
    assert len(table) == 3 * 40 and set(table.method) == {"persistent", "random kick", "longer"}
    s = toy_summary(table).set_index("method")
    assert (
        s.loc["longer", "distinct_minima"] == 1.0
        and s.loc["persistent", "found_deepest"] == table[table.method == "persistent"].found_deepest.mean()
    )


def test_random_anchors_share_persistences_trajectory_1_and_give_the_same_runs_alone():
    """Run beside persistence, the random-anchor control starts from persistence's trajectory 1
    instead of running it again; its trajectories are the same as when it runs alone."""
    from pnlib.synthetic.engine import run_methods

    k = 5
    kw = dict(
        seed=3, K=3, steps=300, penalty=PenaltyConfig(strength=0.1, schedule="linear"), lr=0.1,
        groups=neuron_groups(k, k), tol=1e-9, stop_below=1e-3, penalty_steps=100,
    )  # fmt: skip
    init = lambda s: teacher_student_init(16, k, k, seed=s)  # noqa: E731
    both = run_methods(teacher_student_objective(k, k), init, methods=("persistent", "random anchors"), **kw)
    alone = run_methods(teacher_student_objective(k, k), init, methods=("random anchors",), **kw)
    a, b = both["random anchors"], alone["random anchors"]
    for field in ("theta", "loss", "steps", "converged", "settled"):
        assert torch.equal(getattr(a, field), getattr(b, field)), field
    assert torch.equal(a.theta[0], both["persistent"].theta[0]) and not torch.equal(a.theta[1], a.theta[0])


def test_teacher_student_outcomes_count_capped_runs_as_a_third_outcome():
    from pnlib.synthetic.studies import teacher_student_grid

    short = teacher_student_grid(6, (0.1, 1.0), runs=40, seed=0, K=2, cap=60, penalty_steps=30)
    assert set(short.outcome) <= {"good", "bad", "capped"} and (short.outcome == "capped").any()
    # the rule: good iff the best loss is below 1e-3; otherwise capped iff a trajectory was still moving
    good = short.best_loss < 1e-3
    assert ((short.outcome == "good") == good).all()
    assert ((short.outcome == "capped") == (~good & short.capped)).all()
    assert ((short.outcome == "bad") == (~good & ~short.capped)).all()
    # baselines once, persistent once per λ
    assert short.groupby("method").size().to_dict() == {
        "trajectory 1": 40,
        "restarts": 40,
        "longer": 40,
        "persistent": 80,
    }
    assert short[short.method != "persistent"].strength.isna().all()
    long = teacher_student_grid(6, (0.1,), runs=40, seed=0, K=2, cap=20000, penalty_steps=30)
    assert (long.outcome != "capped").all()  # with room to settle, every run is decided


def test_paired_outcomes_drop_undecided_pairs():
    import pandas as pd

    from pnlib.report.stats import paired

    t = pd.DataFrame(
        {
            "method": ["a"] * 4 + ["b"] * 4,
            "run": [0, 1, 2, 3] * 2,
            "good": [1, 0, 1, 1, 0, 0, 1, 0],
            "undecided": [0, 0, 1, 0, 0, 1, 0, 0],
        }
    )
    p = paired(t, {"method": "a"}, {"method": "b"}, "good", undecided="undecided")
    assert p["a"].tolist() == [1, 1] and p["b"].tolist() == [0, 0]
    assert len(paired(t, {"method": "a"}, {"method": "b"}, "good")["a"]) == 4


def test_teacher_student_family_follows_the_table():
    """Every k and λ the table holds gets its three baseline comparisons; the random-anchor
    comparison appears only at the (k, λ) where the control was run."""
    rows = []
    for k in (6, 8):
        for run in range(4):
            for m, lam in [
                ("trajectory 1", None),
                ("restarts", None),
                ("longer", None),
                ("persistent", 0.1),
                ("persistent", 1.0),
            ] + ([("random anchors", 0.1)] if k == 8 else []):
                rows.append(
                    {
                        "k": k,
                        "run": run,
                        "method": m,
                        "strength": lam,
                        "steps": 10 + run,
                        "outcome": ["good", "bad", "capped", "good"][run],
                    }
                )
    runs, table = studies.teacher_student_rates(pd.DataFrame(rows))
    assert {"persistent λ=0.1", "persistent λ=1", "random anchors λ=0.1"} <= set(runs.method)
    assert table.runs.eq(4).all() and table.undecided.eq(1).all() and table["mean steps"].eq(11.5).all()
    family = studies.teacher_student_family(runs)
    anchors = [f["comparison"] for f in family if "random anchors" in f["comparison"]]
    assert len(family) == 2 * 2 * 3 + 1 and anchors == ["persistent − random anchors, λ=0.1 (k=8)"]
    assert all(len(f["a"]) == 3 for f in family)  # the capped pair is left out


def test_teacher_student_jobs_on_two_one_thread_workers_give_the_grid_to_the_bit():
    """One job per λ, run in two spawned processes of one thread each, concatenates to the table of
    the single in-process call with this process's threads (what notebook 02 caches)."""
    from pnlib.experiments import executors

    grid = dict(runs=40, seed=0, K=2, cap=300, penalty_steps=30, random_anchors=True)
    whole = studies.teacher_student_grid(8, (0.1, 1.0), **grid)
    jobs = studies.teacher_student_jobs(8, (0.1, 1.0), **grid)
    assert [j[1]["baselines"] for j in jobs] == [True, False]
    split = pd.concat(executors.starmap(jobs, workers=2), ignore_index=True)

    def drop(t):
        return t.drop(columns="seconds")

    pd.testing.assert_frame_equal(drop(split), drop(whole))


def test_the_kink_compute_axis_reads_one_plain_run_as_pilot_longer_and_restart_one():
    import pandas as pd

    from pnlib.base import labels
    from pnlib.synthetic import kink

    plain = kink.plain_job("shifted", 3, runs=6, seed=0, K=2, base=40, doublings=2, lengths=(40,), lr=0.01)
    at = plain.set_index(["method", "length"]).best_loss
    # the longer run of K × 40 steps is trajectory 1's run read at 80 steps
    np.testing.assert_array_equal(at[("longer", 40)].to_numpy(), at[(labels.TRAJECTORY_1, 80)].to_numpy())
    assert (at[("restarts", 40)].to_numpy() <= at[(labels.TRAJECTORY_1, 40)].to_numpy()).all()
    end = plain[(plain.method == labels.TRAJECTORY_1) & (plain.length == 160)]
    assert end.grad_norm.notna().all() and end.min_hessian_eig.notna().all()
    pen = kink.penalised_job(
        "shifted", 3, runs=6, seed=0, K=2, length=40, lr=0.01, penalty=PenaltyConfig(strength=0.01)
    )
    persistent = pen[pen.method == "persistent"].best_loss.to_numpy()
    assert (persistent <= at[(labels.TRAJECTORY_1, 40)].to_numpy()).all()  # best of K includes trajectory 1
    axis = pd.concat([plain, pen]).assign(success=lambda t: t.best_loss < 1e-3)
    assert len(kink.family(axis, 2, (40,))) == 5


def test_a_kink_jobs_cost_counts_its_runs_steps_and_width():
    from pnlib.synthetic import kink

    common = dict(distribution="shifted", runs=500, seed=0, K=3, lr=0.01)
    pilot = (kink.plain_job, dict(width=8, base=2000, doublings=4, lengths=(2000, 4000), **common))
    pen = (kink.penalised_job, dict(width=4, length=4000, penalty=PenaltyConfig(), **common))
    # θ₀'s run to 32,000 steps and two fresh runs to 4,000; 3 persistent + 2 kicked + 2 anchored of 4,000
    assert kink.job_cost(pilot) == 500 * (32000 + 2 * 4000) * 8
    assert kink.job_cost(pen) == 500 * 7 * 4000 * 4


def test_the_kink_pilot_chooses_the_first_length_whose_doubling_gains_less_than_the_margin():
    import pandas as pd

    from pnlib.base import labels
    from pnlib.synthetic import kink

    rates = {100: 0.2, 200: 0.5, 400: 0.51, 800: 0.9, 1600: 0.91}  # a plateau at 200-400, a late rise
    rows = [
        {"method": labels.TRAJECTORY_1, "distribution": "d", "width": 4, "length": n, "success": i < 100 * r}
        for n, r in rates.items()
        for i in range(100)
    ]
    t = kink.pilot_table(pd.DataFrame(rows), margin=0.02)
    assert t[t.chosen].length.tolist() == [800]  # not 200: the doubling from 400 still gains 0.39
    assert t.gain_from_doubling.round(2).tolist()[:4] == [0.3, 0.01, 0.39, 0.01]
    late = pd.DataFrame(rows).query("length < 1600")  # without the last point nothing converges
    assert not kink.pilot_table(late, margin=0.02).chosen.any()
