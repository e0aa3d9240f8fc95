"""Trajectories stored by the hash of everything that determines them.

``results/<experiment>/trajectories/<key>/`` holds one trajectory (``fit``), or K members trained
together (``train``, e.g. the repulsive ensemble) in ``m1/`` … ``mK/``. The key hashes the model,
data, start point, batch order, training config, penalty, anchors and thread count, so a finished
trajectory is never retrained, trajectory 1 is shared by every method that starts with it, and an
interrupted one resumes from its checkpoint. One lock per key: on a shared folder, one trainer
trains it and the others wait, then read it. ``Store.cached`` (the folder, the lock, who trained
it, ``metrics.json`` written last) and ``Store.record`` (history, weights, val/test logits,
scores) are the bookkeeping of every trajectory, whichever method trains it.
"""

from __future__ import annotations

import hashlib
import json
import os
import time
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

import torch
from filelock import FileLock

from pnlib.base import checks, seeds, store
from pnlib.method.kicks import random_anchor
from pnlib.method.persistence import PenaltyConfig, PersistentPenalty
from pnlib.train.evaluation import predict_logits, score
from pnlib.train.inits import INITS, init_model
from pnlib.train.loop import DivergedError, TrainConfig, fit
from pnlib.train.models import MODELS, build_model

STARTS = ("init", "previous")
SELECT_BY = ("val_acc", "val_loss")


@dataclass(frozen=True)
class RunConfig:
    """One comparison cell: a model and init scheme, K, one trajectory's training, a penalty."""

    model: str = "lenet5"
    model_kwargs: tuple = ()  # ((name, value), ...) so the config stays hashable
    init: str = "default"
    K: int = 3
    train: TrainConfig = field(default_factory=TrainConfig)
    penalty: PenaltyConfig | None = field(default_factory=PenaltyConfig)  # None: no persistence
    start: str = "init"  # "init" (the paper's θ₀) or "previous" (ablation)
    select_by: str = "val_acc"

    def __post_init__(self):
        if isinstance(self.model_kwargs, dict):
            object.__setattr__(self, "model_kwargs", tuple(sorted(self.model_kwargs.items())))
        checks.choice("model", self.model, MODELS)
        checks.choice("init", self.init, INITS)
        checks.integer("K (trajectories per run)", self.K)
        checks.choice("start", self.start, STARTS)
        checks.choice("select_by", self.select_by, SELECT_BY)

    def with_training(self, **changes) -> RunConfig:
        """This cell with its ``TrainConfig`` changed (``lr``, ``num_epochs``, ...)."""
        return replace(self, train=replace(self.train, **changes))

    def to_dict(self) -> dict:
        d = asdict(self)
        d["model_kwargs"] = dict(self.model_kwargs)
        return d


def data_fingerprint(data) -> dict:
    y = torch.cat([data.y_train, data.y_val, data.y_test]).cpu().numpy().tobytes()
    return {
        "dataset": data.name,
        "n_train": len(data.y_train),
        "n_val": len(data.y_val),
        "n_test": len(data.y_test),
        "shape": list(data.X_train.shape[1:]),
        "labels_sha1": hashlib.sha1(y).hexdigest()[:12],
    }


def build(cfg: RunConfig, data) -> torch.nn.Module:
    """The model of ``cfg`` for the shape of ``data`` (on the CPU, not initialised by scheme)."""
    return build_model(
        cfg.model,
        num_classes=data.num_classes,
        in_channels=data.in_channels,
        image_size=data.image_size,
        **dict(cfg.model_kwargs),
    )


class Store:
    """The trajectories of one experiment folder ``results/<experiment>/``."""

    def __init__(
        self, root, data, progress: bool = True, worker: str | None = None, threads: int | None = None
    ):
        """``threads``: torch's CPU threads for training (default: the current setting). It is part of
        every trajectory's identity on the CPU, where the thread count changes the floating-point
        sums: a trajectory trained with 1 thread is not the one trained with 2."""
        self.root = Path(root)
        self.data = data
        self.progress = progress
        self.worker = worker or f"{store.HOST}:{os.getpid()}"
        if threads is not None:
            checks.integer("threads", threads)
        self.threads = (threads or torch.get_num_threads()) if data.X_train.device.type == "cpu" else None
        self.fingerprint = data_fingerprint(data)
        store.remove_stale_temps(self.root)  # only those of dead writers: the folder may be shared

    # -- θ₀ and what finished trajectories left ------------------------------------------------
    def theta0(self, cfg: RunConfig, seed: int) -> dict:
        """θ₀ for (model, init, seed), drawn once and stored."""
        # the architecture depends on the data's shape too (channels, size, classes), not only on kwargs
        arch = {
            "model_kwargs": cfg.to_dict()["model_kwargs"],
            "shape": self.fingerprint["shape"],
            "classes": self.data.num_classes,
        }
        path = self.root / "theta0" / f"{cfg.model}-{cfg.init}-{seed}-{store.config_hash(arch)}.pt"
        if path.exists():
            return store.load_tensors(path)
        state = init_model(build(cfg, self.data), cfg.init, seed).state_dict()
        store.save_tensors(path, state)
        return state

    def folder(self, key: str) -> Path:
        """A trajectory's folder (``<key>/m<k>`` for member k of a K-member run)."""
        return self.root / "trajectories" / key

    def logits(self, key: str) -> dict:
        return store.load_tensors(self.folder(key) / "logits.pt")

    def solution(self, key: str) -> dict:
        return store.load_tensors(self.folder(key) / "model.pt")

    def model(self, cfg: RunConfig, state: dict | None = None) -> torch.nn.Module:
        """The run's model on the data's device, loaded with ``state`` (e.g. from ``solutions``)."""
        model = build(cfg, self.data).to(self.data.X_train.device)
        if state is not None:
            model.load_state_dict(state)
        return model

    # -- training under a key: the folder, the lock, the record -------------------------------
    def cached(self, spec: dict, train) -> dict:
        """The metrics of the trajectory (or members) that ``spec`` names: read if finished, else
        ``train(run, key)`` under the key's lock, which returns the metrics to store."""
        key = store.config_hash(spec)
        run = store.RunDir(self.folder(key), spec)
        if run.done("metrics.json"):
            return store.read_json(run.file("metrics.json"))
        # one trainer per trajectory, whatever the number of workers or processes on this folder:
        # the others wait here, then read the finished result
        with FileLock(run.file(".lock")):
            if run.done("metrics.json"):
                return store.read_json(run.file("metrics.json"))
            started = time.time()
            if self.threads is not None and torch.get_num_threads() != self.threads:
                raise RuntimeError(
                    f"this store's trajectories are trained with {self.threads} torch thread(s), part of their "
                    f"identity on the CPU, but torch uses {torch.get_num_threads()} here: run it as a job "
                    f"(pnlib.experiments.executors sets each job's threads) or call torch.set_num_threads"
                )
            metrics = train(run, key)
            metrics["trained_by"] = {
                "host": store.HOST,
                "pid": os.getpid(),
                "worker": self.worker,
                "start": store.iso_time(started),
                "end": store.iso_time(time.time()),
                "threads": torch.get_num_threads(),
            }
            store.write_json(run.file("metrics.json"), metrics)  # written last: marks the trajectory done
            store.append_line(self.root / "trained.log", json.dumps({"key": key, **metrics["trained_by"]}))
            run.file("checkpoint.pt").unlink(missing_ok=True)
            return metrics

    def record(self, folder, model, history, train: TrainConfig) -> dict:
        """Write a finished trajectory's history, weights and val/test logits; return its scores."""
        store.write_csv(folder / "history.csv", history)
        store.save_tensors(folder / "model.pt", model.state_dict())
        # evaluated in fp32 whatever the training precision: bf16 evaluation of the same weights moved
        # test accuracy by up to 0.14 points (benchmarks/bench_precision.py)
        logits = {
            s: predict_logits(model, getattr(self.data, f"X_{s}"), train.eval_batch_size)
            for s in ("val", "test")
        }
        store.save_tensors(folder / "logits.pt", logits)
        scores = {}
        for s, lg in logits.items():
            m = score(lg, getattr(self.data, f"y_{s}"))
            scores.update({f"{s}_loss": m["loss"], f"{s}_acc": m["acc"]})
        return scores

    def trajectory(
        self,
        cfg: RunConfig,
        *,
        start: dict,
        data_seed: int,
        train: TrainConfig,
        penalty: PenaltyConfig | None = None,
        parents: tuple = (),
        theta0: dict | None = None,
        label: str = "",
        anchor_seed: int | None = None,
    ) -> dict:
        """Train (or load) one trajectory; returns its record, with ``key`` and ``status``. ``parents``:
        the keys of the trajectories whose end points are the penalty's anchors. ``anchor_seed``: the
        random-anchor control; parent j's end point is replaced by ``kicks.random_anchor`` (its
        distance from θ₀ kept per group, its direction drawn with ``derive_seed(anchor_seed, j)``)."""
        spec = {
            "model": cfg.model,
            "model_kwargs": dict(cfg.model_kwargs),
            "data": self.fingerprint,
            "start": store.state_hash(start),
            "data_seed": data_seed,
            "train": train.to_dict(),
            "penalty": penalty and asdict(penalty),
            "anchors": list(parents),
            "threads": self.threads,
        }
        if anchor_seed is not None:
            if theta0 is None or penalty is None:
                raise ValueError("random anchors need the penalty and θ₀ they are drawn around")
            spec["random_anchors"] = anchor_seed

        def train_one(run, key):
            model = build(cfg, self.data)
            model.load_state_dict(start)
            pen = None
            if penalty is not None and parents:
                pen = PersistentPenalty(model, penalty, theta0=theta0)
                if run.done("anchors.pt"):  # a resumed trajectory uses the anchors it started with
                    pen.load_state_dict(store.load_tensors(run.file("anchors.pt")))
                else:
                    for j, p in enumerate(parents, 1):
                        a = self.solution(p)
                        pen.add_anchor(
                            a
                            if anchor_seed is None
                            else random_anchor(model, penalty, theta0, a, seeds.derive_seed(anchor_seed, j))
                        )
                    store.save_tensors(run.file("anchors.pt"), pen.state_dict())
            rec = {
                "key": key,
                "start_hash": spec["start"],
                "status": "ok",
                "diverged_epoch": None,
                "diverged_step": None,
            }
            try:
                hist = fit(
                    model,
                    self.data,
                    train,
                    penalty=pen,
                    seed=data_seed,
                    checkpoint=run.file("checkpoint.pt"),
                    progress=self.progress,
                    desc=label,
                    on_epoch=save_early(run),
                )
                rec.update(self.record(run.path, model, hist, train))
                rec["train_loss"] = float(hist["train_loss"].iloc[-1])
                if pen is not None:
                    rec.update({f"dist_anchor_{j + 1}": d for j, d in enumerate(pen.distances().tolist())})
            except DivergedError as e:
                rec.update(status="diverged", diverged_epoch=e.epoch, diverged_step=e.step)
            return rec

        return self.cached(spec, train_one)

    def early(self, key: str) -> dict:
        """A trajectory's state after its first epoch (``early.pt``, kept for every trajectory)."""
        path = self.folder(key) / "early.pt"
        if not path.exists():
            raise FileNotFoundError(
                f"{path} is missing, so the random kick cannot measure the penalty's early "
                f"displacement: delete {path.parent} and rerun, which retrains it"
            )
        return store.load_tensors(path, self.data.X_train.device)


def save_early(run: store.RunDir):
    """The state after the first epoch (``early.pt``): the random-kick control measures the
    penalty's early displacement from it (``pnlib.experiments.baselines``)."""

    def save(epoch, model):
        if epoch == 1:
            store.save_tensors(run.file("early.pt"), model.state_dict())

    return save
