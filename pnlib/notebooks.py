"""What the notebooks and ``make run`` call to get their data and their experiment.

``load_for`` loads a notebook's dataset for its profile (the ``smoke`` profile falls back to
generated files); ``check`` is ``python -m pnlib check-data``, which ``make run`` runs before it
trains anything, so that a missing dataset is reported in seconds.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pandas as pd
import torch

from pnlib.base import store
from pnlib.experiments import profiles
from pnlib.experiments.executors import Engine
from pnlib.experiments.experiment import Experiment
from pnlib.report import plots
from pnlib.train.data import Data, DatasetNotFoundError, data_root, load_dataset, locate
from pnlib.train.generated import smoke_stand_in
from pnlib.train.precision import default_device, resolve_precision


def load_for_profile(name: str, profile: str, root: str | Path | None = None, **kwargs) -> Data:
    """``load_dataset`` as the notebooks call it. ``cpu`` and ``paper`` download what is missing;
    ``smoke`` never downloads and falls back to generated CIFAR-format files, so that ``make test``
    runs the notebooks' code paths anywhere, offline and with no dataset installed."""
    root = Path(root) if root is not None else data_root()
    if profile != "smoke":
        return load_dataset(name, root, download=True, **kwargs)
    try:
        return load_dataset(name, root, **kwargs)
    except DatasetNotFoundError:
        stand_in = smoke_stand_in(root)
        print(
            f"SMOKE PROFILE: no {name} dataset found; using generated CIFAR-10-format files in {store.shown(stand_in)}"
        )
        return load_dataset("cifar10", stand_in, **kwargs)


def load_for(cfg, *, pad_to_32: bool = False, device: str | torch.device = "cpu") -> Data:
    """The dataset of a notebook's config (``dataset``, ``profile`` and the split sizes), with a
    banner that says which dataset it is when it is not the paper's CIFAR-10."""
    data = load_for_profile(
        cfg.dataset,
        cfg.profile,
        val_size=cfg.val_size,
        train_size=cfg.train_size,
        test_size=cfg.test_size,
        pad_to_32=pad_to_32,
        device=device,
    )
    if data.name != "cifar10":
        print(
            "=" * 78 + f"\nDATASET: {data.title}{' (padded to 32×32)' if pad_to_32 else ''}, not CIFAR-10. "
            f"CIFAR-10 was not found (see data/README.md).\nEvery table and figure below names the dataset "
            f"it used.\n" + "=" * 78
        )
    print(
        f"{data.title}: {len(data.y_train)} train / {len(data.y_val)} val / {len(data.y_test)} test images, "
        f"{data.in_channels}×{data.image_size}×{data.image_size}, on {device}"
    )
    return data


def configure(experiment: str, namespace: dict, *, torch_threads: int = 2, verbose: bool = True):
    """A notebook's first line after its parameters cell: its frozen config (``profiles.config_for``),
    the figure style (``plots.set_style``) and torch's threads for the notebook's own computing (2,
    the cores of the machines that computed the committed results; the grid's jobs set their own)."""
    plots.set_style()
    pd.set_option("display.max_colwidth", None)  # a claim or comparison cut at 50 characters names nothing
    torch.set_num_threads(torch_threads)
    cfg = profiles.config_for(experiment, namespace, verbose=verbose)
    if verbose and not hasattr(cfg, "precision"):
        print("precision: no autocast (every computation here runs in float32 or float64)")
    return cfg


def setup(cfg, models, *, pad_to_32: bool = False) -> tuple[torch.device, Data, Experiment, Engine]:
    """A training notebook's set-up in one call: the device, its dataset there (``load_for``), the
    ``Experiment`` on its results folder with the config's thread count, and the ``Engine`` its
    grids run on (``cfg.engine()``). It prints the precision each of
    ``models`` trains in and, outside the ``paper`` profile, that the run is scaled down."""
    device = default_device()
    data = load_for(cfg, pad_to_32=pad_to_32, device=device)
    for model in models:
        precision, why = resolve_precision(cfg.precision, device, model)
        print(f"precision of {model}: {precision} (asked: {cfg.precision}; {why})")
    if cfg.profile != "paper":
        print(
            f"SCALED DOWN (profile {cfg.profile}): {len(data.y_train)} training images; see the notebook's "
            f"introduction for what the profile shortens. Not comparable to full-length training."
        )
    return (device, data, Experiment(cfg.results, data, progress=False, threads=cfg.threads), cfg.engine())


def needs_dataset(notebook: str | Path) -> bool:
    """Whether a notebook reads a dataset (its metadata ``pnlib.needs_dataset``)."""
    return bool(
        json.loads(Path(notebook).read_text()).get("metadata", {}).get("pnlib", {}).get("needs_dataset")
    )


def check(profile: str, notebooks: list[str], root: str | Path | None = None) -> int:
    """What ``make run`` does first: make sure the notebooks that read data will find it (downloading
    it if a network is there), in seconds and before anything trains. Returns an exit code."""
    reading = [nb for nb in notebooks if needs_dataset(nb)]
    if not reading or profile == "smoke":
        return 0
    root = Path(root) if root is not None else data_root()
    try:
        used, found = locate("auto", root, download=True)
    except DatasetNotFoundError as exc:
        others = [nb for nb in notebooks if nb not in reading]
        alone = (
            f'\nThese notebooks need no dataset; run them alone with:\n  make run NOTEBOOKS="{" ".join(others)}"'
            if others
            else ""
        )
        print(
            f"ERROR: {', '.join(Path(nb).stem for nb in reading)} read a dataset, and none is here: {exc}{alone}",
            file=sys.stderr,
        )
        return 2
    where = found if isinstance(found, Path) else found[0].parent
    print(f"data: {used} in {store.shown(where)} (for {', '.join(Path(nb).stem for nb in reading)})")
    return 0
