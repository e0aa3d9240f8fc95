"""Random points at measured distances from θ₀, group by group: the geometry of the two controls
of METHOD.md that keep the size of persistence's displacement and forget its direction.

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

from pnlib.method.persistence import PenaltyConfig, PersistentPenalty


def weight_bias_blocks(pen: PersistentPenalty, state: dict) -> list:
    """``state``'s (weight, bias or None) of every persistent module of ``pen``, in its order."""
    return [
        (state[f"{n}.weight"], state[f"{n}.bias"] if b is not None else None)
        for n, (_, b) in zip(pen.module_names, pen.params)
    ]


def group_norms(model, config: PenaltyConfig, a: dict, b: dict) -> torch.Tensor:
    """‖a_g − b_g‖ for every persistent group g of ``config`` (granularity, include/exclude)."""
    pen = PersistentPenalty(model, config, theta0=a)
    diffs = [
        ((wa - wb).unsqueeze(0), None if ba is None else (ba - bb).unsqueeze(0))
        for (wa, ba), (wb, bb) in zip(weight_bias_blocks(pen, a), weight_bias_blocks(pen, b))
    ]
    return torch.cat(pen.group_sq_blocks(diffs), 1).squeeze(0).sqrt()


def matched_kick(model, config: PenaltyConfig, theta0: dict, a: dict, b: dict, seed: int) -> dict:
    """θ₀ plus a random perturbation whose norm in each persistent group g is ‖a_g − b_g‖ and
    whose direction is uniform on the group's sphere (a seeded Gaussian, normalised per group)."""
    pen = PersistentPenalty(model, config, theta0=theta0)
    a, b = (
        {k: v.to(theta0[k].device) for k, v in s.items()} for s in (a, b)
    )  # a GPU run's states, θ₀ on CPU
    gen = torch.Generator().manual_seed(seed)
    noise = [
        (
            torch.randn(w.shape, generator=gen, dtype=w.dtype).unsqueeze(0),
            None if bb is None else torch.randn(bb.shape, generator=gen, dtype=bb.dtype).unsqueeze(0),
        )
        for w, bb in weight_bias_blocks(pen, theta0)
    ]
    target = group_norms(model, config, a, b)
    scale = (target.square() / torch.cat(pen.group_sq_blocks(noise), 1).squeeze(0)).sqrt()
    scale = scale.split([s.shape[1] for s in pen.group_sq_blocks(noise)])
    out = {k: v.clone() for k, v in theta0.items()}
    for i, (n, (zw, zb)) in enumerate(zip(pen.module_names, noise)):
        c = scale[pen.block_of(i)]
        out[f"{n}.weight"] += (c.view(-1, *([1] * (zw.dim() - 2))) * zw[0]).to(out[f"{n}.weight"])
        if zb is not None:
            out[f"{n}.bias"] += (c.view(-1) * zb[0]).to(out[f"{n}.bias"])
    return out


def random_anchor(model, config: PenaltyConfig, theta0: dict, anchor: dict, seed: int) -> dict:
    """θ₀,g + ‖a_g − θ₀,g‖ · u_g in every persistent group g (u_g a seeded random unit direction):
    the anchor ``anchor`` at its own distance from θ₀, in a direction that knows nothing of it (on
    θ₀'s device: ``matched_kick`` moves ``anchor`` there)."""
    return matched_kick(model, config, theta0, anchor, theta0, seed)
