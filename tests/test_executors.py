"""The grid on every engine gives the serial result; a shared results folder trains each trajectory
once; a killed worker resumes; a failing job is a row; nothing in a results folder runs code."""

import dataclasses
import json
import os
import re
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pandas as pd
import pytest
import torch
from write_pause import pause_env

from pnlib.base import store
from pnlib.experiments import executors
from pnlib.experiments.experiment import Experiment
from pnlib.experiments.grid import modes, run_grids
from pnlib.method.persistence import PenaltyConfig
from pnlib.train.loop import TrainConfig
from pnlib.train.runs import RunConfig

KEYS = ["model", "init", "mode", "method", "selection", "seed", "epochs", "status", "val_acc", "test_acc"]
CELL = RunConfig(
    model="mlp",
    model_kwargs={"width": 16, "depth": 1},
    K=2,
    train=TrainConfig(num_epochs=1, batch_size=50, lr=0.05, weight_decay=0.0),
    penalty=PenaltyConfig(strength=1.0, schedule="cosine"),
)


def tiny_grid():
    return {"mlp": modes(CELL, {"partial: hidden": ("hidden.*",)})}


def summary(tiny_data, root, **kw):
    exp = Experiment(root, tiny_data, progress=False, threads=1)
    return run_grids(exp, tiny_grid(), 2, executors.Engine(**kw))[0][KEYS]


def trained_keys(root) -> list[str]:
    return [json.loads(line)["key"] for line in (Path(root) / "trained.log").read_text().splitlines()]


@pytest.fixture(scope="module")
def serial(tiny_data, tmp_path_factory):
    root = tmp_path_factory.mktemp("serial")
    return summary(tiny_data, root, workers=1), root


@pytest.mark.parametrize(
    "engine",
    [
        dict(executor="local", workers=2),
        dict(executor="slurm", slurm=executors.Slurm(cluster="local")),
        dict(executor="dask", workers=2),
    ],
    ids=["local-2", "submitit-local", "dask-2"],
)
def test_every_engine_gives_the_serial_summary(engine, serial, tiny_data, tmp_path):
    got = summary(tiny_data, tmp_path, **engine)
    pd.testing.assert_frame_equal(got, serial[0])
    keys = trained_keys(tmp_path)
    assert len(keys) == len(set(keys)) == len(trained_keys(serial[1]))  # each trajectory trained once


def test_who_trained_each_trajectory_is_recorded(serial):
    metrics = [json.loads(p.read_text()) for p in (serial[1] / "trajectories").glob("*/metrics.json")]
    assert metrics and all(
        {"host", "pid", "worker", "start", "end", "threads"} <= set(m["trained_by"]) for m in metrics
    )
    assert all(
        m["trained_by"]["threads"] == 1 and m["trained_by"]["start"] <= m["trained_by"]["end"]
        for m in metrics
    )


SCRIPT = textwrap.dedent("""
    import sys, torch
    torch.set_num_threads(1)
    from pnlib.experiments import executors
    from pnlib.train.data import load_dataset
    from pnlib.experiments.experiment import Experiment
    from pnlib.experiments.grid import modes, run_grids
    from pnlib.method.persistence import PenaltyConfig
    from pnlib.train.loop import TrainConfig
    from pnlib.train.runs import RunConfig
    if __name__ == "__main__":
        data = load_dataset("cifar10", sys.argv[1], val_size=100)
        cell = RunConfig(model="mlp", model_kwargs={"width": 16, "depth": 1}, K=2,
                         train=TrainConfig(num_epochs=3, batch_size=50, lr=0.05, weight_decay=0.0),
                         penalty=PenaltyConfig(strength=1.0, schedule="cosine"))
        g = {"mlp": modes(cell)}
        exp = Experiment(sys.argv[2], data, progress=False, threads=1)
        # argv[3]: local workers, or "slurm" (a real cluster, tests/test_engines.py); argv[5]: seeds
        engine = dict(executor="slurm", slurm=executors.Slurm(cpus_per_job=1, gpus_per_job=0, time_min=10,
                                                              unknown_after_s=60)) \
            if sys.argv[3] == "slurm" else dict(workers=int(sys.argv[3]))
        s = run_grids(exp, g, int(sys.argv[5]), executors.Engine(**engine))[0]
        s.to_csv(sys.argv[4], index=False)
""")


def launch_grid(tmp_path, data_root, results, workers, out, env=None, seeds=2):
    """The grid above in a fresh (unbuffered) process: ``workers`` local workers, or ``"slurm"``."""
    script = tmp_path / "grid.py"
    script.write_text(SCRIPT)
    return subprocess.Popen(
        [sys.executable, "-u", str(script), str(data_root), str(results), str(workers), str(out), str(seeds)],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=env,
    )


@pytest.fixture(scope="module")
def data_root(tmp_path_factory):
    from pnlib.train.generated import write_fake_cifar10

    root = tmp_path_factory.mktemp("data")
    write_fake_cifar10(root, n_per_batch=60, n_test=100, seed=0)
    return root


def test_two_processes_on_one_folder_train_each_trajectory_once(tmp_path, data_root):
    results = tmp_path / "shared"
    procs = [launch_grid(tmp_path, data_root, results, 1, tmp_path / f"s{i}.csv") for i in range(2)]
    for p in procs:
        out, _ = p.communicate(timeout=600)
        assert p.returncode == 0, out[-3000:]
    a, b = (pd.read_csv(tmp_path / f"s{i}.csv")[KEYS] for i in range(2))
    pd.testing.assert_frame_equal(a, b)
    keys = trained_keys(results)
    assert len(keys) == len(set(keys)) == len(list((results / "trajectories").glob("*/metrics.json")))


def test_a_killed_worker_resumes_to_the_uninterrupted_result(tmp_path, data_root):
    ref = launch_grid(tmp_path, data_root, tmp_path / "ref", 1, tmp_path / "ref.csv")
    assert ref.wait(timeout=600) == 0
    env = pause_env("checkpoint.pt", 120)  # a worker pauses in its first checkpoint write
    p = launch_grid(tmp_path, data_root, tmp_path / "killed", 2, tmp_path / "killed.csv", env=env)
    victim, seen = None, []
    for line in p.stdout:  # two workers share the pipe: the line may follow another's partial line
        seen.append(line)
        if (m := re.search(r"PAUSED-IN-WRITE \S+ pid (\d+)", line)) is not None:
            victim = int(m.group(1))
            os.kill(victim, signal.SIGKILL)
            break
    out = "".join(seen) + p.stdout.read()
    assert p.wait(timeout=600) == 0 and victim is not None, out[-3000:]
    first = pd.read_csv(tmp_path / "killed.csv")
    assert (first.status == "failed").any() and first.error.str.contains("worker lost").any()
    again = launch_grid(tmp_path, data_root, tmp_path / "killed", 2, tmp_path / "again.csv")
    assert again.wait(timeout=600) == 0
    pd.testing.assert_frame_equal(
        pd.read_csv(tmp_path / "again.csv")[KEYS], pd.read_csv(tmp_path / "ref.csv")[KEYS]
    )
    assert not list((tmp_path / "killed").rglob(".*.tmp"))  # the dead writer's temporary is gone


def test_a_failing_job_is_recorded_and_the_others_finish(tiny_data, tmp_path):
    g = tiny_grid()
    g["mlp"]["broken"] = dataclasses.replace(g["mlp"]["full"], model_kwargs={"depth": 1, "width": 0})
    exp = Experiment(tmp_path, tiny_data, progress=False, threads=1)
    s, _ = run_grids(exp, g, 1, executors.Engine(workers=1))
    broken = s[s["mode"] == "broken"]
    assert len(broken) == 3 and (broken.status == "failed").all()
    assert broken.error.str.contains("width must be an integer ≥ 1; got 0").all()
    assert (s[s["mode"] != "broken"].status == "ok").all() and len(s) == 4 * 3 + 2 + 1


def test_a_planted_pickle_in_a_results_folder_is_refused(tmp_path):
    class Exploit:
        def __reduce__(self):
            return (os.system, (f"touch {tmp_path / 'pwned'}",))

    path = tmp_path / "trajectories" / "abc" / "model.pt"
    path.parent.mkdir(parents=True)
    torch.save({"weight": torch.zeros(2), "payload": Exploit()}, path)
    with pytest.raises(ValueError, match="refused to load.*could run code"):
        store.load_tensors(path)
    assert not (tmp_path / "pwned").exists()
    store.save_tensors(
        tmp_path / "ok.pt", {"model": {"w": torch.ones(2)}, "epoch": 3, "history": [{"loss": 0.5}]}
    )
    assert store.load_tensors(tmp_path / "ok.pt")["history"] == [{"loss": 0.5}]


def test_only_dead_writers_temporaries_are_removed(tmp_path):
    live = tmp_path / f".model.pt.{store.HOST}.{os.getpid()}.abcd1234.tmp"
    dead_pid = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True
    ).stdout.strip()
    dead = tmp_path / f".model.pt.{store.HOST}.{dead_pid}.efgh5678.tmp"
    foreign = tmp_path / ".model.pt.otherhost.1.ijkl9012.tmp"
    for p in (live, dead, foreign):
        p.write_bytes(b"half")
    assert store.remove_stale_temps(tmp_path) == 1
    assert live.exists() and not dead.exists() and foreign.exists()  # another host's writer may be alive
    old = time.time() - store.STALE_FOREIGN_S - 10
    os.utime(foreign, (old, old))
    assert store.remove_stale_temps(tmp_path) == 1 and not foreign.exists()


def test_workers_auto_fills_the_cores():
    cores = len(os.sched_getaffinity(0))
    assert executors.resolve_workers("auto", 1) == cores and executors.resolve_workers("auto", cores) == 1
    with pytest.raises(ValueError, match="workers must be an integer ≥ 1; got 0"):
        executors.resolve_workers(0, 1)
    with pytest.raises(ValueError, match="unknown executor 'ray'"):
        executors.Engine("ray")


def test_a_dataset_built_by_hand_runs_here_and_is_refused_elsewhere(tiny_data, tmp_path):
    handmade = dataclasses.replace(tiny_data, source=())
    exp = Experiment(tmp_path, handmade, progress=False, threads=1)
    with pytest.raises(ValueError, match="no source .* workers=1"):
        run_grids(exp, tiny_grid(), 1, executors.Engine(workers=2))
    s, _ = run_grids(exp, tiny_grid(), 1, executors.Engine(workers=1))
    assert (s.status == "ok").all()


def test_a_rerun_reads_its_summaries_back_without_losing_rows(serial, tiny_data):
    """Reused runs come back from CSV, where an empty mode or selection reads as NaN: the
    comparison must still hold trajectory 1 and the longer run."""
    from pnlib.report import analysis

    again = summary(tiny_data, serial[1], workers=1)
    pd.testing.assert_frame_equal(again, serial[0], check_dtype=False)
    table = analysis.compare(
        run_grids(
            Experiment(serial[1], tiny_data, progress=False, threads=1),
            tiny_grid(),
            2,
            executors.Engine(workers=1),
        )[0]
    )
    assert {"trajectory 1", "longer", "restarts", "persistent", "re-runs from θ₀"} == set(table.method)


def test_a_registered_model_runs_here_and_is_refused_elsewhere(tiny_data, tmp_path):
    from torch import nn

    from pnlib.train.models import register_model, unregister_model

    register_model(
        "tiny_exec_net",
        lambda num_classes, in_channels, image_size: nn.Sequential(
            nn.Flatten(), nn.Linear(in_channels * image_size**2, num_classes)
        ),
    )
    try:
        g = {"t": modes(dataclasses.replace(CELL, model="tiny_exec_net", model_kwargs=()))}
        exp = Experiment(tmp_path, tiny_data, progress=False, threads=1)
        with pytest.raises(ValueError, match="registered in this process only.*workers=1"):
            run_grids(exp, g, 1, executors.Engine(workers=2))
        assert (run_grids(exp, g, 1, executors.Engine(workers=1))[0].status == "ok").all()
    finally:
        unregister_model("tiny_exec_net")


def test_a_job_of_an_unknown_method_is_failed_rows_not_a_crash(tiny_data, tmp_path):
    from pnlib.experiments import grid as G

    exp = Experiment(tmp_path, tiny_data, progress=False, threads=1)
    job = G.cell_jobs(exp, [("foo", "", next(iter(tiny_grid().values()))["full"])], [0])[0]
    rows = G.run_job(job, tiny_data)
    assert list(rows.method) == ["foo", "foo"] and (rows.status == "failed").all()
    assert rows.error.str.contains("unknown method 'foo'").all()


def test_a_grid_in_a_kernel_shows_one_line_updated_in_place_and_a_tqdm_bar_elsewhere(monkeypatch):
    import IPython.display
    from tqdm.std import tqdm

    shown = []

    class Handle:
        def update(self, obj):
            shown.append(obj.data)

    def display(obj, display_id):
        shown.append(obj.data)
        return Handle()

    monkeypatch.setattr(IPython.display, "display", display)
    bar = executors.InKernelProgress(3, "main")
    for _ in range(3):
        bar.update()
    bar.close()
    # the saved report keeps the last update: a static view shows the finished grid, not "0%"
    assert shown[0].startswith("main ") and "0/3 jobs" in shown[0]
    assert shown[-1].startswith("main " + "█" * 20) and "3/3 jobs" in shown[-1]
    other = executors.progress(2, "x")  # no Jupyter kernel in a test process
    assert isinstance(other, tqdm)
    other.close()
