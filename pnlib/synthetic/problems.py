"""The synthetic problems, each a batched objective for ``pnlib.synthetic.engine``: the kink network
(a three-weight-layer ReLU net on |x − c|), the two-layer teacher–student problem with its
closed-form population loss, and a 2-D surface with minima of different depths (notebook 01)."""

from __future__ import annotations

import math
from typing import Callable

import numpy as np
import torch

from pnlib.method.geometry import Block, Groups
from pnlib.synthetic.engine import Objective, autograd_objective, persistent_descent


# -- the kink: a three-weight-layer ReLU network on a 1-D target ----------------------------------
def kink_shapes(widths: tuple[int, int]) -> list[tuple[int, int]]:
    h1, h2 = widths
    return [(h1, 1), (h2, h1), (1, h2)]  # (out, in) of the three Linear layers


def kink_unflatten(theta: torch.Tensor, widths) -> list[tuple[torch.Tensor, torch.Tensor]]:
    """(B, D) -> [(W (B, out, in), b (B, out))] per layer, as views."""
    out, i = [], 0
    for o, n in kink_shapes(widths):
        W = theta[:, i : i + o * n].view(-1, o, n)
        i += o * n
        b = theta[:, i : i + o]
        i += o
        out.append((W, b))
    return out


def kink_dim(widths) -> int:
    return sum(o * n + o for o, n in kink_shapes(widths))


def kink_groups(widths) -> Groups:
    """Neuron groups: each output unit's weight row and its bias, layer by layer."""
    return Groups([Block(shape, True) for shape in kink_shapes(widths)], "neuron")


def kink_init(B: int, widths, seed: int, dtype=torch.float32) -> torch.Tensor:
    """PyTorch's default nn.Linear init, per run: weights and biases U(−1/√fan_in, 1/√fan_in)."""
    gen = torch.Generator().manual_seed(seed)
    parts = []
    for o, n in kink_shapes(widths):
        bound = 1.0 / math.sqrt(n)
        parts.append((torch.rand(B, o * n + o, generator=gen, dtype=dtype) * 2 - 1) * bound)
    return torch.cat(parts, 1)


def kink_forward(theta: torch.Tensor, X: torch.Tensor, widths) -> torch.Tensor:
    """Batched network output (B, N) for inputs X (N,)."""
    (W1, b1), (W2, b2), (W3, b3) = kink_unflatten(theta, widths)
    h = torch.relu(X.view(1, -1, 1) * W1.transpose(1, 2) + b1.unsqueeze(1))  # (B, N, h1)
    h = torch.relu(torch.baddbmm(b2.unsqueeze(1), h, W2.transpose(1, 2)))  # (B, N, h2)
    return torch.baddbmm(b3.unsqueeze(1), h, W3.transpose(1, 2)).squeeze(-1)  # (B, N)


def kink_data(
    distribution: str, n: int = 64, dtype=torch.float32
) -> tuple[torch.Tensor, torch.Tensor, float]:
    """Inputs on a grid and the target |x − c|: ``centred`` x ∈ [−1, 1], c = 0; ``shifted``
    x ∈ [2, 4], c = 3. Returns X, y and c."""
    lo, hi, c = {"centred": (-1.0, 1.0, 0.0), "shifted": (2.0, 4.0, 3.0)}[distribution]
    X = torch.linspace(lo, hi, n, dtype=dtype)
    return X, (X - c).abs(), c


def kink_objective(X: torch.Tensor, y: torch.Tensor, widths) -> Objective:
    return autograd_objective(lambda t: (kink_forward(t, X, widths) - y).square().mean(1))


# -- two-layer teacher–student with Gaussian inputs (closed-form population loss) -----------------
def _arccos_terms(A: torch.Tensor, Bm: torch.Tensor | None):
    """Norms, angles and sines between the rows of A (R, k, d) and Bm (R or 1, m, d); ``Bm=None``:
    the first k rows of the identity, whose products with A are read off A (w·eⱼ = w_j, ‖eⱼ‖ = 1)
    rather than multiplied, to the same numbers bit for bit."""
    na = A.norm(dim=-1)
    if Bm is None:
        dots, nb = A[..., : A.shape[-2]], A.new_ones(A.shape[-2])
    else:
        dots, nb = A @ Bm.transpose(-1, -2), na if Bm is A else Bm.norm(dim=-1)  # W against itself: one norm
    tiny = torch.finfo(A.dtype).tiny
    cos = dots / (na.unsqueeze(-1) * nb.unsqueeze(-2)).clamp_min(tiny)
    cos = cos.clamp(-1.0, 1.0)
    return na, nb, torch.arccos(cos), (1 - cos * cos).clamp_min(0).sqrt(), cos


def teacher_student_objective(k: int, d: int, V: torch.Tensor | None = None) -> Objective:
    """F(W) = ½ E_x[(Σᵢ relu(wᵢ·x) − Σⱼ relu(vⱼ·x))²], x ~ N(0, I), with the closed form
    E[relu(w·x) relu(v·x)] = ‖w‖‖v‖(sin θ + (π − θ) cos θ)/(2π). W is flat (B, k·d).

    ``V=None`` is the teacher of the experiments, V = I (k rows of the identity, k ≤ d), whose
    products are read off W (``_arccos_terms``): the very same numbers, bit for bit, as passing
    ``torch.eye(k, d)`` (tests/test_synthetic.py), for less work per call."""
    identity = V is None
    if identity and k > d:
        raise ValueError(f"the identity teacher needs k ≤ d; got k = {k}, d = {d}")
    V = torch.eye(k, d, dtype=torch.float64) if V is None else V

    def terms(A, Bm):
        """E[relu(a·x)relu(b·x)] for all row pairs, and the pieces of its gradient in a."""
        na, nb, th, s, c = _arccos_terms(A, Bm)
        outer = na.unsqueeze(-1) * nb.unsqueeze(-2)
        return (outer * (s + (math.pi - th) * c)).sum((-1, -2)) / (2 * math.pi), na, nb, th, s

    vv = terms(V.unsqueeze(0), V.unsqueeze(0))[0]

    def objective(theta):
        W = theta.view(-1, k, d)
        teacher = None if identity else V.to(W).unsqueeze(0)
        ww, nw, _, th_w, s_w = terms(W, W)
        wv, _, nv, th_v, s_v = terms(W, teacher)
        loss = 0.5 * (ww - 2 * wv + vv.to(W))
        # ∂/∂w E[relu(w·x)relu(v·x)] = (‖v‖ sin θ ŵ + (π − θ) v)/(2π)
        what = W / nw.unsqueeze(-1).clamp_min(torch.finfo(W.dtype).tiny)
        radial = (s_w * nw.unsqueeze(-2)).sum(-1) - (s_v * nv.unsqueeze(-2)).sum(-1)  # (B, k)
        pull = torch.nn.functional.pad(math.pi - th_v, (0, d - k)) if identity else (math.pi - th_v) @ teacher
        grad = (radial.unsqueeze(-1) * what + (math.pi - th_w) @ W - pull) / (2 * math.pi)
        return loss, grad.reshape(theta.shape)

    return objective


def teacher_student_init(B: int, k: int, d: int, seed: int) -> torch.Tensor:
    """W = randn(k, d)/√d per run, flat (B, k·d), float64."""
    gen = torch.Generator().manual_seed(seed)
    return (torch.randn(B, k, d, generator=gen, dtype=torch.float64) / math.sqrt(d)).view(B, k * d)


def neuron_groups(k: int, d: int) -> Groups:
    """Row i of W (neuron i) is group i."""
    return Groups([Block((k, d), False)], "neuron")


# -- a 2-D loss surface with minima of different depths (notebook 01) -----------------------------
TOY_CENTRES = ((-1.6, 1.2), (1.4, 1.4), (1.5, -1.3), (-1.3, -1.5), (0.0, 0.0))
TOY_DEPTHS = (1.0, 1.6, 2.2, 1.3, 0.7)
TOY_WIDTH = 0.7


def toy_surface(theta: torch.Tensor) -> torch.Tensor:
    """f(θ) = 0.1‖θ‖² − Σᵢ dᵢ exp(−‖θ − cᵢ‖²/(2w²)) for θ of shape (B, 2): five wells of
    different depths in a bowl."""
    c = torch.tensor(TOY_CENTRES, dtype=theta.dtype)
    dep = torch.tensor(TOY_DEPTHS, dtype=theta.dtype)
    sq = (theta.unsqueeze(1) - c).square().sum(-1)  # (B, wells)
    return 0.1 * theta.square().sum(-1) - (dep * torch.exp(-sq / (2 * TOY_WIDTH**2))).sum(-1)


def toy_minima(steps: int = 5000, lr: float = 0.05) -> torch.Tensor:
    """The local minima of ``toy_surface``, found by gradient descent from each well's centre."""
    start = torch.tensor(TOY_CENTRES, dtype=torch.float64)
    return persistent_descent(autograd_objective(toy_surface), start, K=1, steps=steps, lr=lr).theta[0]


def nearest_minimum(theta: torch.Tensor, minima: torch.Tensor) -> torch.Tensor:
    """Index of the minimum each end point (..., 2) is closest to."""
    return (theta.unsqueeze(-2) - minima).square().sum(-1).argmin(-1)


def toy_init(n: int) -> Callable[[int], torch.Tensor]:
    """Inits for ``compare`` on the toy surface: ``n`` points uniform on [−3, 3]², by seed."""
    return lambda seed: (
        torch.rand(n, 2, generator=torch.Generator().manual_seed(seed), dtype=torch.float64) * 6 - 3
    )


def kink_problem(distribution: str, width: int):
    """Data, widths, objective and neuron groups of the kink network of width ``width``."""
    X, y, _ = kink_data(distribution)
    widths = (width, width)
    return X, y, widths, kink_objective(X, y, widths), kink_groups(widths)


def kink_breakpoints(n: int, width: int, seed: int) -> np.ndarray:
    """Where the first-layer ReLUs bend (x = −b/w) under PyTorch's default init, over ``n`` nets."""
    (W1, b1), _, _ = kink_unflatten(
        kink_init(n, (width, width), seed=seed, dtype=torch.float64), (width, width)
    )
    return (-b1 / W1[..., 0]).reshape(-1).numpy()
