"""Each notebook's config, declared: one frozen dataclass per notebook whose fields are its
parameters, with their types and defaults (the notebook's ``parameters`` cell holds the same names
and values; ``None`` there and here means "the profile's value", filled by
``profiles.config_for``). Every value is validated by its name on construction, the same name
meaning the same thing in every notebook (``parameters.PARAMETERS``). The configs also turn themselves into
what the library takes: ``run_config`` a ``RunConfig`` (``TrainConfig`` and ``PenaltyConfig``),
``execution`` the executor's keywords.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

import torch

from pnlib.base import checks, store
from pnlib.experiments import executors
from pnlib.experiments.parameters import PARAMETERS
from pnlib.method.persistence import PenaltyConfig
from pnlib.train.loop import TrainConfig
from pnlib.train.precision import resolve_precision
from pnlib.train.runs import RunConfig

PROFILES = ("smoke", "cpu", "paper")
DEFAULT_PROFILE = "cpu"


def results_dir(stem: str, profile: str) -> Path:
    """``results/<stem>/`` for the default profile (what ``make run`` writes and the README quotes);
    ``results/<profile>/<stem>/`` for the others, so a smoke or paper run never overwrites it.
    ``$PNLIB_RESULTS`` replaces ``results/``."""
    root = store.results_root()
    return root / stem if profile == DEFAULT_PROFILE else root / profile / stem


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


# parameters whose None is a value (all the images; the dataset's own bar; the default partition; a LocalCluster)
OPTIONAL = ("train_size", "test_size", "trained_acc", "slurm_partition", "dask_address")


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
    """04 · AlexNet and ResNets (the design: ``pnlib.experiments.networks``)."""

    experiment: ClassVar[str] = "04_alexnet_resnet"
    dataset: str = "auto"
    models: tuple[str, ...] | None = None
    seeds: int | None = None
    max_seeds: int | None = None
    tuning_seeds: int | None = None
    pilot_epochs: tuple[int, ...] | None = None
    pilot_lrs: tuple[float, ...] | None = None
    batch_size: int | None = None
    snapshot: bool | None = None
    partial: bool | None = None
    margin: float = 0.005
    trained_acc: float | None = None
    budget_minutes: float | None = None
    train_size: int | None = None
    val_size: int | None = None
    test_size: int | None = None
    alexnet_width: float | None = None
    alexnet_hidden: int | None = None
    resnet_width: float | None = None
    init: str = "kaiming"  # He init: ReLU networks, AlexNet without BatchNorm
    compile: bool = False


CONFIGS = {c.experiment: c for c in (MethodConfig, BadMinimaConfig, LeNetConfig, NetworksConfig)}
