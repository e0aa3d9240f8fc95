"""Fault injection: a persistent run (K = 3) is killed with SIGKILL at several points, then rerun.

It must complete with metrics identical to an uninterrupted run, and leave no torn file behind.
The kill points use the tests' write pause (tests/hooks/sitecustomize.py), which stops the nth
atomic write of a file after its bytes reach the temporary file and before the rename, so every
kill lands at a known place.
"""

import json
import os
import signal
import subprocess
import sys
import textwrap

import pandas as pd
import pytest
import torch
from write_pause import pause_env

from pnlib.train.generated import write_fake_cifar10

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
                  train=TrainConfig(num_epochs=3, batch_size=50, lr=0.05, augment=True, checkpoint_every=1),
                  penalty=PenaltyConfig(strength=1.0))
    exp = Experiment(sys.argv[2], data, progress=False)
    rows = exp.run("persistent", c, seed=0)
    print("RESULT", rows.to_json(), exp.trajectories("persistent", c, 0).drop(columns="key").to_json())
""")

# (file name, nth write of it): where the kill lands
KILL_POINTS = {
    "during trajectory 1": ("checkpoint.pt", 1),  # trajectory 1, after its first epoch
    "between trajectories": ("anchors.pt", 1),  # trajectory 1 done, trajectory 2 not started
    "during trajectory 2": ("checkpoint.pt", 3),  # trajectory 2, after its first epoch
    "while writing a trajectory's metrics": ("metrics.json", 2),
    "while writing the run summary": ("summary.csv", 1),
}


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    root = tmp_path_factory.mktemp("faults")
    write_fake_cifar10(root / "data", n_per_batch=60, n_test=100, seed=0)
    (root / "run.py").write_text(SCRIPT)
    ref = run(root, root / "ref")
    return root, ref


def run(root, out, pause=None):
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    cmd = [sys.executable, str(root / "run.py"), str(root / "data"), str(out)]
    if pause is None:
        done = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=300)
        assert done.returncode == 0, done.stderr
        return next(line for line in done.stdout.splitlines() if line.startswith("RESULT"))
    env = {**pause_env(pause[0], 120, pause[1]), "PYTHONUNBUFFERED": "1"}
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, env=env)
    for line in proc.stdout:
        if line.startswith("PAUSED-IN-WRITE"):
            proc.send_signal(signal.SIGKILL)
            break
    proc.wait(timeout=60)
    assert proc.returncode == -signal.SIGKILL, "the run finished before reaching its kill point"


def assert_nothing_torn(folder):
    for p in folder.rglob("*"):
        if p.is_file():
            assert not p.name.endswith(".tmp"), f"half-written temporary file left: {p}"
            if p.suffix == ".json":
                json.loads(p.read_text())
            elif p.suffix == ".csv":
                pd.read_csv(p)
            elif p.suffix == ".pt":
                torch.load(p, weights_only=False)


@pytest.mark.parametrize("point", list(KILL_POINTS))
def test_killed_run_resumes_to_identical_metrics(setup, point, tmp_path):
    root, ref = setup
    out = tmp_path / "run"
    run(root, out, pause=KILL_POINTS[point])
    again = run(root, out)
    assert again == ref
    assert_nothing_torn(out)


def test_finished_trajectories_are_not_retrained(setup, tmp_path):
    root, ref = setup
    out = tmp_path / "run"
    run(root, out, pause=("anchors.pt", 2))  # killed at the start of trajectory 3
    done_before = {p.parent.name: p.stat().st_mtime_ns for p in out.rglob("metrics.json")}
    assert len(done_before) == 2
    assert run(root, out) == ref
    assert {
        p.parent.name: p.stat().st_mtime_ns for p in out.rglob("metrics.json") if p.parent.name in done_before
    } == done_before
