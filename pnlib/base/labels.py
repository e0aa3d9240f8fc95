"""The names methods' rows carry, defined once: the registry (``pnlib.experiments.methods``), the
batched engine (``pnlib.synthetic.engine``), the claims and the notebooks all use these, and the
result tables hold them as plain strings."""

TRAJECTORY_1 = "trajectory 1"  # the plain baseline: trajectory 1 of a persistent run
PERSISTENT = "persistent"
RE_RUNS = "re-runs from θ₀"  # K trajectories from θ₀ without the penalty (only the batch order changes)
RESTARTS = "restarts"
LONGER = "longer"
SNAPSHOT = "snapshot (SGDR)"
KICK = "random kick"
KICK_LAYER = "random kick (per layer)"
RANDOM_ANCHORS = "random anchors"
REPULSIVE = "repulsive ensemble"
REPULSIVE_SHARED = "repulsive, shared θ₀ (ablation)"

# the methods whose run is one row (one solution, no selection among K, no ensemble)
SINGLE_ROW = (TRAJECTORY_1, LONGER)
