"""The baselines and the control of pnlib.experiments.baselines: snapshot ensembles, the random kick, the
repulsive ensemble; and the steps of notebook 03 that choose E and the penalty on validation."""

import math

import numpy as np
import pandas as pd
import pytest
import torch
from cells import PEN, TRAIN, cfg
from torch import nn

from pnlib.base.store import state_hash
from pnlib.experiments import baselines
from pnlib.experiments.experiment import Experiment
from pnlib.method import kicks
from pnlib.method.persistence import PenaltyConfig, PersistentPenalty
from pnlib.report import analysis, claims, selection
from pnlib.train.loop import TrainConfig, train


def test_snapshot_cycles_restart_the_cosine_and_start_where_the_last_ended(tiny_data, tmp_path):
    exp = Experiment(tmp_path, tiny_data, progress=False)
    rows = exp.run("snapshot", cfg(), seed=0)
    trajs = exp.trajectories("snapshot", cfg(), 0)
    assert rows.method.tolist() == ["snapshot (SGDR)"] * 2 and rows.selection.tolist() == [
        "selected",
        "ensemble",
    ]
    assert (rows.epochs == 3 * TRAIN.num_epochs).all()
    # cycle 1 is trajectory 1 itself (the same cached run), cycle k starts at the end of cycle k − 1
    persistent = exp.run("persistent", cfg(penalty=None), seed=0)
    assert trajs.key[0] == exp.trajectories("persistent", cfg(penalty=None), 0).key[0]
    assert trajs.start_hash[0] == state_hash(exp.theta0(cfg(), 0))
    for k in (1, 2):
        assert trajs.start_hash[k] == state_hash(exp.solution(trajs.key[k - 1]))
    # each cycle's learning rate restarts at its peak and anneals to 0 on a cosine
    for key in trajs.key:
        lr = exp.history(key).lr.to_numpy()
        assert np.allclose(lr, [TRAIN.lr * 0.5 * (1 + math.cos(math.pi * e / 2)) for e in (1, 2)])
    assert persistent.method.tolist()[1:] == ["re-runs from θ₀"] * 2


def test_kick_matches_the_norm_of_every_persistent_group_and_leaves_the_rest():
    torch.manual_seed(0)
    net = nn.Sequential(nn.Conv2d(2, 3, 3), nn.BatchNorm2d(3), nn.Flatten(), nn.Linear(12, 4)).double()
    theta0 = {k: v.clone() for k, v in net.state_dict().items()}
    a = {k: v + 0.3 * torch.randn_like(v) if v.is_floating_point() else v for k, v in theta0.items()}
    b = {k: v + 0.1 * torch.randn_like(v) if v.is_floating_point() else v for k, v in theta0.items()}
    for gran, n_groups in (("neuron", 3 + 4), ("layer", 2), ("model", 1)):
        config = PenaltyConfig(granularity=gran)
        kicked = kicks.matched_kick(net, config, theta0, a, b, seed=1)
        target = kicks.group_norms(net, config, a, b)
        assert len(target) == n_groups
        torch.testing.assert_close(kicks.group_norms(net, config, kicked, theta0), target)
        for name in ("1.weight", "1.bias", "1.running_mean"):  # BatchNorm is not persistent: no kick
            assert torch.equal(kicked[name], theta0[name])
        # a random direction: not the displacement a − b itself, and a new one for another seed
        other = kicks.matched_kick(net, config, theta0, a, b, seed=2)
        assert not torch.allclose(kicked["3.weight"], other["3.weight"])
        assert not torch.allclose(kicked["3.weight"] - theta0["3.weight"], a["3.weight"] - b["3.weight"])
    # partial: only the included modules move
    kicked = kicks.matched_kick(net, PenaltyConfig(include=("3",)), theta0, a, b, seed=1)
    assert torch.equal(kicked["0.weight"], theta0["0.weight"]) and not torch.equal(
        kicked["3.weight"], theta0["3.weight"]
    )


def test_kick_run_uses_the_early_displacement_of_persistence(tiny_data, tmp_path):
    exp = Experiment(tmp_path, tiny_data, progress=False)
    rows = exp.run("kick", cfg(), seed=0)
    assert rows.method.tolist() == ["random kick"] * 2
    pers, rerun = (exp.trajectories("persistent", c, 0) for c in (cfg(), cfg(penalty=None)))
    kick = exp.trajectories("kick", cfg(), 0)
    assert kick.key[0] == pers.key[0]  # trajectory 1 is shared
    early = {
        name: torch.load(tmp_path / "trajectories" / t.key[1] / "early.pt")
        for name, t in (("pers", pers), ("rerun", rerun))
    }
    model = exp.model(cfg())
    target = kicks.group_norms(model, PEN, early["pers"], early["rerun"])
    assert target.sum() > 0
    start = exp.theta0(cfg(), 0)
    # the kicked start of trajectory 2 is θ₀ + a perturbation with exactly those norms
    kicked = kicks.matched_kick(
        model,
        PEN,
        start,
        early["pers"],
        early["rerun"],
        seed=__import__("pnlib.base.seeds", fromlist=["x"]).derive_seed(0, "kick", 2),
    )
    assert kick.start_hash[1] == state_hash(kicked)
    # a lost early.pt is an error that names the folder to delete, never a silent replay
    (tmp_path / "trajectories" / pers.key[1] / "early.pt").unlink()
    with pytest.raises(FileNotFoundError, match=f"delete .*{pers.key[1]} and rerun"):
        baselines.early_state(exp, pers, 2)


def test_repulsive_gradient_fused_equals_autograd_on_the_others_current_weights():
    torch.manual_seed(0)
    members = [
        nn.Sequential(nn.Conv2d(2, 3, 3), nn.Tanh(), nn.Flatten(), nn.Linear(12, 4)).double()
        for _ in range(3)
    ]
    theta0 = members[0].state_dict()
    for m in members[1:]:
        m.load_state_dict(theta0)
    with torch.no_grad():
        for m in members:
            for p in m.parameters():
                p.add_(0.2 * torch.randn_like(p))
    for kernel in ("gaussian", "inverse"):
        config = PenaltyConfig(kernel=kernel, strength=0.7)
        for j, m in enumerate(members):
            pen = PersistentPenalty(m, config, theta0=theta0)
            pen.set_anchors([o.state_dict() for i, o in enumerate(members) if i != j])
            assert pen.num_anchors == 2
            others = [o for i, o in enumerate(members) if i != j]
            for name in ("0.weight", "3.bias"):  # the anchors are the others' current weights
                assert torch.equal(pen.anchors[name], torch.stack([o.state_dict()[name] for o in others]))
            auto = torch.autograd.grad(pen.value(0.3), list(m.parameters()))
            for p in m.parameters():
                p.grad = None
            pen.apply_(0.3)
            assert max((p.grad - g).abs().max().item() for p, g in zip(m.parameters(), auto)) < 1e-12


def test_shared_repulsive_ablation_trains_k_members_together_and_resumes(tiny_data, tmp_path):
    exp = Experiment(tmp_path, tiny_data, progress=False)
    with pytest.raises(ValueError, match="fixed bandwidth"):  # travel: σ = 0 where all members start
        exp.run("repulsive_shared", cfg(), seed=0)
    fixed = cfg(penalty=PenaltyConfig(strength=1.0, bandwidth=1.0))
    rows = exp.run("repulsive_shared", fixed, seed=0)
    assert rows.method.tolist() == ["repulsive, shared θ₀ (ablation)"] * 2 and (rows.status == "ok").all()
    trajs = exp.trajectories("repulsive_shared", fixed, 0)
    assert len(trajs) == 3 and trajs.key.str.endswith(("/m1", "/m2", "/m3")).all()
    ends = [exp.solution(k) for k in trajs.key]
    assert len({state_hash(s) for s in ends}) == 3

    # the members repel: with λ = 0 they end closer to each other than with the penalty
    def spread(strength):
        e = Experiment(tmp_path / f"l{strength}", tiny_data, progress=False)
        c = cfg(penalty=PenaltyConfig(strength=strength, granularity="model", bandwidth=0.5))
        e.run("repulsive_shared", c, seed=0)
        s = [analysis.flat(e.solution(k)) for k in e.trajectories("repulsive_shared", c, 0).key]
        return float((s[0] - s[1]).norm())

    assert spread(5.0) > spread(0.0)
    # interrupted after the first epoch: the rerun resumes from the checkpoint and ends bitwise the same
    c = cfg(K=2, penalty=PenaltyConfig(strength=1.0, bandwidth=1.0))
    cut = Experiment(tmp_path / "cut", tiny_data, progress=False)
    models = [cut.model(c, cut.theta0(c, 1)) for _ in range(2)]
    short = TrainConfig(**{**TRAIN.to_dict(), "num_epochs": 2})
    ckpt = tmp_path / "ckpt.pt"
    orig = baselines.store.save_tensors

    class Stop(Exception):
        pass

    def repulse(models, checkpoint):
        train(
            models,
            tiny_data,
            short,
            seeds=[11, 12],
            hook=baselines.RepulsiveHook(models, c.penalty, cut.theta0(c, 1)),
            checkpoint=checkpoint,
            progress=False,
        )

    def save_then_stop(path, obj):
        orig(path, obj)
        if str(path) == str(ckpt):
            raise Stop

    baselines.store.save_tensors = save_then_stop
    try:
        with pytest.raises(Stop):
            repulse(models, ckpt)
    finally:
        baselines.store.save_tensors = orig
    models = [cut.model(c, cut.theta0(c, 1)) for _ in range(2)]
    repulse(models, ckpt)
    fresh = [cut.model(c, cut.theta0(c, 1)) for _ in range(2)]
    repulse(fresh, None)
    for a, b in zip(models, fresh):
        assert all(torch.equal(x, y) for x, y in zip(a.state_dict().values(), b.state_dict().values()))


def test_choose_epochs_takes_the_smallest_e_whose_doubling_gains_less_than_the_margin():
    pilot = pd.DataFrame(
        [
            {"epochs": e, "seed": s, "val_acc": acc + 0.001 * s, "status": "ok"}
            for s in (0, 1)
            for e, acc in ((2, 0.70), (4, 0.80), (8, 0.83), (16, 0.833), (32, 0.836))
        ]
    )
    E, table = selection.choose_epochs(pilot, 0.005)
    assert E == 8 and table.set_index("E").chosen[8] and table.set_index("E").converged[16]
    E, table = selection.choose_epochs(pilot, 0.001)  # nothing converges: the largest with a double
    assert E == 16 and not table.converged.any()
    with pytest.raises(ValueError, match="2E"):
        selection.choose_epochs(pilot[pilot.epochs == 2], 0.005)
    # a plateau before a late rise (a model still at chance) is not convergence
    late = pd.DataFrame(
        [
            {"epochs": e, "seed": 0, "val_acc": acc, "status": "ok"}
            for e, acc in ((3, 0.272), (6, 0.2765), (12, 0.609), (24, 0.612))
        ]
    )
    E, table = selection.choose_epochs(late, 0.005)
    assert E == 12 and table.converged.tolist() == [False, False, True, False]
    E, table = selection.choose_epochs(late[late.epochs < 24], 0.005)
    assert E == 6 and not table.converged.any()


def test_verdict_table_pairs_by_seed_and_counts_trajectory_one_once():
    def row(method, mode, selection, seed, acc):
        return {
            "init": "d",
            "method": method,
            "mode": mode,
            "selection": selection,
            "seed": seed,
            "status": "ok",
            "diverged": 0,
            "test_acc": acc,
        }

    rows = []
    for seed in range(8):
        first = 0.80 + 0.01 * (seed % 3)
        rows += [row("trajectory 1", mode, "", seed, first) for mode in ("full", "re-runs from θ₀")]
        rows.append(
            row("persistent", "full", "selected", seed, 0.85 + 0.01 * (seed % 3) + 0.001 * (seed % 2))
        )
        rows.append(
            row("restarts", "", "selected", seed, 0.85 + 0.01 * (seed % 3) + 0.001 * ((seed + 1) % 2))
        )
    summary = pd.DataFrame(rows)
    S = claims.side
    family = [
        {"claim": "c", "a": S("d", "persistent", "full", "selected"), "b": S("d", "trajectory 1")},
        {
            "claim": "c",
            "a": S("d", "persistent", "full", "selected"),
            "b": S("d", "restarts", "", "selected"),
        },
    ]
    v = claims.verdict_table(summary, family, margin=0.005)
    assert v.n_seeds.tolist() == [8, 8]
    assert v.verdict.tolist() == ["better", "equivalent"]
    assert v.estimate[0] == pytest.approx(0.0505, abs=1e-9)
    assert claims.conclusions(v, converged=True).status.tolist() == ["mixed"]
    with pytest.raises(ValueError, match="no seed in common"):
        claims.verdict_table(
            summary,
            [{"claim": "c", "a": S("d", "persistent", "full", "selected"), "b": S("d", "longer")}],
            0.005,
        )
