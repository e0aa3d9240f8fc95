"""The penalty's kernels φ(r) and schedules λ(t)/λ (docs/method.md): ``gaussian`` exp(−r²/2),
``inverse`` 1/(r² + ε) in the style of deflation, ``hinge`` max(0, 1 − r)²; ``constant``, ``linear``
and ``cosine`` to 0, or ``off_after:<fraction>``. ``penalty_terms`` gives φ and the gradient
coefficient of every group at once, for ``PersistentPenalty`` and the batched synthetic engine."""

from __future__ import annotations

import math

import torch

KERNELS = ("gaussian", "inverse", "hinge")
SCHEDULES = ("constant", "linear", "cosine", "off_after:<fraction>")
INVERSE_EPS = 1e-2  # ε of the inverse kernel: caps φ at 1/ε on the anchor itself


def parse_schedule(schedule: str) -> tuple[str, float]:
    """``"off_after:0.5"`` -> ("off_after", 0.5); validates the name and the fraction."""
    if not isinstance(schedule, str):
        raise ValueError(f"schedule must be a string, one of {SCHEDULES}; got {schedule!r}")
    name, _, arg = schedule.partition(":")
    if name in ("constant", "linear", "cosine") and not arg:
        return name, 1.0
    if name == "off_after":
        try:
            frac = float(arg)
        except ValueError:
            frac = float("nan")
        if not 0.0 < frac <= 1.0:
            raise ValueError(
                f"schedule {schedule!r}: the fraction after 'off_after:' must lie in (0, 1], "
                f"e.g. 'off_after:0.5'"
            )
        return name, frac
    raise ValueError(f"unknown schedule {schedule!r}; allowed: {', '.join(SCHEDULES)}")


def schedule_factor(schedule: str, progress: float) -> float:
    """λ(t)/λ at training progress t ∈ [0, 1] (fraction of the trajectory's steps done)."""
    name, frac = parse_schedule(schedule)
    t = min(max(float(progress), 0.0), 1.0)
    if name == "constant":
        return 1.0
    if name == "linear":
        return 1.0 - t
    if name == "cosine":
        return 0.5 * (1.0 + math.cos(math.pi * t))
    return 1.0 if t < frac else 0.0  # off_after


def kernel_and_slope(kernel: str, u: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """φ and dφ/du as functions of u = r² (r = ‖θ_g − a_g‖/σ_g)."""
    if kernel == "gaussian":
        phi = torch.exp(-0.5 * u)  # φ = exp(−r²/2)
        return phi, -0.5 * phi
    if kernel == "inverse":
        phi = 1.0 / (u + INVERSE_EPS)  # φ = 1/(r² + ε)
        return phi, -phi * phi
    if kernel == "hinge":
        r = u.sqrt()
        gap = (1.0 - r).clamp(min=0.0)
        # dφ/du = −(1−r)/r; on the anchor itself (r = 0) the subgradient 0 is used
        slope = torch.where(r > 0, -gap / r.clamp(min=torch.finfo(u.dtype).tiny), torch.zeros_like(u))
        return gap * gap, slope  # φ = max(0, 1 − r)²
    raise ValueError(f"unknown kernel {kernel!r}; allowed: {', '.join(KERNELS)}")


def kernel_value(kernel: str, r: torch.Tensor) -> torch.Tensor:
    """φ(r), for plots and tests."""
    return kernel_and_slope(kernel, r * r)[0]


def penalty_terms(kernel: str, d2: torch.Tensor, s2: torch.Tensor, lam: float = 1.0):
    """φ(r) and the gradient coefficient c = λ·φ'(u)·2/σ² of each group, so that
    ∇_θ λφ = c·(θ_g − a_g). Groups whose anchor never moved (σ = 0) carry no memory and are
    masked out rather than divided by zero. Shared by ``PersistentPenalty`` and the batched
    synthetic runs (``pnlib.synthetic``)."""
    live = s2 > 0
    s2 = torch.where(live, s2, torch.ones_like(s2))
    phi, slope = kernel_and_slope(kernel, d2 / s2)  # u = r² = ‖θ_g − a_g‖²/σ²
    return phi * live, (2.0 * lam) * slope * live / s2
