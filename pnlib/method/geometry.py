"""The one group geometry: the persistent set as an ordered list of tensors, and the groups that
split it (docs/method.md: ``neuron``, ``layer`` or ``model``).

A block is one persistent module: a weight of shape ``(out, *fan_in)`` and, if the module has one,
a bias of shape ``(out,)``. Neuron g of a block is row g of its weight with bias entry g. The
tensors of a block come weight first, then bias, in module order; that list (``names``) is the
persistent set θ_S. Every operation takes tensors with any leading dimensions (anchors ``J``, runs
``B``) before those shapes, so the same code serves ``PersistentPenalty`` on a network, the
random-kick and random-anchor controls, and the batched synthetic engine on flat vectors
(``flatten`` / ``unflatten`` go between a flat ``(..., N)`` vector and the tensors).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

GRANULARITIES = ("model", "layer", "neuron")


@dataclass(frozen=True)
class Block:
    """One persistent module: its weight's shape ``(out, *fan_in)``, whether it has a bias, and the
    names of its tensors in a state dict."""

    shape: tuple[int, ...]
    bias: bool
    names: tuple[str, ...] = ()

    @property
    def tensors(self) -> int:
        return 2 if self.bias else 1


class Groups:
    """The persistent set split into groups. ``blocks``: one per persistent module, in order;
    ``granularity``: ``neuron`` (one group per output unit), ``layer`` (one per block) or ``model``
    (one in all). Groups are numbered block by block, neurons in row order."""

    def __init__(self, blocks: list[Block], granularity: str = "neuron"):
        if granularity not in GRANULARITIES:
            raise ValueError(f"unknown granularity {granularity!r}; allowed: {', '.join(GRANULARITIES)}")
        if not blocks:
            raise ValueError("a group geometry needs at least one block")
        self.blocks, self.granularity = list(blocks), granularity
        # groups per block in order: a neuron each, one per block, or one in all
        self.sizes = {
            "neuron": [b.shape[0] for b in self.blocks],
            "layer": [1] * len(self.blocks),
            "model": [1],
        }[granularity]
        self.num_groups = sum(self.sizes)
        self.shapes = [s for b in self.blocks for s in ((b.shape, (b.shape[0],)) if b.bias else (b.shape,))]
        self.numel = sum(math.prod(s) for s in self.shapes)

    @classmethod
    def whole(cls, n: int) -> Groups:
        """One group of ``n`` coordinates (a flat vector taken as a whole)."""
        return cls([Block((1, n), False)], "model")

    @property
    def names(self) -> list[str]:
        """The state-dict names of the persistent tensors, in order."""
        return [n for b in self.blocks for n in b.names]

    def tensors(self, state: dict) -> list[torch.Tensor]:
        """The persistent tensors of a state dict, in order."""
        return [state[n] for n in self.names]

    def pairs(self, tensors: list[torch.Tensor]) -> list[tuple[torch.Tensor, torch.Tensor | None]]:
        """(weight, bias or None) per block, from the tensors in order."""
        out, i = [], 0
        for b in self.blocks:
            out.append((tensors[i], tensors[i + 1] if b.bias else None))
            i += b.tensors
        return out

    def sq_norms(self, tensors: list[torch.Tensor]) -> torch.Tensor:
        """Σ of squares over each group's coordinates: (..., G) from tensors of shape (..., *shape)."""
        unit = []  # per neuron, per block: (..., out)
        for (w, b), block in zip(self.pairs(tensors), self.blocks):
            fan = len(block.shape) - 1
            s = w.square().flatten(-fan).sum(-1) if fan else w.square()
            unit.append(s + b.square() if b is not None else s)
        if self.granularity == "neuron":
            return torch.cat(unit, -1)
        layer = [s.sum(-1, keepdim=True) for s in unit]  # per block: (..., 1)
        return torch.cat(layer, -1) if self.granularity == "layer" else torch.stack(layer).sum(0)

    def spread(self, per_group: torch.Tensor) -> list[torch.Tensor]:
        """A value per group (..., G) as one tensor per persistent tensor, shaped to broadcast
        against it (..., out, 1, ...): what multiplies each coordinate by its group's value."""
        parts = per_group.split(self.sizes, -1)
        out = []
        for i, block in enumerate(self.blocks):
            c = parts[0 if self.granularity == "model" else i]
            out.append(c.view(*c.shape, *([1] * (len(block.shape) - 1))))
            if block.bias:
                out.append(c)
        return out

    def index(self) -> torch.Tensor:
        """The group of every coordinate of the flat vector (N,): ``sq_norms`` and ``spread`` as one
        ``index_add_`` and one gather, whatever the number of tensors."""
        ids, first = [], 0
        for block in self.blocks:
            out, fan = block.shape[0], math.prod(block.shape[1:])
            rows = (
                torch.arange(first, first + out)
                if self.granularity == "neuron"
                else torch.full((out,), first)
            )
            ids += [rows.repeat_interleave(fan)] + ([rows] if block.bias else [])  # weight row by row, bias
            first += {"neuron": out, "layer": 1, "model": 0}[self.granularity]
        return torch.cat(ids)

    def flatten(self, tensors: list[torch.Tensor]) -> torch.Tensor:
        """The tensors as one flat vector (..., N)."""
        lead = tensors[0].shape[: tensors[0].dim() - len(self.shapes[0])]
        return torch.cat([t.reshape(*lead, -1) for t in tensors], -1)

    def unflatten(self, flat: torch.Tensor) -> list[torch.Tensor]:
        """A flat vector (..., N) as views of the persistent tensors (..., *shape), in order."""
        sizes = [math.prod(s) for s in self.shapes]
        lead = flat.shape[:-1]
        return [p.view(*lead, *s) for p, s in zip(flat.split(sizes, -1), self.shapes)]
