import subprocess
import sys
import textwrap

import pandas as pd
import pytest

from pnlib.experiments.experiment import Experiment
from pnlib.method.persistence import PenaltyConfig
from pnlib.train.loop import TrainConfig
from pnlib.train.runs import RunConfig

TRAIN = TrainConfig(num_epochs=2, batch_size=50, lr=0.05, weight_decay=0.0)


def cfg(**kw):
    base = dict(
        model="mlp",
        model_kwargs={"width": 32, "depth": 1},
        init="default",
        K=3,
        train=TRAIN,
        penalty=PenaltyConfig(strength=1.0),
    )
    return RunConfig(**{**base, **kw})


def test_every_trajectory_starts_bitwise_at_theta0(tiny_data, tmp_path):
    exp = Experiment(tmp_path, tiny_data, progress=False)
    rows = exp.run("persistent", cfg(), seed=0)
    trajs = pd.read_csv(next(tmp_path.glob("runs/persistent-*/trajectories.csv")))
    theta0 = exp.theta0(cfg(), 0)
    from pnlib.base.store import state_hash

    assert (trajs["start_hash"] == state_hash(theta0)).all() and len(trajs) == 3
    assert trajs["key"].nunique() == 3
    assert rows["method"].tolist() == ["trajectory 1", "persistent", "persistent"]
    assert rows["selection"].tolist() == ["", "selected", "ensemble"]
    assert set(rows.columns) >= {
        "dataset",
        "model",
        "init",
        "mode",
        "method",
        "K",
        "seed",
        "epochs",
        "val_acc",
        "test_acc",
        "val_loss",
        "test_loss",
    }
    assert rows.loc[rows.selection == "selected", "epochs"].item() == 3 * TRAIN.num_epochs


def test_penalty_pushes_trajectory_two_away_from_anchor_one(tiny_data, tmp_path):
    def end_distance(strength):
        exp = Experiment(tmp_path / f"s{strength}", tiny_data, progress=False)
        c = cfg(K=2, penalty=PenaltyConfig(strength=strength, granularity="model"))
        exp.run("persistent", c, seed=0)
        t = pd.read_csv(next((tmp_path / f"s{strength}").glob("runs/persistent-*/trajectories.csv")))
        a, b = exp.solution(t.key[0]), exp.solution(t.key[1])
        return sum((a[k] - b[k]).square().sum() for k in a).sqrt().item()

    assert end_distance(5.0) > 1.5 * end_distance(0.0)


def test_restarts_use_different_inits_and_share_trajectory_one(tiny_data, tmp_path):
    exp = Experiment(tmp_path, tiny_data, progress=False)
    exp.run("persistent", cfg(), seed=0)
    exp.run("restarts", cfg(), seed=0)
    p = pd.read_csv(next(tmp_path.glob("runs/persistent-*/trajectories.csv")))
    r = pd.read_csv(next(tmp_path.glob("runs/restarts-*/trajectories.csv")))
    assert r["start_hash"].nunique() == 3
    assert r.key[0] == p.key[0]  # the same plain run, trained once
    assert len(list((tmp_path / "trajectories").iterdir())) == 5


def test_longer_is_compute_matched(tiny_data, tmp_path):
    rows = Experiment(tmp_path, tiny_data, progress=False).run("longer", cfg(), seed=0)
    assert rows["method"].tolist() == ["longer"] and rows["epochs"].item() == 3 * TRAIN.num_epochs
    hist = pd.read_csv(next((tmp_path / "trajectories").glob("*/history.csv")))
    assert len(hist) == 3 * TRAIN.num_epochs


def test_same_seed_twice_gives_identical_metrics(tiny_data, tmp_path):
    a = Experiment(tmp_path / "a", tiny_data, progress=False).run("persistent", cfg(), seed=1)
    b = Experiment(tmp_path / "b", tiny_data, progress=False).run("persistent", cfg(), seed=1)
    pd.testing.assert_frame_equal(a, b)


def test_a_committed_run_without_its_trajectories_retrains_them_identically(tiny_data, tmp_path):
    """A fresh clone has run folders (committed) but no trajectories (gitignored tensors)."""
    import shutil

    exp = Experiment(tmp_path, tiny_data, progress=False)
    first = exp.run("persistent", cfg(), seed=2)
    shutil.rmtree(tmp_path / "trajectories")
    again = Experiment(tmp_path, tiny_data, progress=False).run("persistent", cfg(), seed=2)
    pd.testing.assert_frame_equal(first, again)
    keys = exp.trajectories("persistent", cfg(), 2)["key"]
    assert all((tmp_path / "trajectories" / k / "model.pt").exists() for k in keys)


def test_changed_config_in_same_run_folder_is_refused(tiny_data, tmp_path):
    c = cfg(K=2)
    Experiment(tmp_path, tiny_data, progress=False).run("persistent", c, seed=0, run_id="myrun")
    with pytest.raises(ValueError, match=r"different config .*run\.K: stored 2 vs now 3"):
        Experiment(tmp_path, tiny_data, progress=False).run("persistent", cfg(K=3), seed=0, run_id="myrun")


def test_diverged_trajectory_is_recorded_not_dropped(tiny_data, tmp_path):
    c = cfg(model="lenet5", model_kwargs={}, K=2, train=TrainConfig(num_epochs=1, batch_size=50, lr=1e6))
    rows = Experiment(tmp_path, tiny_data, progress=False).run("persistent", c, seed=0)
    assert (rows["status"] == "diverged").all() and len(rows) == 3
    t = pd.read_csv(next(tmp_path.glob("runs/persistent-*/trajectories.csv")))
    assert (t["status"] == "diverged").all() and t["diverged_epoch"].eq(1).all()


SCRIPT = textwrap.dedent("""
    import sys, torch
    torch.set_num_threads(1)
    from pnlib.train.data import load_dataset
    from pnlib.method.persistence import PenaltyConfig
    from pnlib.experiments.experiment import Experiment
    from pnlib.train.runs import RunConfig
    from pnlib.train.loop import TrainConfig
    data = load_dataset("cifar10", sys.argv[1], val_size=100)
    c = RunConfig(model="mlp", model_kwargs={"width": 32, "depth": 1}, K=3,
                  train=TrainConfig(num_epochs=2, batch_size=50, lr=0.05, weight_decay=0.0),
                  penalty=PenaltyConfig(strength=1.0))
    rows = Experiment(sys.argv[2], data, progress=False).run("persistent", c, seed=0)
    print(rows.to_json())
""")


def test_kill_between_trajectories_then_rerun_completes_identically(tiny_data, tmp_path):
    from pnlib.train.generated import write_fake_cifar10

    write_fake_cifar10(tmp_path / "data", n_per_batch=60, n_test=100, seed=0)
    script = tmp_path / "run.py"
    script.write_text(SCRIPT)
    cmd = [sys.executable, str(script), str(tmp_path / "data")]
    ref = subprocess.run(cmd + [str(tmp_path / "ref")], capture_output=True, text=True, check=True).stdout
    # a "kill" between trajectories: after trajectory 1 is done, drop everything after it
    subprocess.run(cmd + [str(tmp_path / "run")], capture_output=True, text=True, check=True)
    run = tmp_path / "run"
    first = pd.read_csv(next(run.glob("runs/persistent-*/trajectories.csv"))).key[0]
    for d in (run / "trajectories").iterdir():
        if d.name != first:
            for f in d.iterdir():
                f.unlink()
            d.rmdir()
    for f in run.glob("runs/persistent-*/*.csv"):
        f.unlink()
    again = subprocess.run(cmd + [str(tmp_path / "run")], capture_output=True, text=True, check=True).stdout
    assert again == ref


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"model": "vgg16"}, "unknown model 'vgg16'; allowed: mlp, lenet5"),
        ({"init": "he"}, "unknown init 'he'; allowed: default, kaiming"),
        ({"K": 0}, r"K \(trajectories per run\) must be an integer ≥ 1; got 0"),
        ({"start": "random"}, "unknown start 'random'; allowed: init, previous"),
    ],
)
def test_bad_run_settings_are_refused_before_training(kwargs, match):
    with pytest.raises(ValueError, match=match):
        cfg(**kwargs)


def test_bad_pattern_is_refused_before_training(tiny_data, tmp_path):
    bad = cfg(penalty=PenaltyConfig(include=("features.*",)))
    with pytest.raises(
        ValueError,
        match=r"include pattern 'features\.\*' selects no Conv/Linear module; module names are: hidden\.0, out",
    ):
        Experiment(tmp_path, tiny_data, progress=False).run("persistent", bad, seed=0)
    assert not (tmp_path / "trajectories").exists()  # refused before any training


def test_previous_start_ablation_starts_from_the_last_solution(tiny_data, tmp_path):
    from pnlib.base.store import state_hash

    exp = Experiment(tmp_path, tiny_data, progress=False)
    exp.run("persistent", cfg(K=2, start="previous"), seed=0)
    t = exp.trajectories("persistent", cfg(K=2, start="previous"), 0)
    assert t.start_hash[1] == state_hash(exp.solution(t.key[0]))


def test_one_results_folder_serves_datasets_of_different_shapes(tiny_data, tmp_path):
    """θ₀ is cached per architecture, and the architecture follows the data's shape: a folder used
    first with 3-channel images, then with 1-channel ones, draws a fitting θ₀ for each."""
    import dataclasses

    gray = dataclasses.replace(
        tiny_data,
        X_train=tiny_data.X_train[:, :1],
        X_val=tiny_data.X_val[:, :1],
        X_test=tiny_data.X_test[:, :1],
    )
    c = cfg(model="lenet5", model_kwargs={}, K=1, penalty=None)
    for data in (tiny_data, gray):
        rows = Experiment(tmp_path, data, progress=False).run("longer", c, seed=0)
        assert (rows.status == "ok").all()


def test_trajectory_keys_made_of_digits_are_read_back_as_text(tiny_data, tmp_path):
    exp = Experiment(tmp_path, tiny_data, progress=False)
    c = cfg(K=1, penalty=None)
    exp.run("persistent", c, seed=0)
    run = exp.run_dir("persistent", c, 0)
    t = pd.read_csv(run.file("trajectories.csv"), dtype={"key": str})
    old = t.key[0]
    (tmp_path / "trajectories" / old).rename(tmp_path / "trajectories" / "0123456789")
    t.assign(key="0123456789").to_csv(run.file("trajectories.csv"), index=False)
    back = exp.trajectories("persistent", c, 0)
    assert back.key.tolist() == ["0123456789"] and exp.is_trained(run)
    assert len(exp.history(back.key[0]))
