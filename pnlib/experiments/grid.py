"""Grids of runs: the persistent modes of a (model, init) cell, their equal-compute baselines, and
one job per (cell, seed) on an engine of ``pnlib.experiments.executors``.

A job is one ``Experiment.run`` (a persistent run with its K trajectories in order, a restart set,
a longer run, ...). Jobs are plain picklable values; a worker rebuilds the dataset from
``Data.source`` once per process. Jobs that share trajectory 1 need no ordering: the lock per
trajectory lets one worker train it while the others wait and read it. A job's result depends
only on its config, seed and thread count, never on which worker ran it. A job that raises is
rows with ``status="failed"`` and the error; the other jobs finish.
"""

from __future__ import annotations

import functools
import os
import time
from dataclasses import dataclass, replace

import pandas as pd

from pnlib.base import labels, store
from pnlib.experiments import executors
from pnlib.experiments.executors import Engine
from pnlib.experiments.experiment import Experiment
from pnlib.experiments.methods import REGISTRY, method_name
from pnlib.train.data import load_dataset
from pnlib.train.models import BUILTIN_MODELS
from pnlib.train.runs import RunConfig


@dataclass(frozen=True)
class Job:
    root: str  # the experiment's results folder
    data: tuple  # Data.source: how the worker loads the same splits
    method: str  # a name of pnlib.experiments.methods.REGISTRY
    cfg: object  # RunConfig
    seed: int
    mode: str = ""  # the grid's name for the persistent mode
    threads: int = 1  # torch CPU threads of this job (part of its result's identity)
    device: str = "cpu"  # the submitting process's device: results are keyed and read back there

    @property
    def label(self) -> str:
        return f"{self.method} {self.cfg.model}/{self.cfg.init} {self.mode or '-'} seed {self.seed}"


@functools.lru_cache(maxsize=2)
def _dataset(source: tuple, device: str):
    return load_dataset(**dict(source), device=device)


def run_job(job: Job, data=None) -> pd.DataFrame:
    """Run one job in this process (on ``data``, else the dataset rebuilt from ``job.data``); never
    raises (a failure becomes rows with ``status="failed"``)."""
    t0 = time.perf_counter()
    try:
        data = data if data is not None else _dataset(job.data, job.device)
        exp = Experiment(
            job.root, data, progress=False, worker=os.environ.get("SLURM_JOB_ID") or None, threads=job.threads
        )
        rows = exp.run(job.method, job.cfg, job.seed).assign(
            mode=job.mode, train_seconds=exp.train_seconds(job.method, job.cfg, job.seed)
        )
    except Exception as exc:  # one broken job must not take the grid down
        rows = failed_rows(job, f"{type(exc).__name__}: {exc}")
    return rows.assign(job_seconds=time.perf_counter() - t0)


def failed_rows(job: Job, reason: str) -> pd.DataFrame:
    """The rows the job would have given, with ``status="failed"`` and the error: a failure is a row
    of the table, never a gap."""
    E = job.cfg.train.num_epochs * job.cfg.K
    cells = (
        REGISTRY[job.method].cells(job.cfg)
        if job.method in REGISTRY  # an unknown method fails as its rows
        else [(job.method, "selected", E), (job.method, "ensemble", E)]
    )
    return pd.DataFrame(
        [
            {
                "dataset": dict(job.data).get("name"),
                "model": job.cfg.model,
                "init": job.cfg.init,
                "mode": job.mode,
                "K": job.cfg.K,
                "seed": job.seed,
                "method": m,
                "selection": sel,
                "epochs": epochs,
                "status": "failed",
                "error": reason,
                "job_seconds": 0.0,
            }
            for m, sel, epochs in cells
        ]
    )


def run_jobs(jobs: list[Job], engine: Engine = Engine(), *, data=None) -> list[pd.DataFrame]:
    """Every job's rows on ``engine`` (its jobs at their own thread count). ``data``: the dataset
    already in this process, used when the jobs run here (one local worker)."""
    if not jobs:
        return []
    engine = replace(engine, threads=jobs[0].threads)
    here = engine.in_this_process()
    if not here and not all(job.data for job in jobs):
        raise ValueError(
            "these jobs' dataset has no source (a Data built by hand), so no other process can "
            "load it: run with executor='local', workers=1, or load it with pnlib.load_dataset"
        )
    registered = sorted({job.cfg.model for job in jobs} - set(BUILTIN_MODELS))
    if not here and registered:
        raise ValueError(
            f"model(s) {', '.join(registered)} were registered in this process only, so other "
            f"processes cannot build them: run with executor='local', workers=1"
        )

    def describe(job, rows):
        return f"{job.label} ({','.join(sorted(set(rows.status.astype(str))))}, {rows.job_seconds.iloc[0]:.0f} s)"

    def lost(job, reason):
        return failed_rows(job, reason).assign(job_seconds=0.0)

    log = os.path.join(jobs[0].root, "jobs.log")  # one line per finished job: the report stays short

    return executors.run(
        run_job,
        jobs,
        engine,
        in_process=functools.partial(run_job, data=data),
        on_lost=lost,
        describe=describe,
        folder=os.path.join(jobs[0].root, "submitit"),
        log=lambda line: store.append_line(log, f"{time.strftime('%Y-%m-%dT%H:%M:%S')} {line}"),
    )


# -- the cells of a grid --------------------------------------------------------------------------
def modes(full: RunConfig, partial: dict[str, tuple[str, ...]] | None = None) -> dict[str, RunConfig]:
    """The persistent modes of one cell: ``re-runs from θ₀`` (no penalty), ``full`` (the cell as
    given: full persistence), and each named ``partial`` subset (module-name patterns)."""
    if full.penalty is None:
        raise ValueError(
            "modes needs the cell with its (full) penalty: give a RunConfig with a PenaltyConfig"
        )
    return {
        labels.RE_RUNS: replace(full, penalty=None),
        "full": full,
        **{
            name: replace(full, penalty=replace(full.penalty, include=pats))
            for name, pats in (partial or {}).items()
        },
    }


def penalty_settings(base: RunConfig, strengths, kernels, bandwidths) -> dict[str, RunConfig]:
    """``base`` with every penalty setting λ × kernel × bandwidth, by label ``λ=… · kernel · bandwidth``."""
    return {
        f"λ={lam:g} · {kern} · {bw if bw == 'travel' else f'fixed {bw:g}'}": replace(
            base, penalty=replace(base.penalty, strength=lam, kernel=kern, bandwidth=bw)
        )
        for lam in strengths
        for kern in kernels
        for bw in bandwidths
    }


def grid_cells(modes: dict[str, RunConfig]) -> list[tuple[str, str, RunConfig]]:
    """A grid's cells: a persistent run per mode (``penalty=None`` gives the re-runs from θ₀),
    then the equal-compute restarts and longer runs of the plain config."""
    plain = replace(next(iter(modes.values())), penalty=None)
    return [("persistent", mode, c) for mode, c in modes.items()] + [
        (m, "", plain) for m in ("restarts", "longer")
    ]


def cell_jobs(exp: Experiment, cells: list[tuple[str, str, RunConfig]], seeds) -> list[Job]:
    """One job per (cell, seed); a cell is (method, mode label, RunConfig). Cells come first across
    seeds, so concurrent workers start on different trajectories 1."""
    common = dict(
        root=str(exp.root),
        data=exp.data.source,
        threads=exp.threads or 1,
        device=str(exp.data.X_train.device),
    )
    return [Job(method=m, cfg=c, seed=seed, mode=mode, **common) for m, mode, c in cells for seed in seeds]


def cell_histories(exp: Experiment, cells: list[tuple[str, str, RunConfig]], seeds) -> pd.DataFrame:
    """Per-epoch histories of every finished trajectory of the cells (method, mode, seed, k)."""
    out = []
    for seed in seeds:
        for method, mode, c in cells:
            if not exp.run_dir(method, c, seed).done("trajectories.csv"):
                continue  # a failed job: its rows in the summary say why
            for r in exp.trajectories(method, c, seed).itertuples():
                if r.status == "ok":
                    out.append(
                        exp.history(r.key).assign(
                            model=c.model,
                            init=c.init,
                            method=method_name(method, c),
                            mode=mode,
                            seed=seed,
                            k=r.k,
                        )
                    )
    return pd.concat(out, ignore_index=True) if out else pd.DataFrame()


def run_cells(
    exp: Experiment,
    cells: list[tuple[str, str, RunConfig]],
    seeds,
    engine: Engine = Engine(),
    *,
    name: str = "summary",
):
    """Every cell (method, mode label, RunConfig) over ``seeds`` on ``engine`` (see
    ``pnlib.experiments.executors``): the summary rows (failed jobs included, with their error) and the
    per-epoch histories, also written to ``<name>.csv`` and ``<name>_histories.csv``."""
    t0 = time.perf_counter()
    seeds = list(seeds)
    jobs = cell_jobs(exp, cells, seeds)
    summary = pd.concat(run_jobs(jobs, engine, data=exp.data), ignore_index=True)
    histories = cell_histories(exp, cells, seeds)
    store.write_csv(exp.root / f"{name}.csv", summary)
    store.write_csv(exp.root / ("histories.csv" if name == "summary" else f"{name}_histories.csv"), histories)
    failed = summary[summary.status == "failed"]
    print(
        f"{name}: {len(jobs)} jobs ({engine.executor}, {exp.threads or 1} thread(s) each) in "
        f"{(time.perf_counter() - t0) / 60:.1f} min on {exp.data.X_train.device} (one line per job in "
        f"jobs.log); finished runs are reused, so a rerun is fast"
        + (
            f"; {failed.groupby(['method', 'mode', 'seed']).ngroups} runs FAILED (their rows say "
            f"why): rerun to resume them"
            if len(failed)
            else ""
        )
    )
    return summary, histories


def run_grids(exp: Experiment, grids: dict[str, dict[str, RunConfig]], seeds: int, engine: Engine = Engine()):
    """Every grid (``grid``'s persistent modes, plus restarts and longer) over seeds 0 … seeds − 1:
    ``run_cells`` on their ``grid_cells``."""
    cells = [c for modes in grids.values() for c in grid_cells(modes)]
    return run_cells(exp, cells, range(seeds), engine)
