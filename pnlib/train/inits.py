"""Seeded weight initialisation schemes, labelled "good" or "poor".

``init_model(model, scheme, seed)`` is deterministic (same seed -> bitwise identical parameters)
and leaves the caller's global RNG untouched. Conv and Linear layers get the scheme; normalisation
layers are always reset to weight 1, bias 0 (BatchNorm running stats too).
"""

from __future__ import annotations

from typing import Callable

import torch
from torch import nn

from pnlib.base import checks

INITS: dict[str, str] = {
    "default": "good",  # PyTorch's own reset_parameters
    "kaiming": "good",  # kaiming_normal_, fan_in, ReLU gain
    "xavier": "good",  # xavier_uniform_
    "orthogonal": "good",  # orthogonal_
    "small_normal": "poor",  # N(0, 0.01^2): signals vanish with depth
    "large_normal": "poor",  # N(0, 1): far too large, activations explode / saturate
}
# how reports name each scheme
TITLES = {
    "default": "PyTorch's default init",
    "kaiming": "Kaiming init",
    "xavier": "Xavier init",
    "orthogonal": "orthogonal init",
    "small_normal": "N(0, 0.01²) init",
    "large_normal": "N(0, 1) init",
}

_WEIGHTED = (nn.modules.conv._ConvNd, nn.Linear)
_NORMS = (nn.modules.batchnorm._BatchNorm, nn.GroupNorm, nn.LayerNorm, nn.modules.instancenorm._InstanceNorm)

_WEIGHT_FNS: dict[str, Callable[[torch.Tensor], object]] = {
    "kaiming": lambda w: nn.init.kaiming_normal_(w, mode="fan_in", nonlinearity="relu"),
    "xavier": nn.init.xavier_uniform_,
    "orthogonal": nn.init.orthogonal_,
    "small_normal": lambda w: nn.init.normal_(w, 0.0, 0.01),
    "large_normal": lambda w: nn.init.normal_(w, 0.0, 1.0),
}


def _reset_norm(m: nn.Module) -> None:
    if getattr(m, "weight", None) is not None:
        nn.init.ones_(m.weight)
    if getattr(m, "bias", None) is not None:
        nn.init.zeros_(m.bias)
    if hasattr(m, "reset_running_stats") and getattr(m, "track_running_stats", False):
        m.reset_running_stats()


def _apply(model: nn.Module, scheme: str) -> None:
    for m in model.modules():
        if isinstance(m, _NORMS):
            _reset_norm(m)
        elif scheme != "default" and isinstance(m, _WEIGHTED):
            _WEIGHT_FNS[scheme](m.weight)
            if m.bias is not None:
                nn.init.zeros_(m.bias)
        elif hasattr(m, "reset_parameters") and any(True for _ in m.parameters(recurse=False)):
            # "default", or a leaf type the schemes do not cover: PyTorch's own init
            m.reset_parameters()


@torch.no_grad()
def init_model(model: nn.Module, scheme: str, seed: int) -> nn.Module:
    """Re-initialise ``model`` in place with ``scheme`` (a key of INITS) and ``seed``; returns it.

    Runs on the CPU (a model elsewhere is moved there and back, in place) so that the result does
    not depend on the device and only the CPU generator needs forking.
    """
    checks.choice("init", scheme, INITS)
    tensors = list(model.parameters()) + list(model.buffers())
    device = tensors[0].device if tensors else torch.device("cpu")
    if device.type != "cpu":
        model.cpu()
    with torch.random.fork_rng(devices=[]):
        # default_generator only: torch.manual_seed would also reseed (unforked) CUDA generators
        torch.random.default_generator.manual_seed(int(seed))
        _apply(model, scheme)
    if device.type != "cpu":
        model.to(device)
    return model
