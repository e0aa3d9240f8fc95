"""What each notebook parameter's name means, in every notebook: a validator per name that returns
the value (converted where a notebook passes a list or a comma-separated string) or raises an error
naming the parameter and what it allows. The configs (``pnlib.experiments.configs``) run them on
construction."""

from __future__ import annotations

from functools import partial

from pnlib.base import checks
from pnlib.experiments import executors
from pnlib.method.kernels import KERNELS, parse_schedule
from pnlib.method.persistence import GRANULARITIES
from pnlib.train.data import DATASETS
from pnlib.train.inits import INITS
from pnlib.train.models import MODELS
from pnlib.train.precision import PRECISIONS


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
    "pilot_lrs": _items(float, checks.number),
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
    "alexnet_hidden": _int,
    "resnet_width": _positive,
    "trained_acc": _optional(_keep(checks.number, below=1.0)),
    "budget_minutes": _nonneg,
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
