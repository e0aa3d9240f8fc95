r"""The repulsive deep ensemble of D'Angelo & Fortuin (2021, "Repulsive deep ensembles are
Bayesian"), in weight space with the kernel-density (KDE) estimate of the gradient of the
members' log density, as docs/method.md specifies it.

K members w_1 … w_K (all parameters of each network, flattened) train at once from independent
initializations. Their Wasserstein gradient flow on the posterior moves member i along

.. math::

    v_i = \nabla \log p(w_i \mid D) - \frac{\sum_j \nabla_{w_i} k(w_i, w_j)}{\sum_j k(w_i, w_j)},
    \qquad k(w, w') = \exp(-\lVert w - w'\rVert^2 / h),

with the bandwidth set every step by the median heuristic h = med² / log K (med: the median of the
members' pairwise distances; it gets no gradient). The log posterior sums the likelihood of all N
training points, so in the units of the mean training loss L that SGD descends, the repulsion is
scaled by 1/N against the data term: member i descends ∇L(w_i) + (1/N)·∇ log ρ̂(w_i). That is the
paper's scaling; the prior is the weight decay every method shares. The authors' code
(``ratschlab/repulsive_ensembles``) takes the median over the whole K × K matrix of squared
distances, diagonal included, and divides by log(K + 1); docs/method.md's rule is the one used here.

``kde_gradient`` is the closed form; ``kde_gradient_autograd`` is the same quantity by autograd
(tests/test_baselines.py checks that they agree).
"""

from __future__ import annotations

import math

import torch


def median_bandwidth(W: torch.Tensor) -> torch.Tensor:
    """h = med² / log K, med the median of the pairwise distances ‖w_i − w_j‖ (i < j) of the rows
    of ``W`` (K, D); the mean of the two middle ones when their number is even."""
    K = W.shape[0]
    if K < 2:
        raise ValueError(
            "the repulsive ensemble needs K ≥ 2 members: the median heuristic has no pair to measure"
        )
    i, j = torch.triu_indices(K, K, 1)
    d = (W[i] - W[j]).norm(dim=1)
    med = d.sort().values[[(len(d) - 1) // 2, len(d) // 2]].mean()
    return med.square() / math.log(K)


def kde_gradient(W: torch.Tensor, n_train: int) -> tuple[torch.Tensor, torch.Tensor]:
    """(1/N)·∇ log ρ̂(w_i) for every member (K, D), and the kernel matrix (K, K):
    ∇_{w_i} k(w_i, w_j) = −(2/h)(w_i − w_j) k_ij, divided by Σ_j k_ij."""
    h = median_bandwidth(W)
    diff = W.unsqueeze(1) - W.unsqueeze(0)  # (K, K, D): w_i − w_j
    k = torch.exp(-diff.square().sum(-1) / h)  # k_ij, k_ii = 1
    num = -(2.0 / h) * (k.unsqueeze(-1) * diff).sum(1)  # Σ_j ∇_{w_i} k_ij
    return num / k.sum(1, keepdim=True) / n_train, k


def kde_gradient_autograd(W: torch.Tensor, n_train: int) -> torch.Tensor:
    """The same gradient by autograd, as the authors compute it: the kernel between the members and
    a detached copy of them, the bandwidth detached."""
    W = W.detach().requires_grad_(True)
    h = median_bandwidth(W.detach())
    k = torch.exp(-(W.unsqueeze(1) - W.detach().unsqueeze(0)).square().sum(-1) / h)
    grad_k = torch.autograd.grad(k.sum(), W)[0]  # row i: Σ_j ∇_{w_i} k(w_i, w_j)
    return grad_k / k.detach().sum(1, keepdim=True) / n_train


class KDERepulsionHook:
    """The loop's hook (``pnlib.train.loop.train``): after every member's backward, member i's ``.grad``
    gains (1/N)·∇ log ρ̂(w_i), from the members as they are before anyone steps."""

    def __init__(self, models: list, n_train: int):
        self.params = [[p for p in m.parameters() if p.requires_grad] for m in models]
        self.n_train = n_train

    @torch.no_grad()
    def after_backward(self, t: float) -> list[torch.Tensor]:
        W = torch.stack([torch.cat([p.detach().reshape(-1) for p in ps]) for ps in self.params]).double()
        grad, k = kde_gradient(W, self.n_train)
        for ps, g in zip(self.params, grad):
            offset = 0
            for p in ps:
                step = g[offset : offset + p.numel()].view_as(p).to(p.dtype)
                p.grad = step.clone() if p.grad is None else p.grad.add_(step)
                offset += p.numel()
        return list(k.sum(1) - 1.0)  # each member's kernel mass on the others: 0 far apart, K − 1 together

    def history_row(self, member: int, row: dict, penalty: float, progress: float) -> dict:
        return member_history(row, "kernel_mass", penalty)


def member_history(row: dict, column: str, value: float) -> dict:
    """A member's epoch row of an ensemble's history: the training columns, ``column`` = ``value``
    (what the hook's coupling measured), and the seconds."""
    return {
        **{c: row[c] for c in ("epoch", "train_loss", "val_loss", "val_acc", "lr")},
        column: value,
        "seconds": row["seconds"],
    }
