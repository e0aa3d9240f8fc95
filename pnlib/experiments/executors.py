"""Map a picklable function over jobs on an existing engine: processes on this machine (``local``),
a Slurm cluster through submitit (``slurm``), or a dask.distributed cluster (``dask``). No
scheduler of our own, and nothing here knows what a job is (``pnlib.experiments.grid`` does).

Results come back in the order of the jobs, with one progress bar and a log line per job. A job
whose worker is lost (killed, timed out, pre-empted) gets ``on_lost(job, reason)`` as its result,
so one broken job never takes the grid down.
"""

from __future__ import annotations

import functools
import os
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Callable

import torch
from tqdm.std import tqdm

from pnlib.base import checks

EXECUTORS = ("local", "slurm", "dask")


@dataclass(frozen=True)
class Slurm:
    """submitit's Slurm parameters (``cluster="local"`` runs the same pickled jobs as local processes)."""

    partition: str | None = None
    gpus_per_job: int = 1
    cpus_per_job: int = 4
    time_min: int = 120
    array_parallelism: int = 16
    cluster: str | None = None  # None: Slurm when sbatch is there; "local": submitit's LocalExecutor
    extra: dict = field(default_factory=dict)
    # a job whose state Slurm cannot tell (UNKNOWN: sacct failing, no accounting) for this long is
    # given up as lost instead of waited on forever
    unknown_after_s: float = 120.0


@dataclass(frozen=True)
class Engine:
    """Where jobs run: ``executor`` (``local`` processes, ``slurm`` through submitit, or ``dask``),
    ``workers`` (local processes, or a dask LocalCluster's; ``"auto"`` fills the cores), torch
    ``threads`` per job, the Slurm settings, and a dask scheduler's address (None: a LocalCluster)."""

    executor: str = "local"
    workers: int | str = "auto"
    threads: int = 1
    slurm: Slurm = field(default_factory=Slurm)
    dask_address: str | None = None

    def __post_init__(self):
        checks.choice("executor", self.executor, EXECUTORS)
        checks.integer("threads", self.threads)
        if self.workers != "auto":
            checks.integer("workers", self.workers)

    def in_this_process(self) -> bool:
        """Whether the jobs run here, one after the other (one local worker)."""
        return self.executor == "local" and resolve_workers(self.workers, self.threads) == 1


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


def run(
    fn: Callable,
    jobs: list,
    engine: Engine,
    *,
    in_process: Callable | None = None,
    on_lost: Callable,
    describe: Callable = lambda job, result: str(job),
    folder: str = "submitit",
    log=print,
    on_result: Callable | None = None,
) -> list:
    """``fn(job)`` for every job, in the order of ``jobs``, on ``engine``. ``in_process``: what runs
    a job when the jobs run in this process (one local worker), e.g. on data already in memory.
    ``describe(job, result)`` is the job's log line; ``folder`` holds submitit's logs and pickles;
    ``on_result(i, result)`` is called as each job finishes (to keep it before the others end)."""
    if not jobs:
        return []
    results: dict[int, object] = {}
    bar = progress(len(jobs), f"{engine.executor} grid")

    def done(i: int, result) -> None:
        results[i] = result
        if on_result is not None:
            on_result(i, result)
        log(f"done {i + 1}/{len(jobs)}: {describe(jobs[i], result)}")
        bar.update()

    threads = engine.threads
    if engine.executor == "local":
        _local(fn, jobs, resolve_workers(engine.workers, threads), threads, done, on_lost, in_process)
    elif engine.executor == "slurm":
        _slurm(functools.partial(in_job_process, fn, threads), jobs, engine.slurm, folder, done, on_lost)
    else:
        _dask(fn, jobs, engine.workers, threads, engine.dask_address, done, on_lost)
    bar.close()
    return [results[i] for i in range(len(jobs))]


class InKernelProgress:
    """A grid's progress in a Jupyter kernel: one text line updated in place (a display id), so the
    saved report, read in a static view, shows the grid's last state, not an empty widget."""

    def __init__(self, total: int, desc: str):
        from IPython.display import display

        self.total, self.desc, self.n, self.t0, self.shown = total, desc, 0, time.monotonic(), 0.0
        self.handle = display(self.line(), display_id=True)

    def line(self):
        from IPython.display import Pretty

        done = int(20 * self.n / self.total)
        minutes = (time.monotonic() - self.t0) / 60
        return Pretty(
            f"{self.desc} {'█' * done}{'·' * (20 - done)} {self.n}/{self.total} jobs, {minutes:.1f} min"
        )

    def update(self, n: int = 1) -> None:
        self.n += n
        if self.n == self.total or time.monotonic() - self.shown > 1:
            self.shown = time.monotonic()
            self.handle.update(self.line())

    def close(self) -> None:
        self.handle.update(self.line())


def progress(total: int, desc: str):
    """A progress bar for ``total`` jobs: a line updated in place in a Jupyter kernel, tqdm elsewhere."""
    try:
        from IPython import get_ipython

        in_kernel = getattr(get_ipython(), "kernel", None) is not None
    except ImportError:
        in_kernel = False
    return InKernelProgress(total, desc) if in_kernel else tqdm(total=total, desc=desc, unit="job")


@contextmanager
def torch_threads(n: int):
    """torch's CPU threads at ``n`` inside, as they were after: how a job runs in this process."""
    old = torch.get_num_threads()
    torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(old)


def start_worker(threads: int) -> None:
    """Where a worker process starts (a pool's initializer, each dask worker): its torch threads."""
    torch.set_num_threads(threads)


def in_job_process(fn: Callable, threads: int, job) -> object:
    """A Slurm job is a process of its own: its threads are set where it starts, then ``fn(job)``."""
    start_worker(threads)
    return fn(job)


def call(job: tuple) -> object:
    """``fn(**kwargs)`` for a job ``(fn, kwargs)``."""
    fn, kwargs = job
    return fn(**kwargs)


def starmap(
    jobs: list[tuple[Callable, dict]], workers="auto", *, threads: int = 1, on_result: Callable | None = None
) -> list:
    """``fn(**kwargs)`` for each ``(fn, kwargs)`` of ``jobs``, in order, on ``workers`` local processes
    of ``threads`` torch threads each (``"auto"``: as many as the cores hold); with one worker, in
    this process at ``threads`` threads, restored after. A lost worker stops the map with an error
    (what finished before it is the caller's to keep: ``on_result(i, result)`` sees each job as it
    finishes, e.g. to write it to a cache)."""

    def lost(job, reason):
        raise RuntimeError(
            f"{reason} (in {job[0].__name__}); rerun to compute what is missing, or pass workers=1 "
            "to run in this process"
        )

    return run(
        call,
        list(jobs),
        Engine(workers=workers, threads=threads),
        in_process=call,
        on_lost=lost,
        log=lambda line: None,
        on_result=on_result,
    )


def _local(fn, jobs, workers, threads, done, on_lost, in_process=None) -> None:
    if workers == 1:  # in this process: no start-up cost, and the same code path as a worker
        with torch_threads(threads):
            for i, job in enumerate(jobs):
                done(i, (in_process or fn)(job))
        return
    import multiprocessing as mp
    from concurrent.futures import ProcessPoolExecutor, as_completed

    # spawn, not fork: a forked child of a process that already ran torch's thread pools can hang
    with ProcessPoolExecutor(
        max_workers=workers, mp_context=mp.get_context("spawn"), initializer=start_worker, initargs=(threads,)
    ) as pool:
        futures = {pool.submit(fn, job): i for i, job in enumerate(jobs)}
        for f in as_completed(futures):
            i = futures[f]
            try:
                done(i, f.result())
            except Exception as exc:  # a worker killed mid-job: rerunning the grid resumes it
                done(i, on_lost(jobs[i], f"worker lost: {type(exc).__name__}: {exc}"))


def _slurm(fn, jobs, cfg: Slurm, folder: str, done, on_lost) -> None:
    import submitit

    ex = submitit.AutoExecutor(folder=folder, cluster=cfg.cluster)
    params = dict(
        timeout_min=cfg.time_min,
        cpus_per_task=cfg.cpus_per_job,
        slurm_array_parallelism=cfg.array_parallelism,
        **cfg.extra,
    )
    if cfg.cluster != "local":
        params.update(
            gpus_per_node=cfg.gpus_per_job, **({"slurm_partition": cfg.partition} if cfg.partition else {})
        )
    ex.update_parameters(**params)
    submitted = ex.map_array(fn, jobs)
    pending, unknown_since = dict(enumerate(submitted)), {}
    # submitit asks Slurm less and less often as jobs age (up to once a minute): ask every 2 s, one
    # sacct call for all jobs, so a cancelled or killed job is seen within seconds
    watcher, asked = getattr(submitted[0], "watcher", None) if cfg.cluster != "local" else None, 0.0
    while pending:
        if watcher is not None and time.monotonic() - asked >= 2.0:
            watcher.update()
            asked = time.monotonic()
        for i, j in list(pending.items()):
            state = j.state if cfg.cluster != "local" else "RUNNING"
            # a job Slurm ended badly is lost now: asking submitit for its result would first wait for
            # an output file that a cancelled job never writes
            if state.startswith("CANCELLED") or state in (
                "FAILED",
                "TIMEOUT",
                "NODE_FAIL",
                "OUT_OF_MEMORY",
                "PREEMPTED",
                "BOOT_FAIL",
                "DEADLINE",
            ):
                done(
                    i,
                    on_lost(
                        jobs[i],
                        f"slurm job {j.job_id} ended {state} before it returned: rerun the grid "
                        f"to resume it from its checkpoint",
                    ),
                )
                del pending[i]
            elif j.done():
                try:
                    done(i, j.result())
                except Exception as exc:  # killed, timed out or pre-empted: a rerun resumes it
                    done(i, on_lost(jobs[i], f"slurm job {j.job_id}: {type(exc).__name__}: {exc}"))
                del pending[i]
            elif state == "UNKNOWN":
                if time.monotonic() - unknown_since.setdefault(i, time.monotonic()) > cfg.unknown_after_s:
                    done(
                        i,
                        on_lost(
                            jobs[i],
                            f"slurm job {j.job_id}: Slurm reported its state as UNKNOWN for "
                            f"{cfg.unknown_after_s:g} s, so its end cannot be seen; sacct needs "
                            f"accounting (slurmdbd) to work (tools/slurm-local.sh starts it)",
                        ),
                    )
                    del pending[i]
            else:
                unknown_since.pop(i, None)
        time.sleep(0.5 if pending else 0)


def _dask(fn, jobs, workers, threads, address, done, on_lost) -> None:
    from distributed import Client, LocalCluster, as_completed

    cluster = None
    if address is None:
        cluster = LocalCluster(
            n_workers=resolve_workers(workers, threads),
            threads_per_worker=1,
            processes=True,
            dashboard_address=":0",  # a free port: None still takes 8787 (dask/distributed#8136)
        )
    client = Client(address or cluster)
    try:
        client.run(start_worker, threads)  # every worker process of the cluster, once
        futures = client.map(fn, jobs, pure=False)
        index = {f.key: i for i, f in enumerate(futures)}
        for f in as_completed(futures):
            i = index[f.key]
            try:
                done(i, f.result())
            except Exception as exc:
                done(i, on_lost(jobs[i], f"dask worker: {type(exc).__name__}: {exc}"))
    finally:
        client.close()
        if cluster is not None:
            cluster.close()
