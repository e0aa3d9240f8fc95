r"""Persistent training: the penalty that keeps trajectory k away from earlier solutions.

Trajectory k ≥ 2 minimises

.. math::

    L(\theta) + \lambda(t) \sum_{j<k} \sum_{g \in G} \varphi\!\left(\frac{\lVert\theta_g - a_{j,g}\rVert}{\sigma_{j,g}}\right)

over the persistent set S (the "persistent neurons"), where a_j are the anchors (θ_S at the end
of trajectory j), G the groups (model / layer / neuron), φ a kernel and σ a bandwidth. This is a
reconstruction from the paper's abstract; notebook 01 derives it.

The gradient of the penalty depends only on θ and the anchors, so ``apply_`` adds
λ(t)∇P straight to ``.grad`` after backward (no autograd graph); ``value`` builds the same
quantity differentiably. Both must agree (``analysis.gradient_check``, tests/test_persistence.py).
"""

from __future__ import annotations

import fnmatch
from dataclasses import asdict, dataclass

import torch
from torch import nn

from pnlib.base import checks
from pnlib.method.kernels import KERNELS, parse_schedule, penalty_terms, schedule_factor

GRANULARITIES = ("model", "layer", "neuron")
PERSISTENT_TYPES = (nn.Linear, nn.Conv1d, nn.Conv2d, nn.Conv3d)


@dataclass(frozen=True)
class PenaltyConfig:
    """The settings of a penalty, plain values only, so a run folder can store them."""

    include: tuple[str, ...] | None = None
    exclude: tuple[str, ...] = ()
    granularity: str = "neuron"
    kernel: str = "gaussian"
    strength: float = 1.0
    schedule: str = "constant"
    bandwidth: str | float = "travel"

    def __post_init__(self):
        checks.choice("granularity", self.granularity, GRANULARITIES)
        checks.choice("kernel", self.kernel, KERNELS)
        checks.number("strength (λ)", self.strength, inclusive=True)
        parse_schedule(self.schedule)
        if self.bandwidth != "travel":
            try:
                checks.number("bandwidth", self.bandwidth)
            except ValueError:
                raise ValueError(
                    f"bandwidth must be 'travel' or a finite number > 0; got {self.bandwidth!r}"
                ) from None
        for name in ("include", "exclude"):
            pats = getattr(self, name)
            if pats is not None and (isinstance(pats, str) or not all(isinstance(p, str) for p in pats)):
                raise ValueError(f"{name} must be a tuple of module-name glob patterns; got {pats!r}")

    def to_dict(self) -> dict:
        return asdict(self)

    def strength_at(self, progress: float) -> float:
        """λ(t) at training progress t ∈ [0, 1]."""
        return self.strength * schedule_factor(self.schedule, progress)

    def sigma2(self, travel_sq: torch.Tensor) -> torch.Tensor:
        """σ²_{j,g} of every group: ``travel_sq`` = ‖θ₀,g − a_{j,g}‖², how far trajectory j moved
        in group g (``travel``), or the fixed bandwidth squared."""
        return (
            travel_sq
            if self.bandwidth == "travel"
            else torch.full_like(travel_sq, float(self.bandwidth) ** 2)
        )


def select_modules(model: nn.Module, include=None, exclude=()) -> dict[str, nn.Module]:
    """The persistent set: Conv/Linear modules whose names match ``include`` and not ``exclude``.

    ``include=None`` is the *full* persistent model. A pattern that selects nothing is an error
    listing the candidate names, since a typo would otherwise silently switch persistence off.
    """
    candidates = {n: m for n, m in model.named_modules() if isinstance(m, PERSISTENT_TYPES)}
    if not candidates:
        raise ValueError("the model has no Conv/Linear module to make persistent")
    names = list(candidates)
    for field, pats in (("include", include or ()), ("exclude", exclude or ())):
        for p in pats:
            if not fnmatch.filter(names, p):
                raise ValueError(
                    f"{field} pattern {p!r} selects no Conv/Linear module; "
                    f"module names are: {', '.join(names)}"
                )
    chosen = {
        n: m
        for n, m in candidates.items()
        if (include is None or any(fnmatch.fnmatchcase(n, p) for p in include))
        and not any(fnmatch.fnmatchcase(n, p) for p in exclude or ())
    }
    if not chosen:
        raise ValueError(
            f"include={include!r} with exclude={exclude!r} leaves no module; "
            f"module names are: {', '.join(names)}"
        )
    return chosen


def group_sq(diff: torch.Tensor, groups: torch.Tensor | None, num_groups: int) -> torch.Tensor:
    """Σ over each group's coordinates of diff²: (..., N) -> (..., G); ``groups`` maps each of the
    N flat coordinates to its group (``None``: one group). Used by the batched synthetic runs."""
    sq = diff.square()
    if groups is None:
        return sq.sum(-1, keepdim=True)
    return sq.new_zeros(*sq.shape[:-1], num_groups).index_add_(-1, groups, sq)


class PersistentPenalty:
    """λ(t)·P_k(θ) for a model; see the module docstring and notebook 01.

    ``theta0`` (default: the model's current parameters) is the shared start of all
    trajectories; travel bandwidths are measured from it.
    """

    def __init__(
        self,
        model: nn.Module,
        config: PenaltyConfig | None = None,
        theta0: dict[str, torch.Tensor] | None = None,
    ):
        self.config = config if config is not None else PenaltyConfig()
        if not isinstance(self.config, PenaltyConfig):
            raise TypeError(
                f"config must be a PenaltyConfig; got {type(config).__name__}. Build one with "
                f"PenaltyConfig(strength=..., kernel=..., ...)"
            )
        modules = select_modules(model, self.config.include, self.config.exclude)
        self.module_names = list(modules)
        # (weight, bias or None) per module: the live parameters θ_S
        self.params = [(m.weight, m.bias) for m in modules.values()]
        source = theta0 if theta0 is not None else model.state_dict()
        self.theta0 = {k: source[k].detach().clone() for k in self.param_names}
        self.anchors: dict[str, torch.Tensor] = {}  # name -> (J, *shape): one stacked tensor per parameter
        self.sigma2 = torch.zeros(0)  # (J, G): σ² of every group, blocks in module order

    @property
    def param_names(self) -> list[str]:
        return [
            f"{n}.{kind}"
            for n, (w, b) in zip(self.module_names, self.params)
            for kind, p in (("weight", w), ("bias", b))
            if p is not None
        ]

    @property
    def num_anchors(self) -> int:
        return len(next(iter(self.anchors.values()))) if self.anchors else 0

    def num_parameters(self) -> int:
        return sum(w.numel() + (b.numel() if b is not None else 0) for w, b in self.params)

    # -- distances ------------------------------------------------------------------------
    def _diffs(self, params, anchors):
        """θ − a_j for every module: [(dw (J, out, ...), db (J, out) or None)]."""
        out = []
        for n, (w, b) in zip(self.module_names, params):
            dw = w.unsqueeze(0) - anchors[f"{n}.weight"]
            db = b.unsqueeze(0) - anchors[f"{n}.bias"] if b is not None else None
            out.append((dw, db))
        return out

    def group_sq_blocks(self, diffs) -> list[torch.Tensor]:
        """‖θ_g − a_{j,g}‖² as blocks of (J, groups): one block per module, or one for ``model``."""
        unit = [
            dw.square().flatten(2).sum(-1) + (db.square() if db is not None else 0.0) for dw, db in diffs
        ]  # per neuron: (J, out)
        g = self.config.granularity
        if g == "neuron":
            return unit
        layer = [s.sum(-1, keepdim=True) for s in unit]  # per module: (J, 1)
        return layer if g == "layer" else [torch.stack(layer).sum(0)]  # model: one (J, 1)

    def block_of(self, i: int) -> int:
        return 0 if self.config.granularity == "model" else i

    def _kernel(self, d2_blocks, lam: float):
        """φ and the gradient coefficients of all groups at once (one set of kernel ops for the
        whole model, not one per layer), split back into the per-module blocks."""
        phi, coef = penalty_terms(self.config.kernel, torch.cat(d2_blocks, 1), self.sigma2, lam)
        return phi, coef.split([d.shape[1] for d in d2_blocks], 1)

    def _follow_params(self) -> None:
        """Keep θ₀, the anchors and σ² on the parameters' device (a penalty built before the model
        was moved to the GPU follows it there)."""
        dev = self.params[0][0].device
        if next(iter(self.theta0.values())).device != dev:
            self.theta0 = {k: v.to(dev) for k, v in self.theta0.items()}
            self.anchors = {k: v.to(dev) for k, v in self.anchors.items()}
            self.sigma2 = self.sigma2.to(dev)

    # -- anchors --------------------------------------------------------------------------
    @torch.no_grad()
    def add_anchor(self, state: dict[str, torch.Tensor] | nn.Module | None = None) -> None:
        """Remember a converged solution (a state dict, a model, or the live θ) as anchor a_J."""
        self._follow_params()
        if isinstance(state, nn.Module):
            state = state.state_dict()
        if state is None:
            state = dict(zip(self.param_names, [p for wb in self.params for p in wb if p is not None]))
        new = {k: state[k].detach().to(self.theta0[k]).unsqueeze(0).clone() for k in self.param_names}
        theta0 = [(self.theta0[f"{n}.weight"], self.theta0.get(f"{n}.bias")) for n in self.module_names]
        s2 = [self.config.sigma2(t) for t in self.group_sq_blocks(self._diffs(theta0, new))]
        self.anchors = {k: torch.cat([self.anchors[k], v]) if self.anchors else v for k, v in new.items()}
        s2 = torch.cat(s2, 1)
        self.sigma2 = torch.cat([self.sigma2, s2]) if len(self.sigma2) else s2

    def set_anchors(self, states: list[dict[str, torch.Tensor]]) -> None:
        """Replace every anchor (the repulsive ensemble moves them every step: ``pnlib.experiments.baselines``)."""
        self.anchors, self.sigma2 = {}, torch.zeros(0)
        for s in states:
            self.add_anchor(s)

    # -- the two ways to apply the penalty ------------------------------------------------
    def strength_at(self, progress: float) -> float:
        """λ(t)."""
        return self.config.strength_at(progress)

    def value(self, progress: float = 0.0) -> torch.Tensor:
        """λ(t)·P(θ), differentiable (for analysis and for checking ``apply_``)."""
        self._follow_params()
        if not self.anchors:
            return self.params[0][0].new_zeros(())
        phi, _ = self._kernel(self.group_sq_blocks(self._diffs(self.params, self.anchors)), 1.0)
        return self.strength_at(progress) * phi.sum()  # λ(t)·Σ_j Σ_g φ(r)

    @torch.no_grad()
    def apply_(self, progress: float = 0.0) -> torch.Tensor:
        """Add λ(t)∇P to ``.grad`` in place; return P(θ) unscaled (a 0-d tensor, no sync).

        ∇_θ P = Σ_j Σ_g φ'(u) · 2(θ_g − a_{j,g})/σ²_{j,g}, from the same differences that give
        the distances: one pass over the parameters serves all anchors.
        """
        self._follow_params()
        if not self.anchors:
            return self.params[0][0].new_zeros(())
        lam = self.strength_at(progress)
        diffs = self._diffs(self.params, self.anchors)
        phi, coefs = self._kernel(self.group_sq_blocks(diffs), lam)  # coef = λ·φ'(u)·2/σ²
        if lam != 0.0:
            for i, ((w, b), (dw, db)) in enumerate(zip(self.params, diffs)):
                c = coefs[self.block_of(i)]  # (J, out) or (J, 1)
                gw = (c.view(*c.shape, *([1] * (w.dim() - 1))) * dw).sum(0)  # Σ_j c_j (θ − a_j)
                w.grad = gw if w.grad is None else w.grad.add_(gw)
                if b is not None:
                    gb = (c * db).sum(0)
                    b.grad = gb if b.grad is None else b.grad.add_(gb)
        return phi.sum()  # Σ_j Σ_g φ(r)

    @torch.no_grad()
    def distances(self) -> torch.Tensor:
        """‖θ_S − a_j‖ over the whole persistent set, one per anchor: (J,)."""
        self._follow_params()
        if not self.anchors:
            return self.params[0][0].new_zeros(0)
        # every granularity partitions θ_S, so its group squares sum to the whole distance
        return torch.cat(self.group_sq_blocks(self._diffs(self.params, self.anchors)), 1).sum(1).sqrt()

    # -- saving the penalty with the run --------------------------------------------------
    def state_dict(self) -> dict:
        return {
            "config": self.config.to_dict(),
            "theta0": self.theta0,
            "anchors": self.anchors,
            "sigma2": self.sigma2,
        }

    def load_state_dict(self, state: dict) -> None:
        cfg = dict(state["config"])
        cfg["include"] = tuple(cfg["include"]) if cfg["include"] is not None else None
        cfg["exclude"] = tuple(cfg["exclude"])
        if PenaltyConfig(**cfg) != self.config:
            raise ValueError(
                f"stored penalty config {cfg} differs from this penalty's {self.config.to_dict()}"
            )
        dev = self.params[0][0].device
        self.theta0 = {k: v.to(dev) for k, v in state["theta0"].items()}
        self.anchors = {k: v.to(dev) for k, v in state["anchors"].items()}
        self.sigma2 = state["sigma2"].to(dev)
