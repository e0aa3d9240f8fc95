"""Profiles (``smoke`` / ``cpu`` / ``paper``) and the one path from a notebook's parameters cell
to its frozen, validated config.

A notebook's ``parameters`` cell is the only place that lists its parameters; ``None`` means
"take the profile's value". The next cell is one line, ``cfg = profiles.config_for("01_method",
globals())``: it reads the values of the parameter names below, fills the ``None`` ones from the profile's preset
below, validates each by its name (a name means the same thing in every notebook) and returns a
frozen dataclass. Precedence of the profile: an explicit ``profile`` (``papermill -p profile
paper``, ``make run PROFILE=paper``) beats ``$PNLIB_PROFILE``, which beats the default ``cpu``.
nbval cannot inject parameters, so ``PNLIB_PROFILE=smoke`` is how ``make test`` runs the small
version.
"""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path

import pandas as pd

from pnlib.base import checks, store
from pnlib.experiments import executors
from pnlib.experiments.configs import CONFIGS, DEFAULT_PROFILE, PROFILES, NotebookConfig
from pnlib.experiments.presets import PRESETS

ENV = "PNLIB_PROFILE"


# parameters that say where and how fast a part is computed, not what it holds: not in its key
EXECUTION = (
    "executor",
    "workers",
    "dask_address",
    "slurm_partition",
    "slurm_gpus",
    "slurm_cpus",
    "slurm_time_min",
    "slurm_array_parallelism",
)


def _part(cfg, part: str, chunk) -> tuple[Path, dict]:
    key = {k: v for k, v in dataclasses.asdict(cfg).items() if k not in EXECUTION}
    return cfg.results / "parts" / f"{part}.csv", {**key, "chunk": chunk}


def cached(cfg, part: str, chunk, compute):
    """``store.cached_table`` of one part of a notebook's results (``parts/<part>.csv``), keyed by the
    config (less its ``EXECUTION`` parameters) and ``chunk`` (what tells the parts apart): a changed
    parameter recomputes it."""
    return store.cached_table(*_part(cfg, part, chunk), compute)


def cached_jobs(cfg, parts: dict[str, tuple[object, list[tuple]]], cost=None) -> pd.DataFrame:
    """Several ``cached`` parts at once, each ``name: (chunk, jobs)``, a part being the concatenation of
    its jobs' tables (a job is ``(fn, kwargs)``, ``fn`` a module-level function). The jobs of every part
    not on disk run together on ``cfg.workers`` processes of one thread (``executors.starmap``); the
    batched programs give the same numbers with one thread or two (tested). A part is written as
    soon as its last job finishes, so an interrupted run keeps every finished part. ``cost(job)``: a
    job's expected work, if known beforehand; the jobs then start largest first, so that no long job
    is left running alone at the end (the tables are the same). All parts, concatenated."""
    todo = [
        (name, job)
        for name, (chunk, jobs) in parts.items()
        if not store.is_cached(*_part(cfg, name, chunk))
        for job in jobs
    ]
    order = sorted(range(len(todo)), key=lambda i: -cost(todo[i][1])) if cost else list(range(len(todo)))
    owed = {name: sum(n == name for n, _ in todo) for name, _ in todo}
    got: dict[str, dict[int, pd.DataFrame]] = {}

    def keep(at: int, table: pd.DataFrame) -> None:
        i = order[at]  # the job's place in its part
        name = todo[i][0]
        got.setdefault(name, {})[i] = table
        if len(got[name]) == owed[name]:
            tables = [got[name][j] for j in sorted(got[name])]
            cached(cfg, name, parts[name][0], lambda: pd.concat(tables, ignore_index=True))

    executors.starmap([todo[i][1] for i in order], cfg.workers, on_result=keep)

    def missing(name):
        raise RuntimeError(f"part {name} was not computed: rerun the cell")

    return pd.concat(
        [cached(cfg, name, chunk, lambda name=name: missing(name)) for name, (chunk, _) in parts.items()],
        ignore_index=True,
    )


def resolve_profile(profile: str | None = None) -> tuple[str, str]:
    """The profile in force and where it came from: ``profile`` if given, else ``$PNLIB_PROFILE``,
    else the default (``cpu``)."""
    env = os.environ.get(ENV)
    if profile is not None:
        name, source = profile, "the notebook's profile parameter"
    elif env:
        name, source = env, f"${ENV}"
    else:
        name, source = DEFAULT_PROFILE, "the default"
    if name not in PROFILES:
        raise ValueError(f"unknown profile {name!r} (from {source}); allowed: {', '.join(PROFILES)}")
    return name, source


def config_for(experiment: str, namespace: dict, *, verbose: bool = True) -> NotebookConfig:
    """The notebook's declared config (``configs.CONFIGS``): its fields' values from the parameters
    cell (``namespace``, usually ``globals()`` right after that cell), ``None`` ones filled from the
    profile's preset, every value validated by its name."""
    checks.choice("experiment", experiment, CONFIGS)
    cls = CONFIGS[experiment]
    name, source = resolve_profile(namespace.get("profile"))
    preset = PRESETS[experiment][name]
    values, changed = {}, []
    for f in dataclasses.fields(cls):
        if f.name == "profile":
            continue
        value = namespace.get(f.name, f.default)
        values[f.name] = preset.get(f.name) if value is None else value
        usual = preset.get(f.name, f.default)
        if value is not None and value != usual:
            changed.append(f"  {f.name} = {value!r} (the {name} profile's: {usual!r})")
    unknown = sorted(set(preset) - set(values))
    if unknown:
        raise ValueError(
            f"the {name} preset of {experiment} sets {unknown}, which {cls.__name__} does not declare"
        )
    cfg = cls(profile=name, **values)
    if verbose:
        print(f"profile {name} (from {source}); results in {store.shown(cfg.results)}")
        if changed:  # what this run sets apart from its profile: the only values a reader must be told
            print("set for this run:\n" + "\n".join(changed))
    return cfg
