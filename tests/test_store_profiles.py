import dataclasses
import json
import os

import pandas as pd
import pytest
import torch

from pnlib.base import store
from pnlib.experiments import configs, profiles


def test_atomic_write_leaves_no_temp_and_replaces(tmp_path):
    p = tmp_path / "sub" / "x.json"
    store.write_json(p, {"a": 1})
    store.write_json(p, {"a": 2})
    assert store.read_json(p) == {"a": 2}
    assert [f.name for f in p.parent.iterdir()] == ["x.json"]


def test_failed_write_keeps_the_old_file(tmp_path):
    p = tmp_path / "t.csv"
    store.write_csv(p, pd.DataFrame({"a": [1]}))
    with pytest.raises(TypeError):
        store.atomic_write_bytes(p, "not bytes")
    assert pd.read_csv(p)["a"].tolist() == [1]
    assert [f.name for f in tmp_path.iterdir()] == ["t.csv"]


def test_run_dir_records_commit_and_refuses_other_config(tmp_path):
    store.RunDir(tmp_path / "r", {"lr": 0.1, "nested": {"K": 3}})
    meta = json.loads((tmp_path / "r" / "config.json").read_text())
    assert meta["config"] == {"lr": 0.1, "nested": {"K": 3}} and meta["git_commit"]
    store.RunDir(tmp_path / "r", {"lr": 0.1, "nested": {"K": 3}})  # same config: fine
    with pytest.raises(ValueError, match=r"nested\.K: stored 3 vs now 4"):
        store.RunDir(tmp_path / "r", {"lr": 0.1, "nested": {"K": 4}})


@pytest.mark.skipif(os.geteuid() == 0, reason="root can write anywhere")
def test_unwritable_results_folder(tmp_path):
    ro = tmp_path / "ro"
    ro.mkdir()
    ro.chmod(0o500)
    with pytest.raises(PermissionError, match="cannot write results"):
        store.write_json(ro / "x.json", {})


def test_unwritable_results_folder_is_named(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("")  # a file where a folder should be: not writable even for root
    with pytest.raises(PermissionError, match=r"cannot write results to .*file"):
        store.write_json(blocker / "x.json", {})


def cell(**values):
    """What notebook 03's parameters cell leaves in globals(), plus imports configure ignores."""
    return {
        "profile": None,
        "seeds": None,
        "K": None,
        "pilot_epochs": None,
        "train_size": None,
        "val_size": None,
        "test_size": None,
        "lr": 0.05,
        "kernel": "gaussian",
        "strength": 0.01,
        "torch": torch,
        "KERNELS": ("x",),
        **values,
    }


def test_configure_fills_none_from_the_profile(monkeypatch, capsys):
    monkeypatch.delenv("PNLIB_PROFILE", raising=False)
    c = profiles.config_for("03_lenet", cell(precision=None))
    assert (c.profile, c.seeds, c.K, c.test_size, c.lr, c.precision) == ("cpu", 9, 3, None, 0.05, "auto")
    c = profiles.config_for("03_lenet", cell(profile="paper", seeds=7, kernel="inverse"))
    assert (c.profile, c.seeds, c.pilot_epochs, c.kernel) == ("paper", 7, (5, 10, 20, 40, 80), "inverse")
    assert c.results.parts[-3:] == ("results", "paper", "03_lenet")
    out = capsys.readouterr().out
    assert "profile paper (from the notebook's profile parameter)" in out
    assert f"results in {c.results.relative_to(store.project_root())}" in out  # no absolute path in a report
    assert (
        store.shown(store.project_root() / "results" / "x") == "results/x" and store.shown("/tmp") == "/tmp"
    )
    with pytest.raises(dataclasses.FrozenInstanceError):
        c.seeds = 3
    assert "torch" not in dataclasses.asdict(c) and "KERNELS" not in dataclasses.asdict(c)


@pytest.mark.parametrize(
    "values, match",
    [
        (
            {"profile": "gpu"},
            r"unknown profile 'gpu' \(from the notebook's profile parameter\); allowed: smoke, cpu, paper",
        ),
        ({"kernel": "box"}, r"unknown kernel 'box'; allowed: gaussian, inverse, hinge"),
        ({"seeds": 0}, "seeds must be an integer ≥ 1; got 0"),
        ({"seeds": True}, "seeds must be an integer ≥ 1; got True"),
        ({"strength": -1.0}, "strength must be a finite number ≥ 0; got -1.0"),
        ({"precision": "fp16"}, r"unknown precision 'fp16'; allowed: auto, fp32, bf16"),
        ({"precision": 1}, r"unknown precision 1; allowed: auto, fp32, bf16"),
        ({"sweep_bandwidths": "travel,-1"}, "sweep_bandwidths must be a finite number > 0; got -1.0"),
        ({"sweep_bandwidths": "travel,wide"}, r"sweep_bandwidths must be a list of bandwidth"),
        ({"eval_every": 0}, "eval_every must be an integer ≥ 1; got 0"),
    ],
)
def test_bad_values_name_the_parameter(monkeypatch, values, match):
    monkeypatch.delenv("PNLIB_PROFILE", raising=False)
    with pytest.raises(ValueError, match=match):
        profiles.config_for("03_lenet", cell(**values))


def test_list_parameters_from_papermill(monkeypatch):
    monkeypatch.delenv("PNLIB_PROFILE", raising=False)
    ns = {"profile": "smoke", "models": None}
    assert profiles.config_for("04_alexnet_resnet", ns).models == ("alexnet", "resnet8")
    assert profiles.config_for("04_alexnet_resnet", {**ns, "models": "resnet56,resnet18"}).models == (
        "resnet56",
        "resnet18",
    )
    assert profiles.config_for("04_alexnet_resnet", {**ns, "models": ["resnet56"]}).models == ("resnet56",)
    with pytest.raises(ValueError, match=r"-p models a,b or -y"):
        profiles.config_for("04_alexnet_resnet", {**ns, "models": 3})
    with pytest.raises(ValueError, match=r"unknown models 'lenet'"):
        profiles.config_for("04_alexnet_resnet", {**ns, "models": "lenet"})
    lenet = {"profile": "cpu", "sweep_bandwidths": None}
    assert profiles.config_for("03_lenet", lenet).sweep_bandwidths == ("travel",)
    assert profiles.config_for("03_lenet", {**lenet, "sweep_bandwidths": "travel,1"}).sweep_bandwidths == (
        "travel",
        1.0,
    )


def test_unknown_profile_in_the_environment_is_named(monkeypatch):
    monkeypatch.setenv("PNLIB_PROFILE", "fast")
    with pytest.raises(ValueError, match=r"unknown profile 'fast' \(from \$PNLIB_PROFILE\)"):
        profiles.resolve_profile()


@pytest.mark.parametrize(
    "explicit, env, expected",
    [
        ("paper", "smoke", ("paper", "the notebook's profile parameter")),  # explicit beats the environment
        (None, "smoke", ("smoke", "$PNLIB_PROFILE")),  # the environment beats the default
        (None, None, ("cpu", "the default")),
        ("cpu", None, ("cpu", "the notebook's profile parameter")),
    ],
)
def test_profile_precedence(monkeypatch, capsys, explicit, env, expected):
    if env:
        monkeypatch.setenv("PNLIB_PROFILE", env)
    else:
        monkeypatch.delenv("PNLIB_PROFILE", raising=False)
    assert profiles.resolve_profile(explicit) == expected
    assert profiles.config_for("03_lenet", cell(profile=explicit)).profile == expected[0]
    assert f"profile {expected[0]} (from {expected[1]})" in capsys.readouterr().out


def test_cached_table_reuses_only_under_the_same_config(tmp_path):
    calls = []

    def compute():
        calls.append(1)
        return pd.DataFrame({"x": [len(calls)]})

    p = tmp_path / "t.csv"
    assert store.cached_table(p, {"a": 1}, compute)["x"].item() == 1
    assert store.cached_table(p, {"a": 1}, compute)["x"].item() == 1 and len(calls) == 1
    assert store.cached_table(p, {"a": 2}, compute)["x"].item() == 2


def test_results_dir_keeps_profiles_apart():
    assert configs.results_dir("02_x", "cpu").parts[-2:] == ("results", "02_x")
    assert configs.results_dir("02_x", "smoke").parts[-3:] == ("results", "smoke", "02_x")


def test_git_commit_is_dirty_only_for_code(tmp_path):
    import subprocess

    def git(*a):
        return subprocess.run(["git", *a], cwd=tmp_path, check=True, capture_output=True)

    git("init", "-q")
    for f in ("pnlib/x.py", "reports/r.ipynb", "results/t.csv"):
        (tmp_path / f).parent.mkdir(exist_ok=True)
        (tmp_path / f).write_text("1")
    git("add", ".")
    git("-c", "user.email=a@b", "-c", "user.name=a", "commit", "-qm", "x")
    clean = store.git_commit(tmp_path / "pnlib")
    assert len(clean) == 40
    (tmp_path / "reports/r.ipynb").write_text("2")  # make run rewrites its outputs
    (tmp_path / "results/t.csv").write_text("2")
    assert store.git_commit(tmp_path / "pnlib") == clean
    (tmp_path / "pnlib/x.py").write_text("2")  # changed code is dirty
    assert store.git_commit(tmp_path / "pnlib") == clean + "+dirty"


def _count_rows(n: int, tag: str) -> pd.DataFrame:
    return pd.DataFrame({"i": range(n), "tag": tag})


def test_cached_jobs_computes_only_missing_parts_and_its_key_ignores_the_workers(tmp_path, monkeypatch):
    """Parts are concatenations of their jobs' tables; a part on disk is read back, also under
    another worker count (where a part is computed is not what it holds); a changed chunk recomputes."""
    from pnlib.experiments import executors

    monkeypatch.setenv("PNLIB_RESULTS", str(tmp_path))
    cfg = profiles.config_for("02_bad_minima", {"profile": "smoke", "workers": 1}, verbose=False)
    calls = []

    def starmap(jobs, workers, on_result):
        calls.append(len(jobs))
        out = [f(**kw) for f, kw in jobs]
        for i, t in enumerate(out):
            on_result(i, t)
        return out

    monkeypatch.setattr(executors, "starmap", starmap)
    parts = {
        "a": (["a"], [(_count_rows, dict(n=2, tag="a1")), (_count_rows, dict(n=1, tag="a2"))]),
        "b": (["b"], [(_count_rows, dict(n=3, tag="b"))]),
    }
    first = profiles.cached_jobs(cfg, parts)
    assert first.tag.tolist() == ["a1", "a1", "a2", "b", "b", "b"] and calls == [3]
    other = profiles.config_for("02_bad_minima", {"profile": "smoke", "workers": 2}, verbose=False)
    pd.testing.assert_frame_equal(profiles.cached_jobs(other, parts), first)
    assert calls == [3, 0]
    parts["b"] = (["b", 2], [(_count_rows, dict(n=1, tag="b2"))])
    assert profiles.cached_jobs(cfg, parts).tag.tolist() == ["a1", "a1", "a2", "b2"] and calls == [3, 0, 1]


def test_cached_jobs_start_the_largest_jobs_first_and_keep_each_parts_rows_in_order(tmp_path, monkeypatch):
    from pnlib.experiments import executors

    monkeypatch.setenv("PNLIB_RESULTS", str(tmp_path))
    cfg = profiles.config_for("02_bad_minima", {"profile": "smoke", "workers": 1}, verbose=False)
    started = []

    def starmap(jobs, workers, on_result):
        started.extend(kw["tag"] for _, kw in jobs)
        for i, (f, kw) in reversed(list(enumerate(jobs))):  # finishing in any order
            on_result(i, f(**kw))

    monkeypatch.setattr(executors, "starmap", starmap)
    parts = {
        "a": (["a"], [(_count_rows, dict(n=1, tag="a1")), (_count_rows, dict(n=3, tag="a2"))]),
        "b": (["b"], [(_count_rows, dict(n=2, tag="b1"))]),
    }
    table = profiles.cached_jobs(cfg, parts, cost=lambda job: job[1]["n"])
    assert started == ["a2", "b1", "a1"]
    assert table.tag.tolist() == ["a1", "a2", "a2", "a2", "b1", "b1"]


def test_an_interrupted_cached_jobs_keeps_every_part_whose_jobs_finished(tmp_path, monkeypatch):
    from pnlib.experiments import executors

    monkeypatch.setenv("PNLIB_RESULTS", str(tmp_path))
    cfg = profiles.config_for("02_bad_minima", {"profile": "smoke", "workers": 1}, verbose=False)
    parts = {
        "a": (["a"], [(_count_rows, dict(n=2, tag="a"))]),
        "b": (["b"], [(_count_rows, dict(n=1, tag="b"))]),
    }

    def killed_after_the_first(jobs, workers, on_result):
        f, kw = jobs[0]
        on_result(0, f(**kw))
        raise RuntimeError("worker lost")

    monkeypatch.setattr(executors, "starmap", killed_after_the_first)
    with pytest.raises(RuntimeError, match="worker lost"):
        profiles.cached_jobs(cfg, parts)
    calls = []

    def starmap(jobs, workers, on_result):
        calls.append(len(jobs))
        for i, (f, kw) in enumerate(jobs):
            on_result(i, f(**kw))

    monkeypatch.setattr(executors, "starmap", starmap)
    assert profiles.cached_jobs(cfg, parts).tag.tolist() == ["a", "a", "b"] and calls == [1]


def test_a_report_names_only_the_values_set_apart_from_its_profile(capsys):
    from pnlib.experiments import profiles

    profiles.config_for("03_lenet", {"profile": "cpu"})
    assert "set for this run" not in capsys.readouterr().out  # no config dump
    profiles.config_for("03_lenet", {"profile": "cpu", "seeds": 4, "lr": 0.05})
    out = capsys.readouterr().out
    assert "seeds = 4 (the cpu profile's: 9)" in out and "lr =" not in out  # lr is the default
