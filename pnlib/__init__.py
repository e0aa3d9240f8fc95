"""pnlib: persistent training (Min, "Persistent Neurons", arXiv 2007.01419), reconstructed.

The package, bottom to top (a sub-package imports only from those below it; pyproject.toml's
import-linter contracts hold it so):

* ``pnlib.base``: validation of parameters, the seed scheme, atomic files and run folders;
* ``pnlib.method``: the method's mathematics on tensors: the persistent penalty, its group
  geometry, the controls' random points and the repulsive ensemble's kernel;
* ``pnlib.train``: datasets and their formats, models, inits, the one training loop and the
  trajectory store;
* ``pnlib.report``: statistics, declared claims and their verdicts, analysis and figures;
* ``pnlib.experiments`` and ``pnlib.synthetic``, which know nothing of each other: the method
  registry, experiments, grids, pilots, profiles and engines for networks on images; the batched
  engine and the bad-minimum problems of notebooks 01 and 02;
* ``pnlib.notebooks``: a notebook's set-up in one call, and ``python -m pnlib check-data``.

The names below are the public API the README documents.
"""

from pnlib.experiments.experiment import Experiment
from pnlib.experiments.profiles import resolve_profile
from pnlib.method.persistence import PenaltyConfig, PersistentPenalty
from pnlib.train.data import Data, DatasetNotFoundError, batches, load_dataset, locate
from pnlib.train.evaluation import evaluate
from pnlib.train.formats import DatasetError
from pnlib.train.inits import INITS, init_model
from pnlib.train.loop import DivergedError, TrainConfig, fit
from pnlib.train.models import MODELS, build_model, register_model
from pnlib.train.precision import default_device
from pnlib.train.runs import RunConfig

__all__ = [
    "INITS",
    "MODELS",
    "Data",
    "DatasetError",
    "DatasetNotFoundError",
    "DivergedError",
    "Experiment",
    "PenaltyConfig",
    "PersistentPenalty",
    "RunConfig",
    "TrainConfig",
    "batches",
    "build_model",
    "default_device",
    "evaluate",
    "fit",
    "init_model",
    "load_dataset",
    "locate",
    "register_model",
    "resolve_profile",
]
__version__ = "0.1.0"
