"""The comparisons of docs/method.md for one results folder: ``Experiment.run(method, cfg, seed)``.

An ``Experiment`` is the trajectory store of ``pnlib.train.runs`` (θ₀, trajectories under their keys,
locks, records) plus the runs of the registered methods (``pnlib.experiments.methods``). Each run writes
``results/<experiment>/runs/<run-id>/`` with its config, per-trajectory records and summary rows; a
finished run whose trajectories are all on disk is read back, not recomputed.
"""

from __future__ import annotations

from datetime import datetime

import pandas as pd

from pnlib.base import checks, store
from pnlib.experiments.methods import REGISTRY, summarise
from pnlib.method.persistence import select_modules
from pnlib.train.runs import RunConfig, Store, build


class Experiment(Store):
    """Runs and caches trajectories for one experiment folder ``results/<experiment>/``."""

    def run(self, method: str, cfg: RunConfig, seed: int, *, run_id: str | None = None) -> pd.DataFrame:
        """Run ``method`` (a name of ``pnlib.experiments.methods.REGISTRY``) for one seed; returns (and stores)
        its tidy summary rows."""
        checks.choice("method", method, REGISTRY)
        run = self.run_dir(method, cfg, seed, run_id)
        if run.done("summary.csv") and self.is_trained(run):
            # CSV reads an empty mode/selection back as NaN; keep them "" as when the rows were made
            return pd.read_csv(run.file("summary.csv"), dtype={"mode": object, "selection": object}).fillna(
                {"mode": "", "selection": ""}
            )
        if cfg.penalty is not None:  # a pattern that selects nothing fails now, not after trajectory 1
            select_modules(build(cfg, self.data), cfg.penalty.include, cfg.penalty.exclude)
        spec = REGISTRY[method]
        if spec.needs is None:
            records = spec.produce(self, cfg, seed)
        else:
            needed = []
            for m, c in spec.needs(cfg):  # the runs it is matched to, first (cached: usually already there)
                self.run(m, c, seed)
                needed.append(self.trajectories(m, c, seed))
            records = spec.produce(self, cfg, seed, needed)
        # who trained each trajectory stays in its metrics.json: the run's table holds results only
        trajs = pd.DataFrame(
            [{"k": k + 1, **{f: v for f, v in r.items() if f != "trained_by"}} for k, r in enumerate(records)]
        )
        store.write_csv(run.file("trajectories.csv"), trajs)
        rows = summarise(self, method, cfg, seed, records)
        store.write_csv(run.file("summary.csv"), rows)
        return rows

    def is_trained(self, run: store.RunDir) -> bool:
        """Whether every trajectory of a finished run is still on disk. Run folders are committed
        but trajectories (tensors) are not, so a fresh clone retrains them, with the same result."""
        keys = pd.read_csv(run.file("trajectories.csv"), dtype={"key": str})["key"]
        return all((self.folder(k) / "metrics.json").exists() for k in keys)

    def run_dir(self, method: str, cfg: RunConfig, seed: int, run_id: str | None = None) -> store.RunDir:
        """The folder of a run, ``runs/<method>-<model>-<init>-seed<seed>-<hash of its config>`` (apart
        from the notebook's figures and tables at the top of the results folder)."""
        config = {
            "method": method,
            "seed": seed,
            "run": cfg.to_dict(),
            "data": self.fingerprint,
            "threads": self.threads,
        }
        run_id = run_id or f"{method}-{cfg.model}-{cfg.init}-seed{seed}-{store.config_hash(config)}"
        return store.RunDir(self.root / "runs" / run_id, config)

    def trajectories(self, method: str, cfg: RunConfig, seed: int) -> pd.DataFrame:
        """Per-trajectory records (key, status, metrics) of a finished run."""
        # a key is hex: one made only of digits must not be read back as a number
        return pd.read_csv(self.run_dir(method, cfg, seed).file("trajectories.csv"), dtype={"key": str})

    def train_seconds(self, method: str, cfg: RunConfig, seed: int) -> float:
        """The recorded training time of a finished run's trajectories (from who trained each, in
        its metrics): the same whether they were trained now, by another run, or read from the cache."""
        total = 0.0
        for key in self.trajectories(method, cfg, seed).key:
            metrics = self.folder(key) / "metrics.json"
            by = store.read_json(metrics).get("trained_by") if metrics.exists() else None
            if by is None:  # never ran (its run failed before it), or trained jointly (repulsive ensemble)
                continue
            total += (datetime.fromisoformat(by["end"]) - datetime.fromisoformat(by["start"])).total_seconds()
        return total

    def solutions(self, method: str, cfg: RunConfig, seed: int) -> dict[str, dict]:
        """θ₀ and the end point of every finished trajectory of a run: {"θ₀", "a1", "a2", ...}."""
        t = self.trajectories(method, cfg, seed)
        return {
            "θ₀": self.theta0(cfg, seed),
            **{f"a{r.k}": self.solution(r.key) for r in t.itertuples() if r.status == "ok"},
        }

    def history(self, key: str) -> pd.DataFrame:
        return pd.read_csv(self.folder(key) / "history.csv")
