"""The batched descent engine: B independent runs of one objective as one tensor program.

Parameters of B runs live in one (B, D) tensor; an objective maps it to per-run losses (B,) and
gradients (B, D). ``persistent_descent`` runs K trajectories from the same θ₀ for all B runs
together, the penalty of trajectory k built from the end points of trajectories 1..k-1 with the
same kernel math as ``PersistentPenalty`` (``kernels.penalty_terms``). ``run_methods`` runs every
method of docs/method.md's equal-compute comparison; ``outcomes`` tabulates them per run.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, fields
from typing import Callable

import pandas as pd
import torch

from pnlib.base import checks, labels, seeds
from pnlib.method.geometry import Groups
from pnlib.method.kernels import penalty_terms
from pnlib.method.kicks import perturbed
from pnlib.method.persistence import PenaltyConfig

Objective = Callable[[torch.Tensor], tuple[torch.Tensor, torch.Tensor]]


def autograd_objective(loss_fn: Callable[[torch.Tensor], torch.Tensor]) -> Objective:
    """Wrap a batched loss (B, D) -> (B,) into (loss, grad); runs are independent, so the
    gradient of the sum is every run's own gradient."""

    def objective(theta):
        with torch.enable_grad():
            t = theta.detach().requires_grad_(True)
            loss = loss_fn(t)
            (grad,) = torch.autograd.grad(loss.sum(), t)
        return loss.detach(), grad

    return objective


@dataclass
class Trajectories:
    """End points (K, B, D), final losses (K, B), steps used (K, B), and why each run stopped:
    ``converged`` (gradient ≤ tol), ``settled`` (loss fell below ``stop_below``), else it hit the
    step cap. Optionally the recorded paths (K, T, B, D) and the states at an early step (K, B, D)."""

    theta: torch.Tensor
    loss: torch.Tensor
    steps: torch.Tensor
    converged: torch.Tensor
    settled: torch.Tensor
    paths: torch.Tensor | None = None
    early: torch.Tensor | None = None

    @property
    def capped(self) -> torch.Tensor:
        return ~(self.converged | self.settled)

    def best(self) -> torch.Tensor:
        """Per run, the lowest final loss over the K trajectories (non-finite counts as worst)."""
        return torch.nan_to_num(self.loss, nan=math.inf).min(0).values

    def __getitem__(self, k) -> "Trajectories":
        """Trajectories ``k`` (a slice over the K axis)."""
        return Trajectories(
            *(None if getattr(self, f.name) is None else getattr(self, f.name)[k] for f in fields(self))
        )

    @staticmethod
    def cat(parts: list["Trajectories"]) -> "Trajectories":
        """Stack trajectories of the same runs along K (a field that any part lacks is dropped)."""
        return Trajectories(
            *(
                None
                if any(getattr(p, f.name) is None for p in parts)
                else torch.cat([getattr(p, f.name) for p in parts])
                for f in fields(parts[0])
            )
        )


def penalty_gradient(
    theta: torch.Tensor,
    anchors: torch.Tensor,
    sigma2: torch.Tensor,
    penalty: PenaltyConfig,
    lam: float,
    groups: Groups,
) -> torch.Tensor:
    """λ∇P for B runs at once: θ (B, D), anchors (J, B, D), σ² (J, B, G); the same geometry and
    kernel math as ``PersistentPenalty.apply_`` (tests/test_synthetic.py checks that they agree)."""
    diff = groups.unflatten(theta.unsqueeze(0) - anchors)  # θ − a_j, tensor by tensor
    _, coef = penalty_terms(penalty.kernel, groups.sq_norms(diff), sigma2, lam)  # λ·φ'(u)·2/σ²
    return groups.flatten([c * d for c, d in zip(groups.spread(coef), diff)]).sum(0)


def group_sq(groups: Groups, flat: torch.Tensor) -> torch.Tensor:
    """Σ of squares per group of flat vectors (..., D) -> (..., G)."""
    return groups.sq_norms(groups.unflatten(flat))


def persistent_descent(
    objective: Objective,
    theta0: torch.Tensor,
    *,
    K: int,
    steps: int,
    lr: float,
    penalty: PenaltyConfig | None = None,
    groups: Groups | None = None,
    optimizer: str = "gd",
    tol: float | None = None,
    stop_below: float | None = None,
    penalty_steps: int | None = None,
    check_every: int = 100,
    record_every: int = 0,
    early_step: int | None = None,
    anchor_map: Callable[[torch.Tensor, int], torch.Tensor] | None = None,
    anchored: tuple[torch.Tensor, ...] = (),
) -> Trajectories:
    """K trajectories from θ₀ for all runs at once; trajectory k ≥ 2 feels the penalty of the
    earlier end points (``penalty=None`` or strength 0: K plain re-runs, identical for GD).

    ``penalty_steps``: λ(t) follows its schedule over these first steps and is 0 afterwards
    (default: all ``steps``). ``tol`` (GD only): a run stops once the penalty is off and its
    largest per-group gradient norm is ≤ tol; with ``stop_below`` also once its loss is below
    that value (plain GD with a stable step never raises the loss again, so the run's class is
    settled). Stopped runs are dropped from the batch, which is where most of the time goes.
    ``early_step``: also keep every trajectory's state at that step (``Trajectories.early``; a run
    stopped before it keeps its end point). ``anchor_map(end, j)``: the anchor that trajectory j's
    end point becomes (default: the end point itself; the random-anchor control moves it).
    ``anchored``: anchors of trajectories run before (by another call), so that the K trajectories
    here are numbered after them (a shared trajectory 1 is not run twice).
    """
    checks.choice("optimizer", optimizer, ("gd", "adam"))
    if (tol is not None or stop_below is not None) and optimizer != "gd":
        raise ValueError("tol and stop_below (early stops) are only defined for optimizer='gd'")
    B, D = theta0.shape
    groups = groups if groups is not None else Groups.whole(D)
    P = penalty_steps or steps
    ends, losses, used, conv, settled, paths, early = [], [], [], [], [], [], []
    kept = list(anchored)
    for k in range(K):
        anchors = torch.stack(kept) if kept and penalty is not None and penalty.strength > 0 else None
        if anchors is not None:
            s2_all = penalty.sigma2(group_sq(groups, theta0.unsqueeze(0) - anchors))  # σ²_{j,g}
        theta = theta0.clone()
        steps_used = torch.full((B,), steps, dtype=torch.long)
        done = torch.zeros(B, dtype=torch.bool)
        low = torch.zeros(B, dtype=torch.bool)
        active = torch.arange(B)
        x = theta.clone()
        opt = torch.optim.Adam([x.requires_grad_(True)], lr=lr) if optimizer == "adam" else None
        track, at_early = [], None
        for step in range(steps):
            if step == early_step:
                at_early = theta.clone()
                at_early[active] = x.detach()
            if record_every and step % record_every == 0:
                theta[active] = x.detach()
                track.append(theta.clone())
            loss, g = objective(x.detach())
            lam = penalty.strength_at(step / P) if anchors is not None and step < P else 0.0
            if lam > 0:
                g = g + penalty_gradient(
                    x.detach(), anchors[:, active], s2_all[:, active], penalty, lam, groups
                )
            if (
                (tol is not None or stop_below is not None)
                and (anchors is None or step >= P)
                and step % check_every == 0
            ):
                never = torch.zeros_like(loss, dtype=torch.bool)
                conv_now = group_sq(groups, g).max(-1).values.sqrt() <= tol if tol is not None else never
                low_now = (loss < stop_below if stop_below is not None else never) & ~conv_now
                stop = conv_now | low_now
                if stop.any():  # write back and drop the runs that have stopped
                    idx = active[stop]
                    theta[idx] = x.detach()[stop]
                    steps_used[idx] = step
                    done[idx] = conv_now[stop]
                    low[idx] = low_now[stop]
                    keep = ~stop
                    active, x, g = active[keep], x.detach()[keep].clone(), g[keep]
                    if not len(active):
                        break
            with torch.no_grad():
                if opt is None:
                    x = x.detach() - lr * g  # plain gradient descent
                else:
                    x.grad = g
                    opt.step()
        theta[active] = x.detach()
        final_loss, _ = objective(theta)
        ends.append(theta)
        kept.append(theta if anchor_map is None else anchor_map(theta, len(kept) + 1))
        early.append(theta.clone() if at_early is None else at_early)
        losses.append(final_loss)
        used.append(steps_used)
        conv.append(done)
        settled.append(low)
        if record_every:
            track.append(theta.clone())
            paths.append(torch.stack(track))
    return Trajectories(
        torch.stack(ends),
        torch.stack(losses),
        torch.stack(used),
        torch.stack(conv),
        torch.stack(settled),
        torch.stack(paths) if record_every else None,
        torch.stack(early) if early_step is not None else None,
    )


def kick_starts(
    theta0: torch.Tensor, a: torch.Tensor, b: torch.Tensor, groups: Groups | None, seed: int
) -> torch.Tensor:
    """θ₀ plus a random perturbation, per run and group g, of norm ‖a_g − b_g‖ and a direction
    uniform on the group's sphere: the random-kick control (docs/method.md) for B runs (B, D), by the
    networks' own ``kicks.perturbed``."""
    groups = groups if groups is not None else Groups.whole(theta0.shape[-1])
    target = group_sq(groups, a - b).sqrt()
    return groups.flatten(perturbed(groups, groups.unflatten(theta0), target, seed))


# -- the equal-compute comparison (docs/method.md) for a batched objective ----------------------------
METHODS = (
    labels.TRAJECTORY_1,
    labels.PERSISTENT,
    labels.RE_RUNS,
    labels.RESTARTS,
    labels.LONGER,
    labels.KICK,
    labels.RANDOM_ANCHORS,
)


def run_methods(
    objective: Objective,
    init: Callable[[int], torch.Tensor],
    *,
    seed: int,
    K: int,
    steps: int,
    penalty: PenaltyConfig,
    methods=METHODS,
    kick_after: float = 0.1,
    **descent,
) -> dict[str, Trajectories]:
    """Every method of ``methods`` at equal compute (K × ``steps``) for all runs at once.

    ``init(s)`` draws the (B, D) inits with seed ``s``. θ₀ = ``init(init_seed(seed, 1))`` is shared
    by trajectory 1, the persistent trajectories, the re-runs from θ₀ (no penalty), the longer run
    (one trajectory of K × ``steps``) and restart 1; restart k ≥ 2 draws ``init(init_seed(seed, k))``.
    ``random kick`` (the control): trajectory k ≥ 2 starts from θ₀ plus a random perturbation whose
    norm per group is the distance, after ``kick_after`` × the steps, between persistent trajectory
    k and the penalty-free one (trajectory 1: full-batch descent from θ₀ repeats it exactly), and
    descends without penalty. ``random anchors`` (the control): the persistent run itself, with
    each end point replaced as an anchor by one at its own distance from θ₀ per group in a random
    direction (``kick_starts(θ₀, end, θ₀)``): the same sustained push, no memory of where the
    earlier solutions lay. ``descent`` goes to ``persistent_descent`` (lr, groups, tol, ...).
    """
    for m in methods:
        checks.choice("method", m, METHODS)
    theta0 = init(seeds.init_seed(seed, 1))
    one = dict(K=1, steps=steps, **descent)
    out = {}
    if {labels.TRAJECTORY_1, "persistent", "restarts", labels.KICK} & set(methods):
        early = max(1, int(kick_after * steps)) if labels.KICK in methods else None
        per = persistent_descent(
            objective, theta0, K=K, steps=steps, penalty=penalty, early_step=early, **descent
        )
        out.update({labels.TRAJECTORY_1: per[:1], "persistent": per})
    if labels.KICK in methods:
        kicked = [
            persistent_descent(
                objective,
                kick_starts(
                    theta0,
                    per.early[k],
                    per.early[0],
                    descent.get("groups"),
                    seeds.derive_seed(seed, "kick", k + 1),
                ),
                **one,
            )
            for k in range(1, K)
        ]
        out[labels.KICK] = Trajectories.cat([per[:1], *kicked])
    if labels.RANDOM_ANCHORS in methods:

        def moved(end, j):
            return kick_starts(
                theta0, end, theta0, descent.get("groups"), seeds.derive_seed(seed, "anchors", j)
            )

        first = [per[:1]] if "persistent" in out and K > 1 else []  # persistence's trajectory 1, run
        rest = persistent_descent(
            objective,
            theta0,
            K=K - len(first),
            steps=steps,
            penalty=penalty,
            anchor_map=moved,
            anchored=tuple(moved(t.theta[0], 1) for t in first),
            **descent,
        )
        out[labels.RANDOM_ANCHORS] = Trajectories.cat([*first, rest])
    if labels.RE_RUNS in methods:
        out[labels.RE_RUNS] = persistent_descent(objective, theta0, K=K, steps=steps, **descent)
    if "restarts" in methods:
        fresh = [
            persistent_descent(objective, init(seeds.init_seed(seed, k)), **one) for k in range(2, K + 1)
        ]
        out["restarts"] = Trajectories.cat([per[:1], *fresh])
    if "longer" in methods:
        out["longer"] = persistent_descent(objective, theta0, **{**one, "steps": K * steps})
    return {m: out[m] for m in methods}


def outcomes(runs: dict[str, Trajectories], **labels) -> pd.DataFrame:
    """One row per (method, run): the best final loss over the method's trajectories (the
    method's result), whether any of them hit the step cap, and the steps it used in all."""
    rows = [
        pd.DataFrame(
            {
                "method": m,
                "run": range(t.loss.shape[1]),
                "best_loss": t.best().numpy(),
                "capped": t.capped.any(0).numpy(),
                "steps": t.steps.sum(0).numpy(),
            }
        )
        for m, t in runs.items()
    ]
    return pd.concat(rows, ignore_index=True).assign(**labels)
