"""pnlib: persistent training (Min, "Persistent Neurons", arXiv 2007.01419), reconstructed."""
from .data import Data, DatasetError, DatasetNotFoundError, batches, load_dataset, locate
from .inits import INITS, init_model
from .models import MODELS, build_model, register_model
from .persistence import PenaltyConfig, PersistentPenalty
from .profiles import configure, resolve_profile
from .experiment import Experiment
from .runs import RunConfig
from .training import DivergedError, TrainConfig, default_device, evaluate, fit

__version__ = "0.1.0"
