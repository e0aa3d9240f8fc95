"""The comparisons of METHOD.md: K persistent trajectories against restarts and longer training
at equal compute (K × the epochs of one trajectory).

Trajectories are stored by the hash of everything that determines them (model, init and seed,
data, training config, penalty and the trajectories that supplied its anchors) under
``results/<experiment>/trajectories/<key>/``. So trajectory 1, which is the same plain run for
the persistent run of every mode and for restart 1, is trained once; a finished trajectory is
never retrained; and an interrupted one resumes from its last checkpoint. Each run writes
``results/<experiment>/<run-id>/`` with its config, per-trajectory metrics and summary rows.
"""
from __future__ import annotations

import hashlib
import json
import os
import time
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

import pandas as pd
import torch
from filelock import FileLock

from . import checks, seeds, store
from .inits import INITS, init_model
from .models import MODELS, build_model
from .persistence import PenaltyConfig, PersistentPenalty, select_modules
from .training import DivergedError, TrainConfig, fit, predict_logits, score

METHODS = ("persistent", "restarts", "longer", "snapshot", "kick", "repulsive")  # the last three: pnlib.baselines
STARTS = ("init", "previous")
SELECT_BY = ("val_acc", "val_loss")


@dataclass(frozen=True)
class RunConfig:
    """One comparison cell: a model and init scheme, K, one trajectory's training, a penalty."""
    model: str = "lenet5"
    model_kwargs: tuple = ()           # ((name, value), ...) so the config stays hashable
    init: str = "default"
    K: int = 3
    train: TrainConfig = field(default_factory=TrainConfig)
    penalty: PenaltyConfig | None = field(default_factory=PenaltyConfig)  # None: no persistence
    start: str = "init"                # "init" (the paper's θ₀) or "previous" (ablation)
    select_by: str = "val_acc"

    def __post_init__(self):
        if isinstance(self.model_kwargs, dict):
            object.__setattr__(self, "model_kwargs", tuple(sorted(self.model_kwargs.items())))
        checks.choice("model", self.model, MODELS)
        checks.choice("init", self.init, INITS)
        checks.integer("K (trajectories per run)", self.K)
        checks.choice("start", self.start, STARTS)
        checks.choice("select_by", self.select_by, SELECT_BY)

    def to_dict(self) -> dict:
        d = asdict(self)
        d["model_kwargs"] = dict(self.model_kwargs)
        return d


def data_fingerprint(data) -> dict:
    y = torch.cat([data.y_train, data.y_val, data.y_test]).cpu().numpy().tobytes()
    return {"dataset": data.name, "n_train": len(data.y_train), "n_val": len(data.y_val),
            "n_test": len(data.y_test), "shape": list(data.X_train.shape[1:]),
            "labels_sha1": hashlib.sha1(y).hexdigest()[:12]}


def _build(cfg: RunConfig, data):
    return build_model(cfg.model, num_classes=data.num_classes, in_channels=data.in_channels,
                       image_size=data.image_size, **dict(cfg.model_kwargs))


def method_name(method: str, cfg: RunConfig) -> str:
    """The name a run's rows carry: a persistent run without penalty is the re-runs from θ₀; the
    baselines of ``pnlib.baselines`` have their own (``snapshot (SGDR)``, ...)."""
    from .baselines import NAMES
    return "re-runs from θ₀" if method == "persistent" and cfg.penalty is None else NAMES.get(method, method)


def _iso(t: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.localtime(t)) + f".{int(t % 1 * 1000):03d}"


def _state_hash(state: dict) -> str:
    h = hashlib.sha1()
    for k in sorted(state):
        h.update(k.encode())
        h.update(state[k].detach().cpu().contiguous().view(-1).view(torch.uint8).numpy().tobytes())
    return h.hexdigest()[:16]


class Experiment:
    """Runs and caches trajectories for one experiment folder ``results/<experiment>/``."""

    def __init__(self, root: str | Path, data, progress: bool = True, worker: str | None = None,
                 threads: int | None = None):
        """``threads``: torch's CPU threads for training (default: the current setting). It is part of
        every trajectory's identity on the CPU, where the thread count changes the floating-point
        sums: a trajectory trained with 1 thread is not the one trained with 2."""
        self.root = Path(root)
        self.data = data
        self.progress = progress
        self.worker = worker or f"{store.HOST}:{os.getpid()}"
        on_cpu = data.X_train.device.type == "cpu"
        if threads is not None:
            checks.integer("threads", threads)
        self.threads = (threads or torch.get_num_threads()) if on_cpu else None
        self.fingerprint = data_fingerprint(data)
        store.remove_stale_temps(self.root)  # only those of dead writers: the folder may be shared

    # -- one trajectory ------------------------------------------------------------------
    def theta0(self, cfg: RunConfig, seed: int) -> dict:
        """θ₀ for (model, init, seed), drawn once and stored."""
        # the architecture depends on the data's shape too (channels, size, classes), not only on kwargs
        arch = {"model_kwargs": cfg.to_dict()["model_kwargs"], "shape": self.fingerprint["shape"],
                "classes": self.data.num_classes}
        path = self.root / "theta0" / f"{cfg.model}-{cfg.init}-{seed}-{store.config_hash(arch)}.pt"
        if path.exists():
            return store.load_tensors(path)
        state = init_model(_build(cfg, self.data), cfg.init, seed).state_dict()
        store.save_tensors(path, state)
        return state

    def trajectory(self, cfg: RunConfig, *, start: dict, data_seed: int, train: TrainConfig,
                   penalty: PenaltyConfig | None = None, parents: tuple = (), theta0: dict | None = None,
                   label: str = "") -> dict:
        """Train (or load) one trajectory; returns its record, with ``key`` and ``status``."""
        spec = {"model": cfg.model, "model_kwargs": dict(cfg.model_kwargs), "data": self.fingerprint,
                "start": _state_hash(start), "data_seed": data_seed, "train": train.to_dict(),
                "penalty": penalty and asdict(penalty), "anchors": list(parents), "threads": self.threads}
        key = store.config_hash(spec)
        run = store.RunDir(self.root / "trajectories" / key, spec)
        if run.done("metrics.json"):
            return store.read_json(run.file("metrics.json"))
        # one trainer per trajectory, whatever the number of workers or processes on this folder:
        # the others wait here, then read the finished result
        with FileLock(run.file(".lock")):
            if run.done("metrics.json"):
                return store.read_json(run.file("metrics.json"))
            return self._train(run, key, spec, cfg, start, data_seed, train, penalty, parents, theta0, label)

    def _train(self, run, key, spec, cfg, start, data_seed, train, penalty, parents, theta0, label) -> dict:
        started = time.time()
        if self.threads is not None:
            torch.set_num_threads(self.threads)
        model = _build(cfg, self.data)
        model.load_state_dict(start)
        pen = None
        if penalty is not None and parents:
            pen = PersistentPenalty(model, penalty, theta0=theta0)
            if run.done("anchors.pt"):  # a resumed trajectory uses the anchors it started with
                pen.load_state_dict(store.load_tensors(run.file("anchors.pt")))
            else:
                for p in parents:
                    pen.add_anchor(store.load_tensors(self.root / "trajectories" / p / "model.pt"))
                store.save_tensors(run.file("anchors.pt"), pen.state_dict())
        record = {"key": key, "start_hash": spec["start"], "status": "ok", "diverged_epoch": None,
                  "diverged_step": None}
        try:
            hist = fit(model, self.data, train, penalty=pen, seed=data_seed, checkpoint=run.file("checkpoint.pt"),
                       progress=self.progress, desc=label, on_epoch=self._save_early(run))
            store.write_csv(run.file("history.csv"), hist)
            store.save_tensors(run.file("model.pt"), model.state_dict())
            logits = {s: predict_logits(model, getattr(self.data, f"X_{s}"), train.eval_batch_size, train.amp)
                      for s in ("val", "test")}
            store.save_tensors(run.file("logits.pt"), logits)
            for s, lg in logits.items():
                m = score(lg, getattr(self.data, f"y_{s}"))
                record.update({f"{s}_loss": m["loss"], f"{s}_acc": m["acc"]})
            record["train_loss"] = float(hist["train_loss"].iloc[-1])
            if pen is not None:
                record.update({f"dist_anchor_{j + 1}": d for j, d in enumerate(pen.distances().tolist())})
        except DivergedError as e:
            record.update(status="diverged", diverged_epoch=e.epoch, diverged_step=e.step)
        record["trained_by"] = {"host": store.HOST, "pid": os.getpid(), "worker": self.worker,
                                "start": _iso(started), "end": _iso(time.time()), "threads": torch.get_num_threads()}
        store.write_json(run.file("metrics.json"), record)  # written last: marks the trajectory done
        store.append_line(self.root / "trained.log", json.dumps({"key": key, **record["trained_by"]}))
        run.file("checkpoint.pt").unlink(missing_ok=True)
        return record

    @staticmethod
    def _save_early(run):
        """The state after the first epoch (``early.pt``): the random-kick control measures the
        penalty's early displacement from it (``pnlib.baselines``)."""
        def save(epoch, model):
            if epoch == 1:
                store.save_tensors(run.file("early.pt"), model.state_dict())
        return save

    def logits(self, key: str) -> dict:
        return store.load_tensors(self.root / "trajectories" / key / "logits.pt")

    def solution(self, key: str) -> dict:
        return store.load_tensors(self.root / "trajectories" / key / "model.pt")

    # -- the three methods ---------------------------------------------------------------
    def run(self, method: str, cfg: RunConfig, seed: int, *, run_id: str | None = None) -> pd.DataFrame:
        """Run ``method`` for one seed; returns (and stores) its tidy summary rows."""
        checks.choice("method", method, METHODS)
        run = self._run_dir(method, cfg, seed, run_id)
        if run.done("summary.csv") and self._trained(run):
            # CSV reads an empty mode/selection back as NaN; keep them "" as when the rows were made
            return pd.read_csv(run.file("summary.csv"), dtype={"mode": object, "selection": object}).fillna(
                {"mode": "", "selection": ""})
        if cfg.penalty is not None:  # a pattern that selects nothing fails now, not after trajectory 1
            select_modules(_build(cfg, self.data), cfg.penalty.include, cfg.penalty.exclude)
        from .baselines import PRODUCERS
        records = PRODUCERS[method](self, cfg, seed) if method in PRODUCERS else getattr(self, f"_{method}")(cfg, seed)
        # who trained each trajectory stays in its metrics.json: the run's table holds results only
        trajs = pd.DataFrame([{"k": k + 1, **{f: v for f, v in r.items() if f != "trained_by"}}
                              for k, r in enumerate(records)])
        store.write_csv(run.file("trajectories.csv"), trajs)
        rows = self._summarise(method, cfg, seed, records)
        store.write_csv(run.file("summary.csv"), rows)
        return rows

    def _trained(self, run: store.RunDir) -> bool:
        """Whether every trajectory of a finished run is still on disk. Run folders are committed
        but trajectories (tensors) are not, so a fresh clone retrains them, with the same result."""
        keys = pd.read_csv(run.file("trajectories.csv"), dtype={"key": str})["key"]
        return all((self.root / "trajectories" / k / "metrics.json").exists() for k in keys)

    def _run_dir(self, method: str, cfg: RunConfig, seed: int, run_id: str | None = None) -> store.RunDir:
        config = {"method": method, "seed": seed, "run": cfg.to_dict(), "data": self.fingerprint,
                  "threads": self.threads}
        run_id = run_id or f"{method}-{cfg.model}-{cfg.init}-seed{seed}-{store.config_hash(config)}"
        return store.RunDir(self.root / run_id, config)

    def trajectories(self, method: str, cfg: RunConfig, seed: int) -> pd.DataFrame:
        """Per-trajectory records (key, status, metrics) of a finished run."""
        # a key is hex: one made only of digits must not be read back as a number
        return pd.read_csv(self._run_dir(method, cfg, seed).file("trajectories.csv"), dtype={"key": str})

    def solutions(self, method: str, cfg: RunConfig, seed: int) -> dict[str, dict]:
        """θ₀ and the end point of every finished trajectory of a run: {"θ₀", "a1", "a2", ...}."""
        t = self.trajectories(method, cfg, seed)
        return {"θ₀": self.theta0(cfg, seed), **{f"a{r.k}": self.solution(r.key) for r in t.itertuples()
                                                 if r.status == "ok"}}

    def model(self, cfg: RunConfig, state: dict | None = None) -> torch.nn.Module:
        """The run's model on the data's device, loaded with ``state`` (e.g. from ``solutions``)."""
        model = _build(cfg, self.data).to(self.data.X_train.device)
        if state is not None:
            model.load_state_dict(state)
        return model

    def history(self, key: str) -> pd.DataFrame:
        return pd.read_csv(self.root / "trajectories" / key / "history.csv")

    def _persistent(self, cfg: RunConfig, seed: int) -> list[dict]:
        theta0 = self.theta0(cfg, seed)
        records, parents, start = [], (), theta0
        for k in range(1, cfg.K + 1):
            rec = self.trajectory(cfg, start=start, data_seed=seeds.data_seed(seed, k), train=cfg.train,
                                  penalty=cfg.penalty if k > 1 else None, parents=parents if cfg.penalty else (),
                                  theta0=theta0, label=f"persistent k={k}/{cfg.K}")
            records.append(rec)
            if rec["status"] == "ok":
                parents = parents + (rec["key"],)  # a diverged end point is no anchor
                if cfg.start == "previous":
                    start = self.solution(rec["key"])
        return records

    def _restarts(self, cfg: RunConfig, seed: int) -> list[dict]:
        # restart 1 shares θ₀ and batch order with persistent trajectory 1 (the same cached run)
        return [self.trajectory(cfg, start=self.theta0(cfg, seeds.init_seed(seed, k)),
                                data_seed=seeds.data_seed(seed, k), train=cfg.train,
                                label=f"restart k={k}/{cfg.K}") for k in range(1, cfg.K + 1)]

    def _longer(self, cfg: RunConfig, seed: int) -> list[dict]:
        train = replace(cfg.train, num_epochs=cfg.train.num_epochs * cfg.K)
        return [self.trajectory(cfg, start=self.theta0(cfg, seed), data_seed=seeds.data_seed(seed, 1),
                                train=train, label=f"longer ({train.num_epochs} epochs)")]

    def _summarise(self, method: str, cfg: RunConfig, seed: int, records: list[dict]) -> pd.DataFrame:
        """Tidy rows in the one vocabulary: ``method`` is trajectory 1 / persistent / re-runs from θ₀
        (a persistent run without penalty) / restarts / longer; ``selection`` says which of the K
        solutions (chosen on validation, or their ensemble)."""
        name = method_name(method, cfg)
        base = {"dataset": self.data.name, "model": cfg.model, "init": cfg.init,
                "mode": _mode(cfg) if name == "persistent" else "", "K": cfg.K, "seed": seed}
        ok = [r for r in records if r["status"] == "ok"]
        cols = ("val_acc", "test_acc", "val_loss", "test_loss")

        def row(method, selection, recs, epochs, **extra):
            values = {c: recs[c] for c in cols} if recs else {c: float("nan") for c in cols}
            # a row whose trajectories all diverged says so; it is never dropped
            return {**base, "method": method, "selection": selection, "epochs": epochs, **values,
                    "status": "ok" if recs else "diverged", **extra}

        E = cfg.train.num_epochs
        if method == "longer":
            return pd.DataFrame([row("longer", "", ok[0] if ok else None, E * cfg.K)])
        best = self._select(cfg, ok)
        rows = []
        if method == "persistent":
            first = records[0]
            rows.append(row("trajectory 1", "", first if first["status"] == "ok" else None, E))
        n_div = len(records) - len(ok)
        rows.append(row(name, "selected", best, E * cfg.K, selected_k=records.index(best) + 1 if best else None,
                        diverged=n_div))
        rows.append(row(name, "ensemble", self._ensemble(ok), E * cfg.K, diverged=n_div))
        return pd.DataFrame(rows)

    def _select(self, cfg: RunConfig, ok: list[dict]) -> dict | None:
        """The trajectory with the best validation score (the test set is not looked at)."""
        if not ok:
            return None
        if cfg.select_by == "val_acc":
            return max(ok, key=lambda r: (r["val_acc"], -r["val_loss"]))
        return min(ok, key=lambda r: r["val_loss"])

    def _ensemble(self, ok: list[dict]) -> dict | None:
        """Average the K solutions' predicted probabilities."""
        if not ok:
            return None
        out = {}
        for s in ("val", "test"):
            probs = torch.stack([self.logits(r["key"])[s].softmax(1) for r in ok]).mean(0)
            m = score(probs.clamp_min(1e-12).log(), getattr(self.data, f"y_{s}").cpu())
            out.update({f"{s}_loss": m["loss"], f"{s}_acc": m["acc"]})
        return out


def _mode(cfg: RunConfig) -> str:
    if cfg.penalty.include is None and not cfg.penalty.exclude:
        return "full"
    return "partial:" + ",".join(cfg.penalty.include or ()) + ("-" + ",".join(cfg.penalty.exclude)
                                                               if cfg.penalty.exclude else "")


def grid(cfg, model: str, init: str, partial: dict[str, tuple[str, ...]], *, augment: bool = False,
         device: torch.device | None = None, num_epochs: int | None = None, K: int | None = None,
         lr: float | None = None, batch_size: int | None = None, **model_kwargs) -> dict[str, RunConfig]:
    """The persistent modes of one (model, init) cell from a notebook's config: ``re-runs from θ₀``
    (no penalty), ``full``, and each named ``partial`` subset (module-name patterns).
    ``num_epochs`` / ``K`` / ``lr`` / ``batch_size`` replace the config's (e.g. what a pilot chose)."""
    gpu = device is not None and device.type == "cuda"
    train = TrainConfig(num_epochs=num_epochs or cfg.num_epochs, batch_size=batch_size or cfg.batch_size, lr=lr or cfg.lr,
                        weight_decay=cfg.weight_decay, lr_schedule="cosine", augment=augment, amp=gpu,
                        channels_last=gpu, compile=bool(getattr(cfg, "compile", False)))

    def penalty(include=None):
        return PenaltyConfig(include=include, granularity=cfg.granularity, kernel=cfg.kernel,
                             strength=cfg.strength, schedule=cfg.schedule)

    modes = {"re-runs from θ₀": None, "full": penalty(), **{name: penalty(pats) for name, pats in partial.items()}}
    return {mode: RunConfig(model=model, model_kwargs=model_kwargs, init=init, K=K or cfg.K, train=train, penalty=pen)
            for mode, pen in modes.items()}


def penalty_settings(base: RunConfig, strengths, kernels, bandwidths) -> dict[str, RunConfig]:
    """``base`` with every penalty setting λ × kernel × bandwidth, by label ``λ=… · kernel · bandwidth``."""
    return {f"λ={lam:g} · {kern} · {bw if bw == 'travel' else f'fixed {bw:g}'}":
            replace(base, penalty=replace(base.penalty, strength=lam, kernel=kern, bandwidth=bw))
            for lam in strengths for kern in kernels for bw in bandwidths}


def grid_cells(modes: dict[str, RunConfig]) -> list[tuple[str, str, RunConfig]]:
    """A grid's cells: a persistent run per mode (``penalty=None`` gives the re-runs from θ₀),
    then the equal-compute restarts and longer runs of the plain config."""
    plain = replace(next(iter(modes.values())), penalty=None)
    return [("persistent", mode, c) for mode, c in modes.items()] + [(m, "", plain) for m in ("restarts", "longer")]


def cell_jobs(exp: Experiment, cells: list[tuple[str, str, RunConfig]], seeds) -> list:
    """One job per (cell, seed); a cell is (method, mode label, RunConfig). Cells come first across
    seeds, so concurrent workers start on different trajectories 1."""
    from .executors import Job
    common = dict(root=str(exp.root), data=exp.data.source, threads=exp.threads or 1,
                  device=str(exp.data.X_train.device))
    return [Job(method=m, cfg=c, seed=seed, mode=mode, **common) for m, mode, c in cells for seed in seeds]


def cell_histories(exp: Experiment, cells: list[tuple[str, str, RunConfig]], seeds) -> pd.DataFrame:
    """Per-epoch histories of every finished trajectory of the cells (method, mode, seed, k)."""
    out = []
    for seed in seeds:
        for method, mode, c in cells:
            if not exp._run_dir(method, c, seed).done("trajectories.csv"):
                continue  # a failed job: its rows in the summary say why
            for r in exp.trajectories(method, c, seed).itertuples():
                if r.status == "ok":
                    out.append(exp.history(r.key).assign(model=c.model, init=c.init, method=method_name(method, c),
                                                          mode=mode, seed=seed, k=r.k))
    return pd.concat(out, ignore_index=True) if out else pd.DataFrame()


def run_cells(exp: Experiment, cells: list[tuple[str, str, RunConfig]], seeds, *, executor: str = "local",
              workers="auto", slurm=None, dask_address: str | None = None, name: str = "summary"):
    """Every cell (method, mode label, RunConfig) over ``seeds`` on ``executor`` (see
    ``pnlib.executors``): the summary rows (failed jobs included, with their error) and the
    per-epoch histories, also written to ``<name>.csv`` and ``<name>_histories.csv``."""
    from . import executors
    t0 = time.perf_counter()
    seeds = list(seeds)
    jobs = cell_jobs(exp, cells, seeds)
    summary = pd.concat(executors.run(jobs, executor, workers, slurm=slurm, dask_address=dask_address,
                                      data=exp.data), ignore_index=True)
    histories = cell_histories(exp, cells, seeds)
    store.write_csv(exp.root / f"{name}.csv", summary)
    store.write_csv(exp.root / ("histories.csv" if name == "summary" else f"{name}_histories.csv"), histories)
    failed = summary[summary.status == "failed"]
    print(f"{name}: {len(jobs)} jobs ({executor}, {exp.threads or 1} thread(s) each) in "
          f"{(time.perf_counter() - t0) / 60:.1f} min on {exp.data.X_train.device}; finished runs are reused, so a "
          f"rerun is fast" + (f"; {failed.groupby(['method', 'mode', 'seed']).ngroups} runs FAILED (their rows say "
                              f"why): rerun to resume them" if len(failed) else ""))
    return summary, histories


def run_grids(exp: Experiment, grids: dict[str, dict[str, RunConfig]], seeds: int, **executor):
    """Every grid (``grid``'s persistent modes, plus restarts and longer) over seeds 0 … seeds − 1:
    ``run_cells`` on their ``grid_cells``."""
    cells = [c for modes in grids.values() for c in grid_cells(modes)]
    return run_cells(exp, cells, range(seeds), **executor)
