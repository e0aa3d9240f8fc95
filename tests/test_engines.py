"""The real engines, not stand-ins: a Slurm cluster (``tools/slurm-local.sh start`` makes one on a
Debian machine), a dask cluster of the command-line programs (``dask scheduler`` and two ``dask
worker``), each compared with the serial grid. Skipped, with the reason, where the engine is absent.
``.ci/run`` starts Slurm before ``make test`` and stops it after."""

import json
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pandas as pd
import pytest
from test_executors import KEYS, data_root, launch_grid, summary, tiny_grid, trained_keys  # noqa: F401  (the same grids as the stand-ins)
from write_pause import pause_env

from pnlib.experiments import executors
from pnlib.experiments.experiment import Experiment
from pnlib.experiments.grid import run_grids


def _slurm_up() -> str:
    if not shutil.which("sbatch"):
        return "no sbatch on the PATH (tools/slurm-local.sh start makes a one-node cluster)"
    try:
        ping = subprocess.run(["sinfo", "-h", "-o", "%T"], capture_output=True, text=True, timeout=30)
    except subprocess.TimeoutExpired:
        return "sbatch is there but sinfo did not answer within 30 s"
    if ping.returncode != 0 or not ping.stdout.strip():
        return f"sbatch is there but no Slurm controller answers: {ping.stderr.strip()[:200]}"
    return ""


slurm_only = pytest.mark.skipif(bool(_slurm_up()), reason=_slurm_up() or "Slurm is up")
SLURM = executors.Slurm(cpus_per_job=1, gpus_per_job=0, time_min=10, unknown_after_s=60)


@pytest.fixture(scope="module")
def serial(tiny_data, tmp_path_factory):
    root = tmp_path_factory.mktemp("serial")
    return summary(tiny_data, root, workers=1), root


@slurm_only
def test_slurm_grid_gives_the_serial_summary_and_trains_each_trajectory_once(serial, tiny_data, tmp_path):
    got = summary(tiny_data, tmp_path, executor="slurm", slurm=SLURM)
    pd.testing.assert_frame_equal(got, serial[0])
    keys = trained_keys(tmp_path)
    assert len(keys) == len(set(keys)) == len(trained_keys(serial[1]))
    assert list((tmp_path / "submitit").glob("*_log.out")), (
        "the jobs ran through sbatch, with submitit's logs"
    )


@slurm_only
def test_a_job_that_raises_on_slurm_is_a_failed_row_with_its_error(tiny_data, tmp_path):
    import dataclasses

    g = tiny_grid()
    g["mlp"]["broken"] = dataclasses.replace(g["mlp"]["full"], model_kwargs={"depth": 1, "width": 0})
    s, _ = run_grids(
        Experiment(tmp_path, tiny_data, progress=False, threads=1),
        g,
        1,
        executors.Engine("slurm", slurm=SLURM),
    )
    broken = s[s["mode"] == "broken"]
    assert (broken.status == "failed").all() and broken.error.str.contains("width must be an integer").all()
    assert (s[s["mode"] != "broken"].status == "ok").all()


@slurm_only
def test_a_scancelled_job_is_a_failed_row_within_seconds_and_a_rerun_resumes_it(tmp_path, data_root):
    ref = launch_grid(tmp_path, data_root, tmp_path / "ref", 1, tmp_path / "ref.csv", seeds=1)
    assert ref.wait(timeout=600) == 0, ref.stdout.read()[-3000:]
    # every Slurm job pauses 8 s in its first checkpoint write (mid-trajectory, with a checkpoint to
    # resume): long enough for the poll below (every 0.2 s) to catch one there
    env = pause_env("checkpoint.pt", 8)
    p = launch_grid(tmp_path, data_root, tmp_path / "cut", "slurm", tmp_path / "cut.csv", env=env, seeds=1)
    victim = None
    for _ in range(600):  # a running job that has begun its first checkpoint: mid-trajectory
        begun = list((tmp_path / "cut" / "trajectories").rglob("*checkpoint*"))
        jobs = subprocess.run(
            ["squeue", "-h", "-t", "RUNNING", "-o", "%i"], capture_output=True, text=True
        ).stdout.split()
        if begun and jobs:
            victim = jobs[0]
            break
        time.sleep(0.2)
    assert victim is not None, "no Slurm job reached its first checkpoint"
    subprocess.run(["scancel", victim], check=True)
    cancelled, seen = time.monotonic(), None
    log = tmp_path / "cut" / "jobs.log"  # one line per finished job (the report prints one per grid)
    while seen is None and time.monotonic() - cancelled < 60 and p.poll() is None:
        if log.exists() and "failed" in log.read_text():
            seen = time.monotonic() - cancelled
        time.sleep(0.2)
    out, _ = p.communicate(timeout=300)
    assert p.returncode == 0, out[-3000:]
    if seen is None and log.exists() and "failed" in log.read_text():  # the grid ended first
        seen = time.monotonic() - cancelled
    assert seen is not None and seen < 15, f"the cancelled job became a row after {seen} s:\n{out[-2000:]}"
    first = pd.read_csv(tmp_path / "cut.csv")
    assert (first.status == "failed").any() and first.error.str.contains("slurm job").any(), first
    again = launch_grid(tmp_path, data_root, tmp_path / "cut", "slurm", tmp_path / "again.csv", seeds=1)
    assert again.wait(timeout=600) == 0, again.stdout.read()[-3000:]
    pd.testing.assert_frame_equal(
        pd.read_csv(tmp_path / "again.csv")[KEYS], pd.read_csv(tmp_path / "ref.csv")[KEYS]
    )


# -- a real dask cluster: the command-line scheduler and two workers on loopback -----------------------
@pytest.fixture
def dask_cluster(tmp_path):
    dask = Path(sys.executable).with_name("dask")
    if not dask.exists():
        pytest.skip(f"no dask command next to {sys.executable} (pip install distributed)")
    sched_file = tmp_path / "scheduler.json"
    procs = [
        subprocess.Popen(
            [
                str(dask),
                "scheduler",
                "--host",
                "127.0.0.1",
                "--port",
                "0",
                "--no-dashboard",
                "--scheduler-file",
                str(sched_file),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
    ]
    for _ in range(100):
        if sched_file.exists() and sched_file.stat().st_size:
            break
        time.sleep(0.1)
    address = json.loads(sched_file.read_text())["address"]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    workers = [
        subprocess.Popen(
            [
                str(dask),
                "worker",
                address,
                "--nthreads",
                "1",
                "--nworkers",
                "1",
                "--no-dashboard",
                "--host",
                "127.0.0.1",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            env=env,
        )
        for _ in range(2)
    ]
    procs += workers
    from distributed import Client

    with Client(address, timeout=30) as c:
        c.wait_for_workers(2, timeout=60)
    yield address, workers
    for proc in procs:  # only what this fixture started, by pid
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
    for proc in procs:
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()


def test_a_real_dask_cluster_gives_the_serial_summary(dask_cluster, serial, tiny_data, tmp_path):
    address, _ = dask_cluster
    got = summary(tiny_data, tmp_path, executor="dask", dask_address=address)
    pd.testing.assert_frame_equal(got, serial[0])
    assert len(trained_keys(tmp_path)) == len(set(trained_keys(tmp_path))) == len(trained_keys(serial[1]))


def test_killing_a_dask_worker_mid_grid_finishes_and_a_rerun_matches(
    dask_cluster, serial, tiny_data, tmp_path
):
    address, workers = dask_cluster
    log = tmp_path / "trained.log"

    def kill_when_started():
        deadline = time.monotonic() + 300  # a loaded machine (make test's other worker) starts slowly
        while time.monotonic() < deadline:
            if log.exists() and log.read_text().strip():
                workers[0].kill()  # a worker dies with jobs on it
                return
            time.sleep(0.05)

    killer = threading.Thread(target=kill_when_started)
    killer.start()
    first = summary(tiny_data, tmp_path, executor="dask", dask_address=address)
    killer.join()
    assert workers[0].poll() is not None
    # dask reschedules the lost worker's jobs, or they come back as failed rows: either way the grid ends
    assert len(first) == len(serial[0]) and first.status.isin(["ok", "failed"]).all()
    again = summary(tiny_data, tmp_path, executor="dask", dask_address=address)
    # finished runs are read back from their CSV (string columns come back as another dtype): values compared
    pd.testing.assert_frame_equal(again, serial[0], check_dtype=False)
