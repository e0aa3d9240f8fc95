"""Random points at measured distances from θ₀, group by group: the geometry of the two controls
of docs/method.md that keep the size of persistence's displacement and forget its direction.

* ``matched_kick`` (the random kick): θ₀ plus a random perturbation whose norm in each persistent
  group g is ‖a_g − b_g‖, for two states a, b (persistent and penalty-free trajectory k after
  one epoch), its direction uniform on the group's sphere.
* ``random_anchor`` (the random-anchor control): an anchor a_j replaced by
  θ₀,g + ‖a_{j,g} − θ₀,g‖ · u_g with u_g a random unit direction, so the distance from θ₀, and with
  it the travel bandwidth, is kept in every group and the direction is forgotten.

The groups are those of the penalty's config (``granularity``, ``include`` / ``exclude``);
parameters outside the persistent set are left at θ₀.
"""

from __future__ import annotations

import torch

from pnlib.method.geometry import Groups
from pnlib.method.persistence import PenaltyConfig, groups_of


def group_norms(model, config: PenaltyConfig, a: dict, b: dict) -> torch.Tensor:
    """‖a_g − b_g‖ for every persistent group g of ``config`` (granularity, include/exclude)."""
    groups = groups_of(model, config)
    return groups.sq_norms([x - y for x, y in zip(groups.tensors(a), groups.tensors(b))]).sqrt()


def perturbed(groups: Groups, theta0: list, target: torch.Tensor, seed: int) -> list:
    """θ₀ (its persistent tensors, with any leading dimensions) plus a random perturbation whose
    norm in each group is ``target`` (..., G) and whose direction is uniform on the group's sphere
    (a seeded Gaussian, tensor by tensor in order, normalised per group)."""
    gen = torch.Generator().manual_seed(seed)
    noise = [torch.randn(t.shape, generator=gen, dtype=t.dtype).to(t.device) for t in theta0]
    scale = (target.square() / groups.sq_norms(noise)).sqrt()
    return [t + c * z for t, c, z in zip(theta0, groups.spread(scale), noise)]


def matched_kick(model, config: PenaltyConfig, theta0: dict, a: dict, b: dict, seed: int) -> dict:
    """θ₀ plus a random perturbation whose norm in each persistent group g is ‖a_g − b_g‖ and
    whose direction is uniform on the group's sphere (``kick``); the rest of θ₀ as it is."""
    groups = groups_of(model, config)
    a, b = (
        {k: v.to(theta0[k].device) for k, v in s.items()} for s in (a, b)
    )  # a GPU run's states, θ₀ on CPU
    target = group_norms(model, config, a, b)
    moved = perturbed(groups, groups.tensors(theta0), target, seed)
    return {**{k: v.clone() for k, v in theta0.items()}, **dict(zip(groups.names, moved))}


def random_anchor(model, config: PenaltyConfig, theta0: dict, anchor: dict, seed: int) -> dict:
    """θ₀,g + ‖a_g − θ₀,g‖ · u_g in every persistent group g (u_g a seeded random unit direction):
    the anchor ``anchor`` at its own distance from θ₀, in a direction that knows nothing of it (on
    θ₀'s device: ``matched_kick`` moves ``anchor`` there)."""
    return matched_kick(model, config, theta0, anchor, theta0, seed)
