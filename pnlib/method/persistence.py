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
from pnlib.method.geometry import GRANULARITIES, Block, Groups
from pnlib.method.kernels import KERNELS, parse_schedule, penalty_terms, schedule_factor

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


def groups_of(model: nn.Module, config: PenaltyConfig) -> Groups:
    """The group geometry of ``config``'s persistent set in ``model`` (its include / exclude
    patterns and its granularity)."""
    modules = select_modules(model, config.include, config.exclude)
    blocks = [
        Block(
            tuple(m.weight.shape),
            m.bias is not None,
            (f"{n}.weight", f"{n}.bias") if m.bias is not None else (f"{n}.weight",),
        )
        for n, m in modules.items()
    ]
    return Groups(blocks, config.granularity)


class PersistentPenalty(nn.Module):
    """λ(t)·P_k(θ) for a model; see the module docstring and notebook 01.

    ``theta0`` (default: the model's current parameters) is the shared start of all
    trajectories; travel bandwidths are measured from it. θ₀, the anchors (one stacked tensor
    ``(J, *shape)`` per persistent tensor) and σ² ``(J, G)`` are buffers: ``state_dict``, ``.to()``
    and checkpoints are torch's (the config rides along as the module's extra state, and loading a
    penalty of another config is refused). The model's parameters are followed, not owned: the
    penalty moves to their device when it is applied.
    """

    def __init__(
        self,
        model: nn.Module,
        config: PenaltyConfig | None = None,
        theta0: dict[str, torch.Tensor] | None = None,
    ):
        super().__init__()
        self.config = config if config is not None else PenaltyConfig()
        if not isinstance(self.config, PenaltyConfig):
            raise TypeError(
                f"config must be a PenaltyConfig; got {type(config).__name__}. Build one with "
                f"PenaltyConfig(strength=..., kernel=..., ...)"
            )
        self.groups = groups_of(model, self.config)
        live = dict(model.named_parameters())
        self.params = [live[n] for n in self.groups.names]  # θ_S, the model's own tensors (not registered)
        source = theta0 if theta0 is not None else model.state_dict()
        for i, n in enumerate(self.groups.names):
            self.register_buffer(f"theta0_{i}", source[n].detach().clone())
            self.register_buffer(f"anchors_{i}", source[n].new_zeros((0, *source[n].shape)))
        self.register_buffer("sigma2", source[self.groups.names[0]].new_zeros((0, self.groups.num_groups)))
        self._flat_cache = None  # what apply_(flat=True) keeps of the anchors, until they change

    @property
    def param_names(self) -> list[str]:
        return self.groups.names

    @property
    def theta0(self) -> dict[str, torch.Tensor]:
        """θ₀ of every persistent tensor, by name."""
        return dict(zip(self.groups.names, self._buffers_of("theta0")))

    @property
    def anchors(self) -> dict[str, torch.Tensor]:
        """The anchors of every persistent tensor, by name: one stacked tensor (J, *shape) each. Read
        them only: ``add_anchor``, ``set_anchors`` and ``load_state_dict`` change them (and tell
        the flat path of ``apply_``, which keeps them as one tensor)."""
        return dict(zip(self.groups.names, self._buffers_of("anchors")))

    def _buffers_of(self, kind: str) -> list[torch.Tensor]:
        return [getattr(self, f"{kind}_{i}") for i in range(len(self.params))]

    @property
    def num_anchors(self) -> int:
        return len(self.sigma2)

    def num_parameters(self) -> int:
        return self.groups.numel

    def get_extra_state(self) -> dict:
        return self.config.to_dict()

    def set_extra_state(self, state: dict) -> None:
        cfg = {**state, "exclude": tuple(state["exclude"])}
        cfg["include"] = tuple(cfg["include"]) if cfg["include"] is not None else None
        if PenaltyConfig(**cfg) != self.config:
            raise ValueError(
                f"stored penalty config {cfg} differs from this penalty's {self.config.to_dict()}"
            )

    def load_state_dict(self, state_dict, strict: bool = True, assign: bool = False):
        """Torch's, after sizing the anchors for the number the state holds."""
        J = len(state_dict["sigma2"])
        for i, a in enumerate(self._buffers_of("anchors")):
            setattr(self, f"anchors_{i}", a.new_zeros((J, *a.shape[1:])))
        self.sigma2 = self.sigma2.new_zeros((J, self.groups.num_groups))
        self._flat_cache = None
        return super().load_state_dict(state_dict, strict=strict, assign=assign)

    def _follow(self) -> None:
        """Move θ₀, the anchors and σ² to the device of the model's parameters (a penalty built
        before the model was moved to the GPU follows it there)."""
        if self.sigma2.device != self.params[0].device:
            self.to(self.params[0].device)

    def _diffs(self, tensors) -> list[torch.Tensor]:
        """θ − a_j for every persistent tensor: (J, *shape)."""
        return [t.unsqueeze(0) - a for t, a in zip(tensors, self._buffers_of("anchors"))]

    # -- anchors --------------------------------------------------------------------------
    @torch.no_grad()
    def add_anchor(self, state: dict[str, torch.Tensor] | nn.Module | None = None) -> None:
        """Remember a converged solution (a state dict, a model, or the live θ) as anchor a_J."""
        self._follow()
        if isinstance(state, nn.Module):
            state = state.state_dict()
        if state is None:
            state = dict(zip(self.groups.names, self.params))
        theta0 = self._buffers_of("theta0")
        new = [state[n].detach().to(t0).unsqueeze(0).clone() for n, t0 in zip(self.groups.names, theta0)]
        s2 = self.config.sigma2(self.groups.sq_norms([t0.unsqueeze(0) - a for t0, a in zip(theta0, new)]))
        for i, (a, v) in enumerate(zip(self._buffers_of("anchors"), new)):
            setattr(self, f"anchors_{i}", torch.cat([a, v]))
        self.sigma2 = torch.cat([self.sigma2, s2])
        self._flat_cache = None

    def set_anchors(self, states: list[dict[str, torch.Tensor]]) -> None:
        """Replace every anchor (the repulsive ablation moves them every step)."""
        for i, a in enumerate(self._buffers_of("anchors")):
            setattr(self, f"anchors_{i}", a[:0])
        self.sigma2 = self.sigma2[:0]
        for s in states:
            self.add_anchor(s)

    # -- the two ways to apply the penalty ------------------------------------------------
    def strength_at(self, progress: float) -> float:
        """λ(t)."""
        return self.config.strength_at(progress)

    def value(self, progress: float = 0.0) -> torch.Tensor:
        """λ(t)·P(θ), differentiable (for analysis and for checking ``apply_``)."""
        self._follow()
        if not self.num_anchors:
            return self.params[0].new_zeros(())
        phi, _ = penalty_terms(
            self.config.kernel, self.groups.sq_norms(self._diffs(self.params)), self.sigma2
        )
        return self.strength_at(progress) * phi.sum()  # λ(t)·Σ_j Σ_g φ(r)

    @torch.no_grad()
    def apply_(self, progress: float = 0.0, flat: bool | None = None) -> torch.Tensor:
        """Add λ(t)∇P to ``.grad`` in place; return P(θ) unscaled (a 0-d tensor, no sync).

        ∇_θ P = Σ_j Σ_g φ'(u) · 2(θ_g − a_{j,g})/σ²_{j,g}, from the same differences that give
        the distances: one pass over the parameters serves all anchors. ``flat``: the same sums on
        θ_S as one flat vector, in a dozen kernels whatever the number of tensors (default: on
        CUDA, where the per-tensor path is launch-bound; its group sums are atomic adds there). The
        CPU keeps the per-tensor sums, so a trajectory retrained there gives the same numbers.
        """
        self._follow()
        if not self.num_anchors:
            return self.params[0].new_zeros(())
        lam = self.strength_at(progress)
        if self.params[0].is_cuda if flat is None else flat:
            return self._apply_flat(lam)
        diffs = self._diffs(self.params)
        # one set of kernel ops for every group of the model; coef = λ·φ'(u)·2/σ²
        phi, coef = penalty_terms(self.config.kernel, self.groups.sq_norms(diffs), self.sigma2, lam)
        if lam != 0.0:
            for p, d, c in zip(self.params, diffs, self.groups.spread(coef)):
                g = (c * d).sum(0)  # Σ_j c_j (θ − a_j)
                p.grad = g if p.grad is None else p.grad.add_(g)
        return phi.sum()  # Σ_j Σ_g φ(r)

    def _apply_flat(self, lam: float) -> torch.Tensor:
        index, anchors = self._flat()
        diff = torch.cat([p.detach().reshape(-1) for p in self.params]) - anchors  # θ − a_j: (J, N)
        d2 = diff.new_zeros(self.sigma2.shape).index_add_(1, index, diff * diff)  # ‖θ_g − a_{j,g}‖²
        phi, coef = penalty_terms(self.config.kernel, d2, self.sigma2, lam)  # coef = λ·φ'(u)·2/σ²
        if lam != 0.0:
            g = (coef.index_select(1, index) * diff).sum(0)  # Σ_j c_j (θ − a_j), per coordinate
            parts = [t.view_as(p) for t, p in zip(g.split([p.numel() for p in self.params]), self.params)]
            for p in self.params:
                if p.grad is None:
                    p.grad = torch.zeros_like(p)
            torch._foreach_add_([p.grad for p in self.params], parts)
        return phi.sum()

    def _flat(self) -> tuple[torch.Tensor, torch.Tensor]:
        """The group of each coordinate and the anchors as (J, N), kept until the anchors change."""
        anchors = self._flat_cache[1] if self._flat_cache is not None else None
        if anchors is None or (anchors.device, anchors.dtype) != (self.sigma2.device, self.sigma2.dtype):
            anchors = torch.cat([a.reshape(len(a), -1) for a in self._buffers_of("anchors")], 1)
            self._flat_cache = (self.groups.index().to(anchors.device), anchors)
        return self._flat_cache

    @torch.no_grad()
    def distances(self) -> torch.Tensor:
        """‖θ_S − a_j‖ over the whole persistent set, one per anchor: (J,)."""
        self._follow()
        if not self.num_anchors:
            return self.params[0].new_zeros(0)
        # every granularity partitions θ_S, so its group squares sum to the whole distance
        return self.groups.sq_norms(self._diffs(self.params)).sum(1).sqrt()
