"""The one method registry: every method and control of docs/method.md, registered once by name with
what produces its trajectories and the name its rows carry.

A producer is ``produce(exp, cfg, seed) -> [record, ...]``: the records (key, status, scores) of
the K trajectories (or members) it trains through the trajectory store of ``exp`` (an
``Experiment``). ``rows`` says which summary rows the records give: ``"selection"`` (the one
chosen on validation, and the ensemble), ``"with trajectory 1"`` (the same, after the plain
trajectory 1 the run started with) or ``"single"`` (one long trajectory). A new control is one
``register`` call and its producer.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from functools import partial
from typing import Callable

import pandas as pd
import torch

from pnlib.base import labels, seeds
from pnlib.experiments import baselines
from pnlib.train.evaluation import score

ROWS = ("selection", "with trajectory 1", "single")


@dataclass(frozen=True)
class Method:
    name: str  # the registry key, e.g. "persistent"
    produce: Callable  # (exp, cfg, seed) -> list of trajectory records
    label: str  # the name its summary rows carry
    rows: str = "selection"
    label_without_penalty: str = ""  # persistent without penalty: the re-runs from θ₀
    needs: Callable | None = None  # cfg -> [(method, RunConfig)] whose runs it is matched to, run first

    def label_for(self, cfg) -> str:
        return (
            self.label_without_penalty if cfg.penalty is None and self.label_without_penalty else self.label
        )

    def cells(self, cfg) -> list[tuple[str, str, int]]:
        """The (method label, selection, epochs) of its summary rows, also those of a failed job."""
        name, E = self.label_for(cfg), cfg.train.num_epochs
        if self.rows == "single":
            return [(name, "", E * cfg.K)]
        first = [(labels.TRAJECTORY_1, "", E)] if self.rows == "with trajectory 1" else []
        return first + [(name, "selected", E * cfg.K), (name, "ensemble", E * cfg.K)]


REGISTRY: dict[str, Method] = {}


def register(
    name: str,
    produce: Callable,
    label: str,
    *,
    rows: str = "selection",
    label_without_penalty: str = "",
    needs: Callable | None = None,
) -> Method:
    """Register a method once: ``produce(exp, cfg, seed)`` (with ``needs``: ``produce(exp, cfg,
    seed, needed)``, ``needed`` the trajectory tables of the runs ``needs(cfg)`` names, which
    ``Experiment.run`` runs first)."""
    if name in REGISTRY:
        raise ValueError(f"method {name!r} is already registered")
    if rows not in ROWS:
        raise ValueError(f"unknown rows {rows!r}; allowed: {', '.join(ROWS)}")
    REGISTRY[name] = Method(name, produce, label, rows, label_without_penalty, needs)
    return REGISTRY[name]


def method_name(method: str, cfg) -> str:
    """The name a run's rows carry (a persistent run without penalty is the re-runs from θ₀)."""
    return REGISTRY[method].label_for(cfg) if method in REGISTRY else method


# -- the producers of persistent training and the plain baselines --------------------------------
def persistent(exp, cfg, seed: int, random_anchors: bool = False) -> list[dict]:
    """K trajectories from θ₀; trajectory k ≥ 2 under the penalty of the earlier end points. With
    ``random_anchors`` (the control): each end point becomes an anchor at its own distance from θ₀
    in every group, in a random direction (``kicks.random_anchor``); trajectory 1 is shared."""
    if random_anchors and cfg.penalty is None:
        raise ValueError(
            "the random-anchor control keeps the persistent penalty and forgets where the anchors "
            "lay: give it a config with a penalty"
        )
    theta0 = exp.theta0(cfg, seed)
    records, parents, start = [], (), theta0
    name = labels.RANDOM_ANCHORS if random_anchors else "persistent"
    for k in range(1, cfg.K + 1):
        rec = exp.trajectory(
            cfg,
            start=start,
            data_seed=seeds.data_seed(seed, k),
            train=cfg.train,
            penalty=cfg.penalty if k > 1 else None,
            parents=parents if cfg.penalty and k > 1 else (),
            theta0=theta0,
            label=f"{name} k={k}/{cfg.K}",
            anchor_seed=seeds.derive_seed(seed, "anchors") if random_anchors and k > 1 else None,
        )
        records.append(rec)
        if rec["status"] == "ok":
            parents = parents + (rec["key"],)  # a diverged end point is no anchor
            if cfg.start == "previous":
                start = exp.solution(rec["key"])
    return records


def restarts(exp, cfg, seed: int) -> list[dict]:
    # restart 1 shares θ₀ and batch order with persistent trajectory 1 (the same cached run)
    return [
        exp.trajectory(
            cfg,
            start=exp.theta0(cfg, seeds.init_seed(seed, k)),
            data_seed=seeds.data_seed(seed, k),
            train=cfg.train,
            label=f"restart k={k}/{cfg.K}",
        )
        for k in range(1, cfg.K + 1)
    ]


def longer(exp, cfg, seed: int) -> list[dict]:
    train = replace(cfg.train, num_epochs=cfg.train.num_epochs * cfg.K)
    return [
        exp.trajectory(
            cfg,
            start=exp.theta0(cfg, seed),
            data_seed=seeds.data_seed(seed, 1),
            train=train,
            label=f"longer ({train.num_epochs} epochs)",
        )
    ]


register(
    "persistent",
    persistent,
    labels.PERSISTENT,
    rows="with trajectory 1",
    label_without_penalty=labels.RE_RUNS,
)
register("restarts", restarts, labels.RESTARTS)
register("longer", longer, labels.LONGER, rows="single")
register("snapshot", baselines.snapshot, labels.SNAPSHOT)
register("kick", baselines.kick, labels.KICK, needs=baselines.kick_needs)
register(
    "kick_layer", partial(baselines.kick, granularity="layer"), labels.KICK_LAYER, needs=baselines.kick_needs
)
register("anchors", partial(persistent, random_anchors=True), labels.RANDOM_ANCHORS, rows="with trajectory 1")
register("repulsive", baselines.repulsive, labels.REPULSIVE)
register("repulsive_shared", partial(baselines.repulsive, shared=True), labels.REPULSIVE_SHARED)


# -- the summary rows of a run ------------------------------------------------------------------
def mode(cfg) -> str:
    """The persistent set in words: ``full`` or ``partial:<patterns>[-<excluded>]``."""
    if cfg.penalty.include is None and not cfg.penalty.exclude:
        return "full"
    return (
        "partial:"
        + ",".join(cfg.penalty.include or ())
        + ("-" + ",".join(cfg.penalty.exclude) if cfg.penalty.exclude else "")
    )


def summarise(exp, method: str, cfg, seed: int, records: list[dict]) -> pd.DataFrame:
    """Tidy rows in the one vocabulary: ``method`` is the registered label (trajectory 1 /
    persistent / re-runs from θ₀ / restarts / longer / ...); ``selection`` says which of the K
    solutions (chosen on validation, or their ensemble). A diverged side is a row, never dropped."""
    spec = REGISTRY[method]
    name = spec.label_for(cfg)
    base = {
        "dataset": exp.data.name,
        "model": cfg.model,
        "init": cfg.init,
        "mode": mode(cfg) if name == "persistent" else "",
        "K": cfg.K,
        "seed": seed,
    }
    ok = [r for r in records if r["status"] == "ok"]
    cols = ("val_acc", "test_acc", "val_loss", "test_loss")

    def row(method, selection, recs, epochs, diverged, **extra):
        # ``diverged``: the trajectories (or members) of this row's run lost to divergence, counted on
        # every row of the run, also when a surviving trajectory gives the row its numbers
        values = {c: recs[c] for c in cols} if recs else {c: float("nan") for c in cols}
        return {
            **base,
            "method": method,
            "selection": selection,
            "epochs": epochs,
            **values,
            "status": "ok" if recs else "diverged",
            "diverged": diverged,
            **extra,
        }

    cells = spec.cells(cfg)
    if spec.rows == "single":
        return pd.DataFrame([row(*cells[0][:2], ok[0] if ok else None, cells[0][2], len(records) - len(ok))])
    best = select(cfg, ok)
    rows = []
    if spec.rows == "with trajectory 1":
        first = records[0]
        rows.append(
            row(
                labels.TRAJECTORY_1,
                "",
                first if first["status"] == "ok" else None,
                cells[0][2],
                int(first["status"] != "ok"),
            )
        )
    n_div = len(records) - len(ok)
    E = cells[-1][2]
    rows.append(row(name, "selected", best, E, n_div, selected_k=records.index(best) + 1 if best else None))
    rows.append(row(name, "ensemble", ensemble(exp, ok), E, n_div))
    return pd.DataFrame(rows)


def select(cfg, ok: list[dict]) -> dict | None:
    """The trajectory with the best validation score (the test set is not looked at)."""
    if not ok:
        return None
    if cfg.select_by == "val_acc":
        return max(ok, key=lambda r: (r["val_acc"], -r["val_loss"]))
    return min(ok, key=lambda r: r["val_loss"])


def ensemble(exp, ok: list[dict]) -> dict | None:
    """Average the K solutions' predicted probabilities."""
    if not ok:
        return None
    out = {}
    for s in ("val", "test"):
        probs = torch.stack([exp.logits(r["key"])[s].softmax(1) for r in ok]).mean(0)
        m = score(probs.clamp_min(1e-12).log(), getattr(exp.data, f"y_{s}").cpu())
        out.update({f"{s}_loss": m["loss"], f"{s}_acc": m["acc"]})
    return out
