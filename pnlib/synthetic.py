"""Synthetic bad-minimum problems and the experiments of notebooks 01 and 02 on them.

The problems, each a batched objective for the engine in ``batched``: the kink network (a
three-weight-layer ReLU net on |x − c|), the two-layer teacher–student problem with its
closed-form population loss, and a 2-D surface with minima of different depths (notebook 01).
``kink_outcomes``, ``teacher_student_outcomes`` / ``teacher_student_grid`` and ``toy_outcomes`` /
``toy_summary`` run and tabulate the methods on them. The engine's names (``compare``,
``persistent_descent``, ``Trajectories``, ...) are re-exported here for the notebooks.
"""
from __future__ import annotations

import math
import time
from typing import Callable

import numpy as np
import pandas as pd
import torch

from . import seeds
from .batched import (METHODS, Objective, Trajectories, autograd_objective, compare, kick_starts,  # also re-exported
                      outcomes, penalty_gradient, persistent_descent, speedup)
from .persistence import PenaltyConfig
from .stats import mean_ci, paired, rates, wilson


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
KINK_METHODS = ("trajectory 1", "persistent", "restarts", "longer", "random kick", "random anchors")


def kink_outcomes(distribution: str, width: int, *, runs: int, seed: int, K: int, penalty: PenaltyConfig,
                  methods=KINK_METHODS, **descent) -> pd.DataFrame:
    """Per-run best training MSE of every method on the kink (``descent``: steps, lr, optimizer, ...)."""
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
    t0 = time.perf_counter()
    out = compare(teacher_student_objective(k, k), lambda s: teacher_student_init(runs, k, k, seed=s), seed=seed,
                  K=K, steps=cap, penalty=penalty, methods=methods, lr=0.1, groups=neuron_groups(k, k), tol=1e-9,
                  stop_below=bad_loss, penalty_steps=min(penalty_steps, cap))
    table = outcomes(out, k=k, n=k, step_cap=cap, seconds=time.perf_counter() - t0)
    good = table.best_loss < bad_loss
    return table.assign(outcome=np.where(good, "good", np.where(table.capped, "capped", "bad")))


def teacher_student_grid(k: int, strengths, *, runs: int, seed: int, K: int, cap: int, penalty_steps: int = 2000,
                         schedule: str = "linear", random_anchors: bool = False, baselines: bool = True) -> pd.DataFrame:
    """``teacher_student_outcomes`` for every λ of ``strengths`` (column ``strength``; the baselines,
    which do not depend on λ, are run once, with the first λ, unless ``baselines`` is false, and
    carry no strength). ``random_anchors``: the random-anchor control too, at every λ."""
    parts, penalized = [], ("persistent", "random anchors") if random_anchors else ("persistent",)
    for i, lam in enumerate(strengths):
        pen = PenaltyConfig(strength=lam, schedule=schedule)
        t = teacher_student_outcomes(k, runs=runs, seed=seed, K=K, cap=cap, penalty=pen, penalty_steps=penalty_steps,
                                     methods=(TS_METHODS if baselines and i == 0 else ("persistent",)) + penalized[1:])
        parts.append(t.assign(strength=np.where(t.method.isin(penalized), lam, np.nan)))
    return pd.concat(parts, ignore_index=True)


def teacher_student_jobs(k: int, strengths, **grid) -> list[tuple]:
    """``teacher_student_grid(k, strengths, **grid)`` as one job per λ (for ``executors.starmap``):
    concatenated in order, their tables are that grid's table."""
    return [(teacher_student_grid, dict(k=k, strengths=(lam,), baselines=i == 0, **grid)) for i, lam in enumerate(strengths)]


def teacher_student_rates(grid_runs: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """``teacher_student_grid``'s rows with each penalised method labelled by its λ (``persistent
    λ=0.1``) and boolean ``good`` / ``bad`` / ``undecided`` (capped) columns; and per (k, method) the
    bad-run rate with its Wilson interval, the undecided count and the mean steps used."""
    lam = grid_runs.strength.map("{:g}".format)
    runs = grid_runs.assign(method=grid_runs.method.where(grid_runs.strength.isna(), grid_runs.method + " λ=" + lam),
                            good=grid_runs.outcome == "good", bad=grid_runs.outcome == "bad",
                            undecided=grid_runs.outcome == "capped")
    steps = runs.groupby(["k", "method"]).steps.mean().rename("mean steps").reset_index()
    return runs, rates(runs, ["k", "method"], "bad", also=("undecided",)).merge(steps, on=["k", "method"])


# the declared comparisons of notebook 02 (paired outcomes per run, McNemar's test)
KINK_CLAIMS = {"trajectory 1": "kink: persistence beats the baselines", "restarts": "kink: persistence beats the baselines",
               "longer": "kink: persistence beats the baselines", "random kick": "kink: a single push does not explain it",
               "random anchors": "kink: the memory of earlier solutions matters"}


def kink_family(kink_runs: pd.DataFrame, widths) -> list[dict]:
    """Persistent − each method of ``KINK_CLAIMS`` on success, per data distribution and width."""
    return [{"claim": KINK_CLAIMS[m], "comparison": f"persistent − {m} ({d}, w={w})", "metric": "success",
             "kind": "mcnemar", **paired(kink_runs, {"distribution": d, "width": w, "method": "persistent"},
                                         {"distribution": d, "width": w, "method": m}, "success")}
            for d in ("centred", "shifted") for w in widths for m in KINK_CLAIMS]


def teacher_student_family(ts_runs: pd.DataFrame) -> list[dict]:
    """Per k (in the table's order) and λ: persistent − trajectory 1 / restarts / longer, then, where
    the table holds the random-anchor control, persistent − random anchors at each of its λ. Methods
    are labelled ``persistent λ=…`` / ``random anchors λ=…``; the outcome is ``good``, and pairs with
    a capped (``undecided``) side are left out."""
    def row(claim, comparison, k, a, b):
        return {"claim": claim, "comparison": comparison, "metric": "good (capped pairs left out)", "kind": "mcnemar",
                **paired(ts_runs, {"k": k, "method": a}, {"k": k, "method": b}, "good", undecided="undecided")}

    def strengths(k, prefix):
        of = ts_runs[(ts_runs.k == k) & ts_runs.method.str.startswith(prefix)]
        return sorted(of.strength.dropna().unique())
    ks = pd.unique(ts_runs.k)
    return ([row("teacher-student: persistence beats the baselines (equal step cap)", f"persistent λ={lam:g} − {m} (k={k})",
                 k, f"persistent λ={lam:g}", m)
             for k in ks for lam in strengths(k, "persistent") for m in ("trajectory 1", "restarts", "longer")]
            + [row("teacher-student: the memory of earlier solutions matters",
                   f"persistent − random anchors, λ={lam:g} (k={k})", k, f"persistent λ={lam:g}", f"random anchors λ={lam:g}")
               for k in ks for lam in strengths(k, "random anchors")])


def kink_breakpoints(n: int, width: int, seed: int) -> np.ndarray:
    """Where the first-layer ReLUs bend (x = −b/w) under PyTorch's default init, over ``n`` nets."""
    (W1, b1), _, _ = kink_unflatten(kink_init(n, (width, width), seed=seed, dtype=torch.float64), (width, width))
    return (-b1 / W1[..., 0]).reshape(-1).numpy()


def toy_ends(per: Trajectories, minima: torch.Tensor) -> pd.DataFrame:
    """The K end points of one θ₀ on the toy surface: loss, which minimum (0 = deepest), distance to anchor 1."""
    depth_rank = toy_surface(minima).argsort().argsort()
    return pd.DataFrame({"trajectory": range(1, len(per.theta) + 1), "end loss": per.loss[:, 0].numpy(),
                         "minimum reached (0 = deepest)": depth_rank[nearest_minimum(per.theta[:, 0], minima)].numpy(),
                         "distance to anchor 1": (per.theta[:, 0] - per.theta[0, 0]).norm(dim=-1).numpy()})


def speed_table(k: int, width: int, *, ts_runs: int, kink_runs: int) -> pd.DataFrame:
    """``speedup`` (batched program against a per-seed loop, timed in this process) for the
    teacher–student problem of size k and the kink network of ``width``, 300 steps each."""
    return pd.DataFrame([
        {"workload": f"teacher-student k={k}", **speedup(teacher_student_objective(k, k),
                                                         teacher_student_init(ts_runs, k, k, seed=1), K=1, steps=300, lr=0.1)},
        {"workload": f"kink width {width}", **speedup(kink_problem("shifted", width)[3], kink_init(kink_runs, (width, width), seed=0),
                                                      K=1, steps=300, lr=0.01, optimizer="adam")}])
