"""Synthetic bad-minimum experiments, every seed at once as one tensor program.

Parameters of B independent runs live in one (B, D) tensor; an objective maps it to per-run
losses (B,) and gradients (B, D). ``persistent_descent`` runs K trajectories from the same θ₀
for all B runs together, the penalty of trajectory k built from the end points of trajectories
1..k-1 with the same kernel math as ``PersistentPenalty`` (``persistence.penalty_terms``).
Notebook 02 uses it for the kink network and the teacher–student problem, notebook 01 for a
2-D surface.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, fields
from typing import Callable

import numpy as np
import pandas as pd
import torch

from . import checks, seeds
from .persistence import PenaltyConfig, group_sq, penalty_terms

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
        return Trajectories(*(None if getattr(self, f.name) is None else getattr(self, f.name)[k]
                              for f in fields(self)))

    @staticmethod
    def cat(parts: list["Trajectories"]) -> "Trajectories":
        """Stack trajectories of the same runs along K (a field that any part lacks is dropped)."""
        return Trajectories(*(None if any(getattr(p, f.name) is None for p in parts) else
                              torch.cat([getattr(p, f.name) for p in parts]) for f in fields(parts[0])))


def penalty_gradient(theta: torch.Tensor, anchors: torch.Tensor, sigma2: torch.Tensor, penalty: PenaltyConfig,
                     lam: float, groups: torch.Tensor | None = None) -> torch.Tensor:
    """λ∇P for B runs at once: θ (B, D), anchors (J, B, D), σ² (J, B, G); the same kernel math
    as ``PersistentPenalty.apply_`` (tests/test_synthetic.py checks that they agree)."""
    G = sigma2.shape[-1]
    diff = theta.unsqueeze(0) - anchors                                             # θ − a_j
    _, coef = penalty_terms(penalty.kernel, group_sq(diff, groups, G), sigma2, lam)  # λ·φ'(u)·2/σ²
    c = coef if groups is None else coef[..., groups]                                # per coordinate
    return (c * diff).sum(0)


def persistent_descent(objective: Objective, theta0: torch.Tensor, *, K: int, steps: int, lr: float,
                       penalty: PenaltyConfig | None = None, groups: torch.Tensor | None = None,
                       optimizer: str = "gd", tol: float | None = None, stop_below: float | None = None,
                       penalty_steps: int | None = None, check_every: int = 100,
                       record_every: int = 0, early_step: int | None = None) -> Trajectories:
    """K trajectories from θ₀ for all runs at once; trajectory k ≥ 2 feels the penalty of the
    earlier end points (``penalty=None`` or strength 0: K plain re-runs, identical for GD).

    ``penalty_steps``: λ(t) follows its schedule over these first steps and is 0 afterwards
    (default: all ``steps``). ``tol`` (GD only): a run stops once the penalty is off and its
    largest per-group gradient norm is ≤ tol; with ``stop_below`` also once its loss is below
    that value (plain GD with a stable step never raises the loss again, so the run's class is
    settled). Stopped runs are dropped from the batch, which is where most of the time goes.
    ``early_step``: also keep every trajectory's state at that step (``Trajectories.early``; a run
    stopped before it keeps its end point).
    """
    checks.choice("optimizer", optimizer, ("gd", "adam"))
    if (tol is not None or stop_below is not None) and optimizer != "gd":
        raise ValueError("tol and stop_below (early stops) are only defined for optimizer='gd'")
    B, D = theta0.shape
    G = int(groups.max()) + 1 if groups is not None else 1
    P = penalty_steps or steps
    ends, losses, used, conv, settled, paths, early = [], [], [], [], [], [], []
    for k in range(K):
        anchors = torch.stack(ends) if ends and penalty is not None and penalty.strength > 0 else None
        if anchors is not None:
            s2_all = penalty.sigma2(group_sq(theta0.unsqueeze(0) - anchors, groups, G))  # σ²_{j,g}
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
                g = g + penalty_gradient(x.detach(), anchors[:, active], s2_all[:, active], penalty, lam, groups)
            if (tol is not None or stop_below is not None) and (anchors is None or step >= P) \
                    and step % check_every == 0:
                never = torch.zeros_like(loss, dtype=torch.bool)
                conv_now = group_sq(g, groups, G).max(-1).values.sqrt() <= tol if tol is not None else never
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
                    x = x.detach() - lr * g                                          # plain gradient descent
                else:
                    x.grad = g
                    opt.step()
        theta[active] = x.detach()
        final_loss, _ = objective(theta)
        ends.append(theta)
        early.append(theta.clone() if at_early is None else at_early)
        losses.append(final_loss)
        used.append(steps_used)
        conv.append(done)
        settled.append(low)
        if record_every:
            track.append(theta.clone())
            paths.append(torch.stack(track))
    return Trajectories(torch.stack(ends), torch.stack(losses), torch.stack(used), torch.stack(conv),
                        torch.stack(settled), torch.stack(paths) if record_every else None,
                        torch.stack(early) if early_step is not None else None)


def kick_starts(theta0: torch.Tensor, a: torch.Tensor, b: torch.Tensor, groups: torch.Tensor | None,
                seed: int) -> torch.Tensor:
    """θ₀ plus a random perturbation, per run and group g, of norm ‖a_g − b_g‖ and a direction
    uniform on the group's sphere: the random-kick control (METHOD.md) for B runs (B, D)."""
    G = int(groups.max()) + 1 if groups is not None else 1
    target = group_sq(a - b, groups, G).sqrt()
    noise = torch.randn(theta0.shape, generator=torch.Generator().manual_seed(seed), dtype=theta0.dtype)
    scale = target / group_sq(noise, groups, G).sqrt()
    return theta0 + noise * (scale if groups is None else scale[..., groups])


# -- the equal-compute comparison (METHOD.md) for a batched objective ----------------------------
METHODS = ("trajectory 1", "persistent", "re-runs from θ₀", "restarts", "longer", "random kick")


def compare(objective: Objective, init: Callable[[int], torch.Tensor], *, seed: int, K: int, steps: int,
            penalty: PenaltyConfig, methods=METHODS, kick_after: float = 0.1, **descent) -> dict[str, Trajectories]:
    """Every method of ``methods`` at equal compute (K × ``steps``) for all runs at once.

    ``init(s)`` draws the (B, D) inits with seed ``s``. θ₀ = ``init(init_seed(seed, 1))`` is shared
    by trajectory 1, the persistent trajectories, the re-runs from θ₀ (no penalty), the longer run
    (one trajectory of K × ``steps``) and restart 1; restart k ≥ 2 draws ``init(init_seed(seed, k))``.
    ``random kick`` (the control): trajectory k ≥ 2 starts from θ₀ plus a random perturbation whose
    norm per group is the distance, after ``kick_after`` × the steps, between persistent trajectory
    k and the penalty-free one (trajectory 1: full-batch descent from θ₀ repeats it exactly), and
    descends without penalty. ``descent`` goes to ``persistent_descent`` (lr, groups, tol, ...).
    """
    for m in methods:
        checks.choice("method", m, METHODS)
    theta0 = init(seeds.init_seed(seed, 1))
    one = dict(K=1, steps=steps, **descent)
    out = {}
    if {"trajectory 1", "persistent", "restarts", "random kick"} & set(methods):
        early = max(1, int(kick_after * steps)) if "random kick" in methods else None
        per = persistent_descent(objective, theta0, K=K, steps=steps, penalty=penalty, early_step=early, **descent)
        out.update({"trajectory 1": per[:1], "persistent": per})
    if "random kick" in methods:
        kicked = [persistent_descent(objective, kick_starts(theta0, per.early[k], per.early[0], descent.get("groups"),
                                                            seeds.derive_seed(seed, "kick", k + 1)), **one)
                  for k in range(1, K)]
        out["random kick"] = Trajectories.cat([per[:1], *kicked])
    if "re-runs from θ₀" in methods:
        out["re-runs from θ₀"] = persistent_descent(objective, theta0, K=K, steps=steps, **descent)
    if "restarts" in methods:
        fresh = [persistent_descent(objective, init(seeds.init_seed(seed, k)), **one) for k in range(2, K + 1)]
        out["restarts"] = Trajectories.cat([per[:1], *fresh])
    if "longer" in methods:
        out["longer"] = persistent_descent(objective, theta0, **{**one, "steps": K * steps})
    return {m: out[m] for m in methods}


def outcomes(runs: dict[str, Trajectories], **labels) -> pd.DataFrame:
    """One row per (method, run): the best final loss over the method's trajectories (the
    method's result), whether any of them hit the step cap, and the steps it used in all."""
    rows = [pd.DataFrame({"method": m, "run": range(t.loss.shape[1]), "best_loss": t.best().numpy(),
                          "capped": t.capped.any(0).numpy(), "steps": t.steps.sum(0).numpy()})
            for m, t in runs.items()]
    return pd.concat(rows, ignore_index=True).assign(**labels)


def speedup(objective: Objective, theta0: torch.Tensor, n_loop: int = 8, **descent) -> dict:
    """Seconds per run of the batched program on all of ``theta0`` against a Python loop over
    ``n_loop`` single runs (B = 1), timed here in the same process."""
    import time
    t0 = time.perf_counter()
    persistent_descent(objective, theta0, **descent)
    batched = (time.perf_counter() - t0) / len(theta0)
    t0 = time.perf_counter()
    for i in range(n_loop):
        persistent_descent(objective, theta0[i:i + 1], **descent)
    loop = (time.perf_counter() - t0) / n_loop
    return {"runs": len(theta0), "batched s/run": batched, "loop s/run": loop, "speedup": loop / batched}


# -- the kink: a three-weight-layer ReLU network on a 1-D target ----------------------------------
def kink_shapes(widths: tuple[int, int]) -> list[tuple[int, int]]:
    h1, h2 = widths
    return [(h1, 1), (h2, h1), (1, h2)]  # (out, in) of the three Linear layers


def kink_unflatten(theta: torch.Tensor, widths) -> list[tuple[torch.Tensor, torch.Tensor]]:
    """(B, D) -> [(W (B, out, in), b (B, out))] per layer, as views."""
    out, i = [], 0
    for o, n in kink_shapes(widths):
        W = theta[:, i:i + o * n].view(-1, o, n)
        i += o * n
        b = theta[:, i:i + o]
        i += o
        out.append((W, b))
    return out


def kink_dim(widths) -> int:
    return sum(o * n + o for o, n in kink_shapes(widths))


def kink_groups(widths) -> torch.Tensor:
    """Neuron groups: each output unit's weight row and its bias."""
    ids, g = [], 0
    for o, n in kink_shapes(widths):
        ids += [g + r for r in range(o) for _ in range(n)] + [g + r for r in range(o)]
        g += o
    return torch.tensor(ids)


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
    h = torch.relu(X.view(1, -1, 1) * W1.transpose(1, 2) + b1.unsqueeze(1))      # (B, N, h1)
    h = torch.relu(torch.baddbmm(b2.unsqueeze(1), h, W2.transpose(1, 2)))         # (B, N, h2)
    return torch.baddbmm(b3.unsqueeze(1), h, W3.transpose(1, 2)).squeeze(-1)      # (B, N)


def kink_data(distribution: str, n: int = 64, dtype=torch.float32) -> tuple[torch.Tensor, torch.Tensor, float]:
    """Inputs on a grid and the target |x − c|: ``centred`` x ∈ [−1, 1], c = 0; ``shifted``
    x ∈ [2, 4], c = 3. Returns X, y and c."""
    lo, hi, c = {"centred": (-1.0, 1.0, 0.0), "shifted": (2.0, 4.0, 3.0)}[distribution]
    X = torch.linspace(lo, hi, n, dtype=dtype)
    return X, (X - c).abs(), c


def kink_objective(X: torch.Tensor, y: torch.Tensor, widths) -> Objective:
    return autograd_objective(lambda t: (kink_forward(t, X, widths) - y).square().mean(1))


# -- two-layer teacher–student with Gaussian inputs (closed-form population loss) -----------------
def _arccos_terms(A: torch.Tensor, Bm: torch.Tensor):
    """Norms, angles and sines between the rows of A (R, k, d) and Bm (R or 1, m, d)."""
    na, nb = A.norm(dim=-1), Bm.norm(dim=-1)
    tiny = torch.finfo(A.dtype).tiny
    cos = (A @ Bm.transpose(-1, -2)) / (na.unsqueeze(-1) * nb.unsqueeze(-2)).clamp_min(tiny)
    cos = cos.clamp(-1.0, 1.0)
    return na, nb, torch.arccos(cos), (1 - cos * cos).clamp_min(0).sqrt(), cos


def teacher_student_objective(k: int, d: int, V: torch.Tensor | None = None) -> Objective:
    """F(W) = ½ E_x[(Σᵢ relu(wᵢ·x) − Σⱼ relu(vⱼ·x))²], x ~ N(0, I), with the closed form
    E[relu(w·x) relu(v·x)] = ‖w‖‖v‖(sin θ + (π − θ) cos θ)/(2π). W is flat (B, k·d); V = I."""
    V = torch.eye(k, d, dtype=torch.float64) if V is None else V

    def terms(A, Bm):
        """E[relu(a·x)relu(b·x)] for all row pairs, and the pieces of its gradient in a."""
        na, nb, th, s, c = _arccos_terms(A, Bm)
        outer = na.unsqueeze(-1) * nb.unsqueeze(-2)
        return (outer * (s + (math.pi - th) * c)).sum((-1, -2)) / (2 * math.pi), na, nb, th, s

    vv = terms(V.unsqueeze(0), V.unsqueeze(0))[0]

    def objective(theta):
        W = theta.view(-1, k, d)
        Vb = V.to(W).unsqueeze(0)
        ww, nw, _, th_w, s_w = terms(W, W)
        wv, _, nv, th_v, s_v = terms(W, Vb)
        loss = 0.5 * (ww - 2 * wv + vv.to(W))
        # ∂/∂w E[relu(w·x)relu(v·x)] = (‖v‖ sin θ ŵ + (π − θ) v)/(2π)
        what = W / nw.unsqueeze(-1).clamp_min(torch.finfo(W.dtype).tiny)
        radial = (s_w * nw.unsqueeze(-2)).sum(-1) - (s_v * nv.unsqueeze(-2)).sum(-1)     # (B, k)
        grad = (radial.unsqueeze(-1) * what + (math.pi - th_w) @ W - (math.pi - th_v) @ Vb) / (2 * math.pi)
        return loss, grad.reshape(theta.shape)

    return objective


def teacher_student_init(B: int, k: int, d: int, seed: int) -> torch.Tensor:
    """W = randn(k, d)/√d per run, flat (B, k·d), float64."""
    gen = torch.Generator().manual_seed(seed)
    return (torch.randn(B, k, d, generator=gen, dtype=torch.float64) / math.sqrt(d)).view(B, k * d)


def neuron_groups(k: int, d: int) -> torch.Tensor:
    """Row i of W (neuron i) is group i."""
    return torch.arange(k).repeat_interleave(d)


# -- a 2-D loss surface with minima of different depths (notebook 01) -----------------------------
TOY_CENTRES = ((-1.6, 1.2), (1.4, 1.4), (1.5, -1.3), (-1.3, -1.5), (0.0, 0.0))
TOY_DEPTHS = (1.0, 1.6, 2.2, 1.3, 0.7)
TOY_WIDTH = 0.7


def toy_surface(theta: torch.Tensor) -> torch.Tensor:
    """f(θ) = 0.1‖θ‖² − Σᵢ dᵢ exp(−‖θ − cᵢ‖²/(2w²)) for θ of shape (B, 2): five wells of
    different depths in a bowl."""
    c = torch.tensor(TOY_CENTRES, dtype=theta.dtype)
    dep = torch.tensor(TOY_DEPTHS, dtype=theta.dtype)
    sq = (theta.unsqueeze(1) - c).square().sum(-1)                                 # (B, wells)
    return 0.1 * theta.square().sum(-1) - (dep * torch.exp(-sq / (2 * TOY_WIDTH ** 2))).sum(-1)


def toy_minima(steps: int = 5000, lr: float = 0.05) -> torch.Tensor:
    """The local minima of ``toy_surface``, found by gradient descent from each well's centre."""
    start = torch.tensor(TOY_CENTRES, dtype=torch.float64)
    return persistent_descent(autograd_objective(toy_surface), start, K=1, steps=steps, lr=lr).theta[0]


def nearest_minimum(theta: torch.Tensor, minima: torch.Tensor) -> torch.Tensor:
    """Index of the minimum each end point (..., 2) is closest to."""
    return (theta.unsqueeze(-2) - minima).square().sum(-1).argmin(-1)


def toy_init(n: int) -> Callable[[int], torch.Tensor]:
    """Inits for ``compare`` on the toy surface: ``n`` points uniform on [−3, 3]², by seed."""
    return lambda seed: torch.rand(n, 2, generator=torch.Generator().manual_seed(seed), dtype=torch.float64) * 6 - 3


def toy_outcomes(runs: dict[str, Trajectories], minima: torch.Tensor) -> pd.DataFrame:
    """One row per (method, θ₀): how many distinct minima its K end points reached, whether one
    of them is the deepest, and the best loss."""
    deepest_idx = int(toy_surface(minima).argmin())
    rows = []
    for method, t in runs.items():
        found = nearest_minimum(t.theta, minima)                                     # (K, runs)
        rows.append(pd.DataFrame({"method": method, "K": len(t.theta), "run": range(found.shape[1]),
                                  "distinct_minima": [len(set(c)) for c in found.T.tolist()],
                                  "found_deepest": (found == deepest_idx).any(0).numpy(),
                                  "best_loss": t.best().numpy()}))
    return pd.concat(rows, ignore_index=True)


def toy_summary(outcomes: pd.DataFrame) -> pd.DataFrame:
    """Per method (``toy_outcomes`` rows): distinct minima reached per θ₀ and the share of θ₀ that
    reached the deepest one (95% t- and Wilson intervals), and the best loss."""
    from .stats import mean_ci, wilson
    rows = []
    for method, g in outcomes.groupby("method", sort=False):
        m, lo, hi = mean_ci(g.distinct_minima.to_numpy(dtype=float))
        dlo, dhi = wilson(int(g.found_deepest.sum()), len(g))
        bm, blo, bhi = mean_ci(g.best_loss.to_numpy())
        rows.append({"method": method, "K": int(g.K.iloc[0]), "theta0": len(g), "distinct_minima": m,
                     "distinct_ci_low": lo, "distinct_ci_high": hi, "found_deepest": g.found_deepest.mean(),
                     "deepest_ci_low": dlo, "deepest_ci_high": dhi, "best_loss": bm, "best_loss_ci_low": blo,
                     "best_loss_ci_high": bhi})
    return pd.DataFrame(rows)


# -- the notebook-02 experiments: per-run outcomes of every method --------------------------------
def kink_problem(distribution: str, width: int):
    """Data, widths, objective and neuron groups of the kink network of width ``width``."""
    X, y, _ = kink_data(distribution)
    widths = (width, width)
    return X, y, widths, kink_objective(X, y, widths), kink_groups(widths)


# full-batch descent is deterministic, so re-runs from θ₀ repeat trajectory 1 exactly (notebook 01)
KINK_METHODS = ("trajectory 1", "persistent", "restarts", "longer", "random kick")


def kink_outcomes(distribution: str, width: int, *, runs: int, seed: int, K: int, penalty: PenaltyConfig,
                  methods=KINK_METHODS, **descent) -> pd.DataFrame:
    """Per-run best training MSE of every method on the kink (``descent``: steps, lr, optimizer, ...)."""
    import time
    _, _, widths, objective, groups = kink_problem(distribution, width)
    t0 = time.perf_counter()
    out = compare(objective, lambda s: kink_init(runs, widths, seed=s), seed=seed, K=K, penalty=penalty,
                  methods=methods, groups=groups, **descent)
    return outcomes(out, distribution=distribution, width=width, kernel=penalty.kernel, strength=penalty.strength,
                    schedule=penalty.schedule, seconds=time.perf_counter() - t0)


def kink_fits(distribution: str, width: int, chosen, *, runs: int, seed: int, K: int, penalty: PenaltyConfig,
              **descent) -> dict[str, dict[str, torch.Tensor]]:
    """For the ``chosen`` runs (indices among ``runs``): the fitted curves of trajectory 1 and of
    the best persistent trajectory, recomputed on those runs alone (for a figure)."""
    X, _, widths, objective, groups = kink_problem(distribution, width)
    theta0 = kink_init(runs, widths, seed=seeds.init_seed(seed, 1))[list(chosen)]
    t = persistent_descent(objective, theta0, K=K, penalty=penalty, groups=groups, **descent)
    curves = {}
    for i, run in enumerate(chosen):
        best = int(t.loss[:, i].nan_to_num(nan=math.inf).argmin())
        curves[f"run {run}"] = {f"traj. 1 (MSE {t.loss[0, i]:.3f})": kink_forward(t.theta[0, i:i + 1], X, widths)[0],
                                f"best persistent, k={best + 1} (MSE {t.loss[best, i]:.1e})":
                                    kink_forward(t.theta[best, i:i + 1], X, widths)[0]}
    return curves


TS_METHODS = ("trajectory 1", "persistent", "restarts", "longer")


def teacher_student_outcomes(k: int, *, runs: int, seed: int, K: int, cap: int, penalty: PenaltyConfig,
                             penalty_steps: int = 2000, methods=TS_METHODS, bad_loss: float = 1e-3) -> pd.DataFrame:
    """Per-run outcome of every method for k = n = d: gradient descent with step 0.1 until it
    settles (gradient ≤ 1e−9, or loss < ``bad_loss`` once the penalty is off) or hits ``cap`` steps
    per trajectory; λ follows its schedule over the first ``penalty_steps`` steps. ``outcome``:
    ``good`` (best loss < ``bad_loss``), ``bad`` (settled above it), or ``capped`` (above it with a
    trajectory still moving at the cap: undecided, a third outcome, never counted as bad)."""
    import time
    t0 = time.perf_counter()
    out = compare(teacher_student_objective(k, k), lambda s: teacher_student_init(runs, k, k, seed=s), seed=seed,
                  K=K, steps=cap, penalty=penalty, methods=methods, lr=0.1, groups=neuron_groups(k, k), tol=1e-9,
                  stop_below=bad_loss, penalty_steps=min(penalty_steps, cap))
    table = outcomes(out, k=k, n=k, step_cap=cap, seconds=time.perf_counter() - t0)
    good = table.best_loss < bad_loss
    return table.assign(outcome=np.where(good, "good", np.where(table.capped, "capped", "bad")))


def teacher_student_grid(k: int, strengths, *, runs: int, seed: int, K: int, cap: int, penalty_steps: int = 2000,
                         schedule: str = "linear") -> pd.DataFrame:
    """``teacher_student_outcomes`` for every λ of ``strengths`` (column ``strength``; the baselines,
    which do not depend on λ, are run once and carry no strength)."""
    parts = []
    for i, lam in enumerate(strengths):
        pen = PenaltyConfig(strength=lam, schedule=schedule)
        t = teacher_student_outcomes(k, runs=runs, seed=seed, K=K, cap=cap, penalty=pen, penalty_steps=penalty_steps,
                                     methods=TS_METHODS if i == 0 else ("persistent",))
        parts.append(t.assign(strength=np.where(t.method == "persistent", lam, np.nan)))
    return pd.concat(parts, ignore_index=True)
