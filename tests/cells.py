"""The small MLP cell the method and control tests share."""

from pnlib.method.persistence import PenaltyConfig
from pnlib.train.loop import TrainConfig
from pnlib.train.runs import RunConfig

TRAIN = TrainConfig(num_epochs=2, batch_size=50, lr=0.05, weight_decay=0.0)
PEN = PenaltyConfig(strength=1.0, granularity="neuron")


def cfg(**kw) -> RunConfig:
    """The MLP cell (width 32, depth 1, K = 3, full persistence), with ``kw`` replaced."""
    base = {
        "model": "mlp",
        "model_kwargs": {"width": 32, "depth": 1},
        "init": "default",
        "K": 3,
        "train": TRAIN,
        "penalty": PEN,
    }
    return RunConfig(**{**base, **kw})
