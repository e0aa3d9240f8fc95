"""Run a grid of jobs on an existing engine: processes on this machine (``local``), a Slurm cluster
through submitit (``slurm``), or a dask.distributed cluster (``dask``). No scheduler of our own.

A job is one ``Experiment.run`` (a persistent run with its K trajectories in order, a restart set,
or a longer run). Jobs are plain picklable values; a worker rebuilds the dataset from
``Data.source`` once per process. Jobs that share trajectory 1 need no ordering: a lock per
trajectory (``Experiment.trajectory``) lets one worker train it while the others wait and read it.

A job's result depends only on its config, its seed and its thread count (``threads``, fixed per
job and recorded), never on which worker ran it or how many ran at once. A job that raises is
returned as rows with ``status="failed"`` and the error; the other jobs finish.
"""
from __future__ import annotations

import functools
import os
import time
from dataclasses import dataclass, field

import pandas as pd
import torch

from . import checks
from .models import BUILTIN_MODELS

EXECUTORS = ("local", "slurm", "dask")


@dataclass(frozen=True)
class Job:
    root: str                # the experiment's results folder
    data: tuple              # Data.source: how the worker loads the same splits
    method: str              # persistent | restarts | longer | snapshot | kick | repulsive
    cfg: object              # RunConfig
    seed: int
    mode: str = ""           # the grid's name for the persistent mode
    threads: int = 1         # torch CPU threads of this job (part of its result's identity)
    device: str = "cpu"      # the submitting process's device: results are keyed and read back there

    @property
    def label(self) -> str:
        return f"{self.method} {self.cfg.model}/{self.cfg.init} {self.mode or '-'} seed {self.seed}"


@dataclass(frozen=True)
class Slurm:
    """submitit's Slurm parameters (``cluster="local"`` runs the same pickled jobs as local processes)."""
    partition: str | None = None
    gpus_per_job: int = 1
    cpus_per_job: int = 4
    time_min: int = 120
    array_parallelism: int = 16
    cluster: str | None = None   # None: Slurm when sbatch is there; "local": submitit's LocalExecutor
    extra: dict = field(default_factory=dict)


@functools.lru_cache(maxsize=2)
def _data(source: tuple, device: str):
    from .data import load_dataset
    return load_dataset(**dict(source), device=device)


def run_job(job: Job, data=None) -> pd.DataFrame:
    """Run one job in this process (on ``data``, else the dataset rebuilt from ``job.data``); never
    raises (a failure becomes rows with ``status="failed"``)."""
    from .protocol import Experiment
    torch.set_num_threads(job.threads)
    t0 = time.perf_counter()
    try:
        data = data if data is not None else _data(job.data, job.device)
        exp = Experiment(job.root, data, progress=False, worker=os.environ.get("SLURM_JOB_ID") or None,
                         threads=job.threads)
        rows = exp.run(job.method, job.cfg, job.seed).assign(mode=job.mode)
    except Exception as exc:  # one broken job must not take the grid down
        rows = _failed(job, f"{type(exc).__name__}: {exc}")
    return rows.assign(job_seconds=time.perf_counter() - t0)


def resolve_workers(workers, threads: int) -> int:
    """``"auto"``: as many workers as the machine's cores hold jobs of ``threads`` threads; one on a
    GPU machine (local workers would all share the first GPU: for several GPUs use ``slurm`` or
    ``dask`` with one GPU per job)."""
    if workers == "auto":
        if torch.cuda.is_available():
            return 1
        cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
        return max(1, cores // threads)
    checks.integer("workers", workers)
    return workers


def from_config(cfg) -> dict:
    """The ``run`` keyword arguments from a notebook's config (``executor``, ``workers``, ``slurm_*``,
    ``dask_address``)."""
    slurm = Slurm(partition=cfg.slurm_partition, gpus_per_job=cfg.slurm_gpus, cpus_per_job=cfg.slurm_cpus,
                  time_min=cfg.slurm_time_min, array_parallelism=cfg.slurm_array_parallelism)
    return dict(executor=cfg.executor, workers=cfg.workers, slurm=slurm, dask_address=cfg.dask_address)


def run(jobs: list[Job], executor: str = "local", workers="auto", *, slurm: Slurm | None = None,
        dask_address: str | None = None, data=None, log=print) -> list[pd.DataFrame]:
    """Every job's rows, in the order of ``jobs``, with one progress bar and a log line per job.
    ``data``: the dataset already in this process, used when the jobs run here (1 local worker)."""
    from tqdm.auto import tqdm
    checks.choice("executor", executor, EXECUTORS)
    if not jobs:
        return []
    n_local = resolve_workers(workers, jobs[0].threads) if executor == "local" else None
    if n_local != 1 and not all(job.data for job in jobs):
        raise ValueError("these jobs' dataset has no source (a Data built by hand), so no other process can "
                         "load it: run with executor='local', workers=1, or load it with pnlib.load_dataset")
    registered = sorted({job.cfg.model for job in jobs} - set(BUILTIN_MODELS))
    if n_local != 1 and registered:
        raise ValueError(f"model(s) {', '.join(registered)} were registered in this process only, so other "
                         f"processes cannot build them: run with executor='local', workers=1")
    results: dict[int, pd.DataFrame] = {}
    bar = tqdm(total=len(jobs), desc=f"{executor} grid", unit="job")

    def done(i: int, rows: pd.DataFrame) -> None:
        results[i] = rows
        status = ",".join(sorted(set(rows.status.astype(str))))
        log(f"done {i + 1}/{len(jobs)}: {jobs[i].label} ({status}, {rows.job_seconds.iloc[0]:.0f} s)")
        bar.update()

    if executor == "local":
        _local(jobs, n_local, done, data)
    elif executor == "slurm":
        _slurm(jobs, slurm or Slurm(), done)
    else:
        _dask(jobs, workers, dask_address, done)
    bar.close()
    return [results[i] for i in range(len(jobs))]


def _failed(job: Job, reason: str) -> pd.DataFrame:
    """The rows the job would have given, with ``status="failed"`` and the error: a failure is a row
    of the table, never a gap."""
    from .protocol import method_name
    name = method_name(job.method, job.cfg)
    cells = {"persistent": [("trajectory 1", ""), (name, "selected"), (name, "ensemble")],
             "longer": [("longer", "")]}.get(job.method, [(name, "selected"), (name, "ensemble")])
    epochs = job.cfg.train.num_epochs
    return pd.DataFrame([{"dataset": dict(job.data).get("name"), "model": job.cfg.model, "init": job.cfg.init, "mode": job.mode, "K": job.cfg.K,
                          "seed": job.seed, "method": m, "selection": sel,
                          "epochs": epochs if m == "trajectory 1" else epochs * job.cfg.K, "status": "failed",
                          "error": reason, "job_seconds": 0.0} for m, sel in cells])


def _local(jobs, workers, done, data=None) -> None:
    if workers == 1:  # in this process: no start-up cost, and the same code path as a worker
        for i, job in enumerate(jobs):
            done(i, run_job(job, data))
        return
    import multiprocessing as mp
    from concurrent.futures import ProcessPoolExecutor, as_completed
    # spawn, not fork: a forked child of a process that already ran torch's thread pools can hang
    with ProcessPoolExecutor(max_workers=workers, mp_context=mp.get_context("spawn")) as pool:
        futures = {pool.submit(run_job, job): i for i, job in enumerate(jobs)}
        for f in as_completed(futures):
            i = futures[f]
            try:
                done(i, f.result())
            except Exception as exc:  # a worker killed mid-job: rerunning the grid resumes it
                done(i, _failed(jobs[i], f"worker lost: {type(exc).__name__}: {exc}"))


def _slurm(jobs, cfg: Slurm, done) -> None:
    import submitit
    folder = os.path.join(jobs[0].root, "submitit")
    ex = submitit.AutoExecutor(folder=folder, cluster=cfg.cluster)
    params = dict(timeout_min=cfg.time_min, cpus_per_task=cfg.cpus_per_job, slurm_array_parallelism=cfg.array_parallelism,
                  **cfg.extra)
    if cfg.cluster != "local":
        params.update(gpus_per_node=cfg.gpus_per_job, **({"slurm_partition": cfg.partition} if cfg.partition else {}))
    ex.update_parameters(**params)
    submitted = ex.map_array(run_job, jobs)
    pending = dict(enumerate(submitted))
    while pending:
        for i, j in list(pending.items()):
            if j.done():
                try:
                    done(i, j.result())
                except Exception as exc:  # killed, timed out or pre-empted: rerunning the grid resumes it
                    done(i, _failed(jobs[i], f"slurm job {j.job_id}: {type(exc).__name__}: {exc}"))
                del pending[i]
        time.sleep(0.5 if pending else 0)


def _dask(jobs, workers, address, done) -> None:
    from distributed import Client, LocalCluster, as_completed
    cluster = None
    if address is None:
        n = resolve_workers(workers, jobs[0].threads)
        cluster = LocalCluster(n_workers=n, threads_per_worker=1, processes=True, dashboard_address=None)
    client = Client(address or cluster)
    try:
        futures = client.map(run_job, jobs, pure=False)
        index = {f.key: i for i, f in enumerate(futures)}
        for f in as_completed(futures):
            i = index[f.key]
            try:
                done(i, f.result())
            except Exception as exc:
                done(i, _failed(jobs[i], f"dask worker: {type(exc).__name__}: {exc}"))
    finally:
        client.close()
        if cluster is not None:
            cluster.close()
