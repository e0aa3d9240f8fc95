"""Profiles (``smoke`` / ``cpu`` / ``paper``) and the one path from a notebook's parameters cell
to its frozen, validated config.

A notebook's ``parameters`` cell is the only place that lists its parameters; ``None`` means
"take the profile's value". The next cell is one line, ``cfg = profiles.configure("01_method",
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
import types
from functools import partial
from pathlib import Path

import pandas as pd

from pnlib.base import checks, store
from pnlib.experiments import executors
from pnlib.experiments.presets import PRESETS
from pnlib.method.kernels import KERNELS, parse_schedule
from pnlib.method.persistence import GRANULARITIES
from pnlib.train.data import DATASETS
from pnlib.train.inits import INITS
from pnlib.train.models import MODELS
from pnlib.train.precision import PRECISIONS

PROFILES = ("smoke", "cpu", "paper")
DEFAULT_PROFILE = "cpu"
ENV = "PNLIB_PROFILE"


def results_dir(stem: str, profile: str) -> Path:
    """``results/<stem>/`` for the default profile (what ``make run`` writes and the README quotes);
    ``results/<profile>/<stem>/`` for the others, so a smoke or paper run never overwrites it.
    ``$PNLIB_RESULTS`` replaces ``results/``."""
    root = store.results_root()
    return root / stem if profile == DEFAULT_PROFILE else root / profile / stem


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


def cached_jobs(cfg, parts: dict[str, tuple[object, list[tuple]]]) -> pd.DataFrame:
    """Several ``cached`` parts at once, each ``name: (chunk, jobs)``, a part being the concatenation of
    its jobs' tables (a job is ``(fn, kwargs)``, ``fn`` a module-level function). The jobs of every part
    not on disk run together on ``cfg.workers`` processes of one thread (``executors.starmap``); the
    batched programs give the same numbers with one thread or two (tested). All parts, concatenated."""
    todo = [
        (name, job)
        for name, (chunk, jobs) in parts.items()
        if not store.is_cached(*_part(cfg, name, chunk))
        for job in jobs
    ]
    done = executors.starmap([job for _, job in todo], cfg.workers)
    fresh = {
        name: pd.concat([t for (n, _), t in zip(todo, done) if n == name], ignore_index=True)
        for name, _ in todo
    }
    return pd.concat(
        [cached(cfg, name, chunk, lambda name=name: fresh[name]) for name, (chunk, _) in parts.items()],
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


# -- what each parameter name means, in every notebook: a validator that returns the value ------
def _keep(check, *args, **kwargs):
    def run(name, value):
        check(name, value, *args, **kwargs)
        return value

    return run


def _optional(check):
    return lambda name, value: None if value is None else check(name, value)


def _items(item, check):
    def run(name, value):
        values = checks.as_tuple(name, value, item)
        for v in values:
            check(name, v)
        return values

    return run


def _schedule(name, value):
    parse_schedule(value)
    return value


def bandwidth(value):  # an item of sweep_bandwidths: "travel" or a fixed σ
    return value if value == "travel" else float(value)


_int, _count = _keep(checks.integer), _keep(checks.integer, minimum=0)
_positive, _nonneg = _keep(checks.number), _keep(checks.number, inclusive=True)


def _big_model(name, value):  # notebook 04's models: every registered one but the small two
    checks.choice(name, value, [m for m in MODELS if m not in ("mlp", "lenet5")])


PARAMETERS = {
    # sizes and seeds
    "K": _int,
    "seeds": _int,
    "secondary_seeds": _int,
    "tuning_seeds": _int,
    "pilot_epochs": _items(int, checks.integer),
    "margin": _positive,
    "larger_lr": _positive,
    "sweep_kernels": _items(str, _keep(checks.choice, KERNELS)),
    "fixed_bandwidth": _positive,
    "sweep_bandwidths": _items(bandwidth, lambda name, v: v == "travel" or checks.number(name, v)),
    "saturation": _keep(checks.boolean),
    "alexnet_seeds": _int,
    "pilot_lrs": _items(float, checks.number),
    "pilot_batch_sizes": _items(int, checks.integer),
    "snapshot": _keep(checks.boolean),
    "partial": _keep(checks.boolean),
    "seed": _count,
    "num_theta0": _int,
    "steps": _int,
    "num_epochs": _int,
    "batch_size": _int,
    "eval_every": _int,
    "val_size": _int,
    "train_size": _optional(_int),
    "test_size": _optional(_int),
    "kink_steps": _int,
    "ts_runs": _int,
    "ts_cap": _int,
    "ts_penalty_steps": _int,
    "widths": _items(int, checks.integer),
    "ts_ks": _items(int, partial(checks.integer, minimum=2)),
    "ts_anchor_ks": _items(int, partial(checks.integer, minimum=2)),
    # optimisation
    "lr": _positive,
    "kink_lr": _positive,
    "weight_decay": _nonneg,
    "success_mse": _positive,
    # the penalty
    "strength": _nonneg,
    "ts_strengths": _items(float, partial(checks.number, inclusive=True)),
    "sweep_strengths": _items(float, partial(checks.number, inclusive=True)),
    "kernel": _keep(checks.choice, KERNELS),
    "granularity": _keep(checks.choice, GRANULARITIES),
    "schedule": _schedule,
    # data and models
    "dataset": _keep(checks.choice, DATASETS),
    "init": _keep(checks.choice, tuple(INITS)),
    "poor_init": _keep(checks.choice, tuple(k for k, v in INITS.items() if v == "poor")),
    "good_init": _keep(checks.choice, tuple(k for k, v in INITS.items() if v == "good")),
    "models": _items(str, _big_model),
    "alexnet_width": _positive,
    "compile": _keep(checks.boolean),
    "precision": _keep(checks.choice, PRECISIONS),
    # where the grid runs (pnlib.experiments.executors)
    "executor": _keep(checks.choice, executors.EXECUTORS),
    "workers": lambda name, v: v if v == "auto" else _int(name, v),
    "threads": _int,
    "slurm_partition": _optional(_keep(checks.string)),
    "slurm_gpus": _count,
    "slurm_cpus": _int,
    "slurm_time_min": _int,
    "slurm_array_parallelism": _int,
    "dask_address": _optional(_keep(checks.string)),
}


def configure(experiment: str, namespace: dict, *, verbose: bool = True):
    """The notebook's frozen config: the parameters cell's values (``namespace``, usually
    ``globals()`` right after that cell), ``None`` ones filled from the profile's preset."""
    checks.choice("experiment", experiment, PRESETS)
    params = {
        k: v
        for k, v in namespace.items()
        if (k in PARAMETERS or k == "profile") and not isinstance(v, types.ModuleType)
    }
    name, source = resolve_profile(params.pop("profile", None))
    preset = PRESETS[experiment][name]
    values = {"profile": name, **{k: preset.get(k) if v is None else v for k, v in params.items()}}
    values.update({k: PARAMETERS[k](k, v) for k, v in values.items() if k != "profile"})
    cls = dataclasses.make_dataclass(
        "Config",
        list(values),
        frozen=True,
        namespace={
            "experiment": experiment,
            "results": property(lambda self: results_dir(experiment, self.profile)),
        },
    )
    cfg = cls(**values)
    if verbose:
        print(f"profile {name} (from {source}); results in {store.shown(cfg.results)}")
        print(cfg)
    return cfg
