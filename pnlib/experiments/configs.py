"""Each notebook's config, declared: one frozen dataclass per notebook whose fields are its
parameters, with their types and defaults (the notebook's ``parameters`` cell holds the same names
and values; ``None`` there and here means "the profile's value", filled by
``profiles.config_for``). Every value is validated by its name on construction, the same name
meaning the same thing in every notebook (``PARAMETERS``). The configs also turn themselves into
what the library takes: ``run_config`` a ``RunConfig`` (``TrainConfig`` and ``PenaltyConfig``),
``execution`` the executor's keywords.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import ClassVar

import torch

from pnlib.base import checks, store
from pnlib.experiments import executors
from pnlib.method.kernels import KERNELS, parse_schedule
from pnlib.method.persistence import GRANULARITIES, PenaltyConfig
from pnlib.train.data import DATASETS
from pnlib.train.inits import INITS
from pnlib.train.loop import TrainConfig
from pnlib.train.models import MODELS
from pnlib.train.precision import PRECISIONS, resolve_precision
from pnlib.train.runs import RunConfig

PROFILES = ("smoke", "cpu", "paper")
DEFAULT_PROFILE = "cpu"


def results_dir(stem: str, profile: str) -> Path:
    """``results/<stem>/`` for the default profile (what ``make run`` writes and the README quotes);
    ``results/<profile>/<stem>/`` for the others, so a smoke or paper run never overwrites it.
    ``$PNLIB_RESULTS`` replaces ``results/``."""
    root = store.results_root()
    return root / stem if profile == DEFAULT_PROFILE else root / profile / stem


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
    "max_seeds": _int,
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
    "kink_lengths": _items(int, checks.integer),
    "pilot_doublings": _int,
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


# -- the configs ----------------------------------------------------------------------------------
@dataclass(frozen=True)
class NotebookConfig:
    """What every notebook's config has: its profile, and its results folder."""

    experiment: ClassVar[str] = ""
    profile: str = DEFAULT_PROFILE

    def __post_init__(self):
        checks.choice("profile", self.profile, PROFILES)
        for f in dataclasses.fields(self):
            if f.name != "profile":
                value = getattr(self, f.name)
                if value is None and f.name not in OPTIONAL:
                    raise ValueError(f"{f.name} has no value: give it one, or a profile whose preset does")
                object.__setattr__(self, f.name, PARAMETERS[f.name](f.name, value))

    @property
    def results(self) -> Path:
        return results_dir(self.experiment, self.profile)


# parameters whose None is a value (all the images; the cluster's default partition; a LocalCluster)
OPTIONAL = ("train_size", "test_size", "slurm_partition", "dask_address")


@dataclass(frozen=True)
class RunsOn:
    """Where a grid's jobs run (``pnlib.experiments.executors``)."""

    executor: str = "local"
    workers: int | str | None = None  # the profile's: 1 in smoke (no process start-up), "auto" else
    threads: int = 1
    slurm_partition: str | None = None
    slurm_gpus: int = 1
    slurm_cpus: int = 4
    slurm_time_min: int = 120
    slurm_array_parallelism: int = 16
    dask_address: str | None = None

    def engine(self) -> executors.Engine:
        """Where the grid's jobs run (``grid.run_cells``)."""
        slurm = executors.Slurm(
            partition=self.slurm_partition,
            gpus_per_job=self.slurm_gpus,
            cpus_per_job=self.slurm_cpus,
            time_min=self.slurm_time_min,
            array_parallelism=self.slurm_array_parallelism,
        )
        return executors.Engine(self.executor, self.workers, self.threads, slurm, self.dask_address)


@dataclass(frozen=True)
class TrainsNetworks:
    """The optimisation and penalty settings shared by every cell of a network notebook."""

    weight_decay: float = 5e-4
    eval_every: int | None = None
    strength: float = 0.01
    schedule: str = "cosine"
    kernel: str = "gaussian"
    granularity: str = "neuron"
    precision: str | None = None
    K: int | None = None

    def run_config(
        self,
        model: str,
        init: str,
        *,
        device,
        num_epochs: int,
        lr: float,
        batch_size: int,
        augment: bool = False,
        compile: bool = False,
        **model_kwargs,
    ) -> RunConfig:
        """A cell of ``model`` from ``init`` with full persistence under this config's penalty; its
        precision (``auto`` / ``fp32`` / ``bf16``) resolved for ``device`` and ``model``."""
        bf16 = resolve_precision(self.precision, torch.device(device), model)[0] == "bf16"
        train = TrainConfig(
            num_epochs=num_epochs,
            batch_size=batch_size,
            lr=lr,
            weight_decay=self.weight_decay,
            lr_schedule="cosine",
            augment=augment,
            amp=bf16,
            channels_last=bf16,
            compile=compile,
            eval_every=self.eval_every,
        )
        penalty = PenaltyConfig(
            granularity=self.granularity, kernel=self.kernel, strength=self.strength, schedule=self.schedule
        )
        return RunConfig(
            model=model, model_kwargs=model_kwargs, init=init, K=self.K, train=train, penalty=penalty
        )


@dataclass(frozen=True)
class MethodConfig(NotebookConfig):
    """01 · the method on a 2-D surface."""

    experiment: ClassVar[str] = "01_method"
    K: int | None = None
    num_theta0: int | None = None
    steps: int | None = None
    lr: float = 0.05
    strength: float = 1.0
    kernel: str = "gaussian"
    schedule: str = "linear"
    seed: int = 0
    margin: float = 0.02


@dataclass(frozen=True)
class BadMinimaConfig(NotebookConfig):
    """02 · bad minima: the kink network and the teacher–student problem."""

    experiment: ClassVar[str] = "02_bad_minima"
    seed: int = 0
    K: int = 3
    seeds: int | None = None
    widths: tuple[int, ...] | None = None
    kink_lengths: tuple[int, ...] | None = None
    pilot_doublings: int | None = None
    kink_lr: float = 0.01
    success_mse: float = 1e-3
    kernel: str = "gaussian"
    strength: float = 0.01
    schedule: str = "linear"
    sweep_strengths: tuple[float, ...] | None = None
    ts_ks: tuple[int, ...] | None = None
    ts_runs: int | None = None
    ts_cap: int | None = None
    ts_strengths: tuple[float, ...] = (0.01, 0.1, 1.0)
    ts_anchor_ks: tuple[int, ...] | None = None
    ts_penalty_steps: int = 2000
    margin: float = 0.02
    workers: int | str | None = None


@dataclass(frozen=True)
class LeNetConfig(RunsOn, TrainsNetworks, NotebookConfig):
    """03 · LeNet-5, full and partial persistence, under poor and good inits."""

    experiment: ClassVar[str] = "03_lenet"
    dataset: str = "auto"
    seeds: int | None = None
    max_seeds: int | None = None
    secondary_seeds: int | None = None
    tuning_seeds: int | None = None
    pilot_epochs: tuple[int, ...] | None = None
    margin: float = 0.005
    train_size: int | None = None
    val_size: int | None = None
    test_size: int | None = None
    lr: float = 0.05
    larger_lr: float = 0.2
    batch_size: int = 128
    poor_init: str = "small_normal"
    good_init: str = "default"
    fixed_bandwidth: float = 1.0
    sweep_strengths: tuple[float, ...] | None = None
    sweep_kernels: tuple[str, ...] | None = None
    sweep_bandwidths: tuple[str | float, ...] | None = None
    saturation: bool | None = None


@dataclass(frozen=True)
class NetworksConfig(RunsOn, TrainsNetworks, NotebookConfig):
    """04 · AlexNet and ResNets."""

    experiment: ClassVar[str] = "04_cifar"
    dataset: str = "auto"
    models: tuple[str, ...] | None = None
    seeds: int | None = None
    alexnet_seeds: int | None = None
    tuning_seeds: int | None = None
    pilot_epochs: tuple[int, ...] | None = None
    pilot_lrs: tuple[float, ...] | None = None
    pilot_batch_sizes: tuple[int, ...] | None = None
    snapshot: bool | None = None
    partial: bool | None = None
    margin: float = 0.005
    train_size: int | None = None
    val_size: int | None = None
    test_size: int | None = None
    alexnet_width: float | None = None
    init: str = "default"
    compile: bool = False


CONFIGS = {c.experiment: c for c in (MethodConfig, BadMinimaConfig, LeNetConfig, NetworksConfig)}
