"""Where the comparisons used to live, kept so that old imports work: the trajectory store is
``pnlib.runs``, the method registry ``pnlib.methods``, the experiment ``pnlib.experiment`` and the
grids ``pnlib.grid``. New code imports from those."""
from .experiment import Experiment
from .grid import cell_histories, cell_jobs, grid, grid_cells, penalty_settings, run_cells, run_grids
from .methods import REGISTRY, method_name
from .runs import SELECT_BY, STARTS, RunConfig, data_fingerprint

METHODS = tuple(REGISTRY)

__all__ = ["Experiment", "RunConfig", "METHODS", "STARTS", "SELECT_BY", "data_fingerprint", "method_name", "grid",
           "grid_cells", "penalty_settings", "cell_jobs", "cell_histories", "run_cells", "run_grids"]
