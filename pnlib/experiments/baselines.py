"""The baselines and the control of docs/method.md beyond restarts and longer training, run by
``Experiment.run`` like the others (same K, same epochs per trajectory, so the same compute):

* ``snapshot`` (SGDR / snapshot ensembles; Loshchilov & Hutter 2017, Huang et al. 2017): K cosine
  cycles of E epochs with warm restarts. Cycle k starts where cycle k − 1 ended, with the learning
  rate back at its peak and a fresh optimizer (momentum reset, as in Huang et al.); cycle 1 is
  trajectory 1 itself. The K snapshots are the cycles' end points.
* ``kick`` (a control, not a method): trajectory k ≥ 2 starts from θ₀ plus a random perturbation
  with no memory of earlier solutions. Its norm in every persistent group g matches the
  displacement the penalty causes early in the matching persistent trajectory:
  ``‖kick_g‖ = ‖θ^pers_k,g(1 epoch) − θ^re-run_k,g(1 epoch)‖``, the distance after one epoch between
  persistent trajectory k and the penalty-free re-run k, which start from the same θ₀ with the
  same batch order (so the difference is the penalty's doing). The direction is uniform on each
  group's sphere; parameters outside the persistent set are not kicked. It then trains without
  penalty, with trajectory k's batch order.
* ``repulsive`` (D'Angelo & Fortuin 2021): K members trained together from independent
  initializations, each pushed away from the others' *current* weights (``pnlib.method.repulsion``). The
  ``shared`` ablation keeps the variant this project ran first: one shared θ₀ and the persistent
  penalty's kernel with moving anchors (it needs a fixed bandwidth: at θ₀ the travel bandwidth is 0).
"""

from __future__ import annotations

from dataclasses import asdict, replace

import torch

from pnlib.base import labels, seeds, store
from pnlib.method.kicks import group_norms, matched_kick  # noqa: F401  (moved to pnlib.method.kicks; re-exported)
from pnlib.method.persistence import PenaltyConfig, PersistentPenalty
from pnlib.method.repulsion import KDERepulsionHook, member_history
from pnlib.train.loop import DivergedError, train


# -- the repulsive ensemble ---------------------------------------------------------------------
class RepulsiveHook:
    """The loop's hook for the repulsive ensemble: after every member's backward, member j gets
    λ(t)∇P with the others' *current* weights as anchors (``PersistentPenalty.set_anchors``)."""

    def __init__(self, models: list, penalty: PenaltyConfig, theta0: dict):
        self.pens = [PersistentPenalty(m, penalty, theta0=theta0) for m in models]
        self.live = [dict(zip(p.param_names, p.params)) for p in self.pens]

    def after_backward(self, t: float) -> list[torch.Tensor]:
        values = []
        for j, pen in enumerate(
            self.pens
        ):  # nobody has stepped yet: every member sees the others as they are
            pen.set_anchors([self.live[o] for o in range(len(self.pens)) if o != j])
            values.append(pen.apply_(t))
        return values

    def history_row(self, member: int, row: dict, penalty: float, progress: float) -> dict:
        return member_history(row, "penalty", penalty)


# -- the records of each method, for the registry of pnlib.experiments.methods -------------------------------
# ``exp`` is the Experiment, used as the trajectory store (``pnlib.train.runs.Store``); the runs a
# method is matched to come in through its registration's ``needs`` (the kick's persistent runs).
def snapshot(exp, cfg, seed: int) -> list[dict]:
    plain, start, records = replace(cfg, penalty=None), exp.theta0(cfg, seed), []
    for k in range(1, cfg.K + 1):
        cycle = f"snapshot cycle {k}/{cfg.K}"
        rec = exp.trajectory(
            plain, start=start, data_seed=seeds.data_seed(seed, k), train=cfg.train, label=cycle
        )
        records.append(rec)
        if rec["status"] != "ok":
            break  # no later cycle starts from a diverged point
        start = exp.solution(rec["key"])
    return records


def early_state(exp, trajectories, k: int) -> dict:
    """The state of trajectory k of a persistent run (its ``trajectories`` table) after its first
    epoch, which the trajectory store keeps for every trajectory (``early.pt``)."""
    rec = trajectories.set_index("k").loc[k]
    if rec.status != "ok":
        raise ValueError(
            f"the kick of trajectory {k} is matched to persistent trajectory {k}, which "
            f"{rec.status}: no displacement to match"
        )
    return exp.early(rec.key)


def kick_needs(cfg) -> list:
    """What the random kick is matched to: the persistent run of ``cfg`` and its penalty-free re-runs
    (the registry runs them first and hands their trajectory tables to ``kick``)."""
    if cfg.penalty is None:
        raise ValueError("the random-kick control matches a persistent run: give it a config with a penalty")
    return [("persistent", cfg), ("persistent", replace(cfg, penalty=None))]


def kick(exp, cfg, seed: int, needed: list, granularity: str | None = None) -> list[dict]:
    """The random kick. ``needed``: the trajectory tables of ``kick_needs(cfg)``, the persistent
    run and its re-runs. ``granularity`` (e.g. ``"layer"``): the kick's norms are measured and its
    directions drawn per group of that granularity instead of the penalty's own, so a per-layer
    kick carries no per-neuron information of the penalty's push."""
    plain, theta0 = replace(cfg, penalty=None), exp.theta0(cfg, seed)
    persistent, reruns = needed
    records = [
        exp.trajectory(
            plain,
            start=theta0,
            data_seed=seeds.data_seed(seed, 1),
            train=cfg.train,
            label=labels.TRAJECTORY_1,
        )
    ]
    pers = persistent.set_index("k")
    for k in range(2, cfg.K + 1):
        if pers.status[k] != "ok":  # persistent trajectory k diverged: there is no displacement to match
            records.append(
                {"key": pers.key[k], "status": "diverged", "diverged_epoch": None, "diverged_step": None}
            )
            continue
        groups = cfg.penalty if granularity is None else replace(cfg.penalty, granularity=granularity)
        start = matched_kick(
            exp.model(cfg),
            groups,
            theta0,
            early_state(exp, persistent, k),
            early_state(exp, reruns, k),
            seeds.derive_seed(seed, "kick", k)
            if granularity is None
            else seeds.derive_seed(seed, f"kick-{granularity}", k),
        )
        records.append(
            exp.trajectory(
                plain,
                start=start,
                data_seed=seeds.data_seed(seed, k),
                train=cfg.train,
                label=f"kick k={k}/{cfg.K}",
            )
        )
    return records


def repulsive(exp, cfg, seed: int, shared: bool = False) -> list[dict]:
    """The repulsive ensemble: K members trained together, each with its own batch order (those of
    the restarts). Standard (D'Angelo & Fortuin 2021, ``pnlib.method.repulsion``): independent θ₀ (those of
    the restarts), the KDE repulsion with the median-heuristic RBF bandwidth and the paper's 1/N
    scaling; it needs no penalty and has no setting to tune. ``shared`` (an ablation, not the
    paper's method): all members from the seed's one θ₀, pushed by the persistent penalty (its
    kernel, groups, fixed bandwidth and λ(t)) with the others' current weights as anchors."""
    if shared and (cfg.penalty is None or cfg.penalty.bandwidth == "travel"):
        raise ValueError(
            "the shared-θ₀ repulsive ablation needs a penalty config with a fixed bandwidth, e.g. "
            "PenaltyConfig(bandwidth=1.0): all members start at θ₀, where the travel bandwidth is 0 "
            "and a push ∝ 1/σ² would throw them apart at the first step"
        )
    if cfg.K < 2:
        raise ValueError("the repulsive ensemble needs K ≥ 2 members")
    starts = [exp.theta0(cfg, seed if shared else seeds.init_seed(seed, k)) for k in range(1, cfg.K + 1)]
    data_seeds = [seeds.data_seed(seed, k) for k in range(1, cfg.K + 1)]
    spec = (
        {
            "repulsive": cfg.K,
            "model": cfg.model,
            "model_kwargs": dict(cfg.model_kwargs),
            "data": exp.fingerprint,
            "start": store.state_hash(starts[0]),
            "data_seeds": data_seeds,
            "train": cfg.train.to_dict(),
            "penalty": asdict(cfg.penalty),
            "threads": exp.threads,
        }
        if shared
        else {
            "repulsive": "kde, median heuristic",
            "K": cfg.K,
            "model": cfg.model,
            "model_kwargs": dict(cfg.model_kwargs),
            "data": exp.fingerprint,
            "starts": [store.state_hash(s) for s in starts],
            "data_seeds": data_seeds,
            "train": cfg.train.to_dict(),
            "threads": exp.threads,
        }
    )

    def train_members(run, key):
        models = [exp.model(cfg, s) for s in starts]
        hook = (
            RepulsiveHook(models, cfg.penalty, starts[0])
            if shared
            else KDERepulsionHook(models, len(exp.data.y_train))
        )
        try:
            hists = train(
                models,
                exp.data,
                cfg.train,
                seeds=data_seeds,
                hook=hook,
                checkpoint=run.file("checkpoint.pt"),
                progress=exp.progress,
                desc="repulsive",
            )
        except DivergedError as e:
            return {
                "members": [
                    {
                        "key": f"{key}/m{k}",
                        "status": "diverged",
                        "diverged_epoch": e.epoch,
                        "diverged_step": e.step,
                    }
                    for k in range(1, cfg.K + 1)
                ]
            }
        members = []
        for k, (m, h) in enumerate(zip(models, hists), 1):
            rec = {
                "key": f"{key}/m{k}",
                "status": "ok",
                "diverged_epoch": None,
                "diverged_step": None,
                "train_loss": float(h.train_loss.iloc[-1]),
                **exp.record(run.file(f"m{k}"), m, h, cfg.train),
            }
            store.write_json(run.file(f"m{k}", "metrics.json"), rec)
            members.append(rec)
        return {"members": members}

    return exp.cached(spec, train_members)["members"]
