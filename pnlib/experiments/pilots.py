"""The pilots of docs/method.md: they fix a training setting on the tuning seeds (1000 …), by
validation accuracy only, before any reported run. ``learning_rate`` chooses a model's (lr,
batch size) among the settings whose penalised trajectory survived; ``epochs`` chooses its
trajectory length E by the doubling rule (``selection.choose_epochs``) and marks whether E is
converged; ``seeds`` runs the comparisons the claims rest on and says how many seeds each claim's
family needs. They write their tables and figures into the notebook's results folder."""

from __future__ import annotations

from dataclasses import dataclass, replace

import pandas as pd

from pnlib.base import labels, store
from pnlib.experiments import grid
from pnlib.experiments.executors import Engine
from pnlib.report import claims, plots, power, selection
from pnlib.train.runs import RunConfig


def learning_rate(
    exp,
    cells: dict[str, RunConfig],
    settings: dict[str, tuple[float, int]],
    seeds,
    *,
    epochs: int,
    engine: Engine,
) -> tuple[dict[str, tuple[float, int]], pd.DataFrame]:
    """Per model (``cells``: its cell with full persistence), the setting (label -> (lr, batch
    size)) whose trajectory 1 has the best validation accuracy among those whose persistent
    trajectory 2 did not diverge. Each candidate runs K = 2 for ``epochs``, so a setting that trains
    plainly but diverges under the penalty is never chosen. Writes ``pilot_lr.csv`` into ``exp``'s
    folder; raises if every setting diverged for some model."""
    pilot = [
        ("persistent", label, replace(c.with_training(lr=lr, batch_size=b, num_epochs=epochs), K=2))
        for c in cells.values()
        for label, (lr, b) in settings.items()
    ]
    runs, _ = grid.run_cells(exp, pilot, seeds, engine, name="pilot_lr_runs")
    if (runs.status == "failed").any():
        raise RuntimeError(
            f"{int((runs.status == 'failed').sum())} learning-rate pilot jobs failed (their rows in "
            f"{exp.root / 'pilot_lr_runs.csv'} say why): rerun the cell to resume them"
        )
    first = runs[runs.method == labels.TRAJECTORY_1].groupby(["model", "mode"]).val_acc.mean()
    lost = runs[runs.selection == "selected"].groupby(["model", "mode"]).diverged.sum()
    table = pd.DataFrame(
        {"trajectory 1 val_acc": first, "penalised trajectories diverged": lost}
    ).reset_index()
    safe = table[table["penalised trajectories diverged"] == 0]
    chosen = safe.loc[safe.groupby("model")["trajectory 1 val_acc"].idxmax()].set_index("model")["mode"]
    missing = sorted(set(cells) - set(chosen.index))
    if missing:
        raise RuntimeError(
            f"every pilot setting diverged under the penalty for {missing}: add a smaller learning "
            f"rate to pilot_lrs"
        )
    table["chosen"] = table["mode"] == table.model.map(chosen)
    store.write_csv(exp.root / "pilot_lr.csv", table)
    return {m: settings[chosen[m]] for m in cells}, table


@dataclass
class EpochPilot:
    """What ``epochs`` found: E per model, whether it converged by the doubling rule, whether
    trajectory 1 learns at E (validation accuracy above chance + 0.05), the table and the runs."""

    E: dict[str, int]
    converged: dict[str, bool]
    learns: dict[str, bool]
    table: pd.DataFrame
    runs: pd.DataFrame

    @property
    def at_E(self) -> dict[str, float]:
        """Mean validation accuracy of trajectory 1 at the chosen E, per model."""
        return self.table[self.table.chosen].set_index("model").val_acc.to_dict()

    def describe(self) -> str:
        at = self.at_E
        return "; ".join(
            f"{m}: E = {e}"
            + ("" if self.converged[m] else " (NOT converged by the rule: not tested at convergence)")
            + f", val acc {at[m]:.3f}"
            + ("" if self.learns[m] else " (AT CHANCE: no verdicts)")
            for m, e in self.E.items()
        )


def epochs(
    exp,
    cells: dict[str, RunConfig],
    seeds,
    *,
    candidates,
    margin: float,
    engine: Engine,
    dataset: str,
    num_classes: int,
    name: str = "pilot",
    names: dict[str, str] | None = None,
    bar: float | None = None,
) -> EpochPilot:
    """Single plain runs (K = 1) of every length in ``candidates`` per model (``cells``: its cell at
    what the learning-rate pilot chose), on ``seeds``; E per model by ``selection.choose_epochs``
    with ``margin``. Writes ``<name>.csv`` and a figure ``<name>-<model>.png`` per model into ``exp``'s
    folder (``name`` tells apart the pilots of one notebook, e.g. one per init; ``names``: a model's
    name in the figure's title, e.g. at its scale; ``bar``: the accuracy of a trained run, drawn in
    the figures); raises if a pilot job did not finish."""
    pilot = [
        ("longer", f"E={n}", replace(c.with_training(num_epochs=n), K=1, penalty=None))
        for c in cells.values()
        for n in candidates
    ]
    runs, _ = grid.run_cells(exp, pilot, seeds, engine, name=f"{name}_runs")
    if (runs.status != "ok").any():
        raise RuntimeError(
            f"{int((runs.status != 'ok').sum())} pilot runs did not finish (status "
            f"{sorted(set(runs.status) - {'ok'})}, rows in {exp.root / (name + '_runs.csv')}): a diverged "
            f"plain run means the learning rate is too large; a failed one resumes on a rerun"
        )
    E, converged, tables = {}, {}, []
    for m in cells:
        of = runs[runs.model == m]
        E[m], t = selection.choose_epochs(of, margin)
        converged[m] = bool(t[t.chosen].converged.iloc[0])
        tables.append(t.assign(model=m))
        verdict = (
            "" if converged[m] else "\nno E converged by the rule: every claim is not tested at convergence"
        )
        plots.save(
            plots.pilot(
                of,
                E[m],
                f"Pilot: trajectory 1 of {(names or {}).get(m, m)} on {dataset}, seeds {list(seeds)}{verdict}",
                converged=converged[m],
                bar=bar,
            ),
            exp.root / f"{name}-{m}.png",
        )
    table = pd.concat(tables, ignore_index=True)
    store.write_csv(exp.root / f"{name}.csv", table)
    at_E = table[table.chosen].set_index("model").val_acc
    learns = {m: bool(at_E[m] > 1 / num_classes + 0.05) for m in cells}
    return EpochPilot(E, converged, learns, table, runs)


# what persistence is held against in the power pilot: (method of the cell, label of its rows, mode)
KEY_BASELINES = (
    ("restarts", labels.RESTARTS, ""),
    ("kick", labels.KICK, "full"),
    ("anchors", labels.RANDOM_ANCHORS, "full"),
)


def key_cells(G: dict[str, RunConfig]) -> list[tuple[str, str, RunConfig]]:
    """The cells the claims rest on, from a grid of ``grid.modes``: full persistence, restarts, the
    random kick and random anchors."""
    return [("persistent", "full", G["full"])] + [
        (method, mode, G["full"] if mode else G[labels.RE_RUNS]) for method, _, mode in KEY_BASELINES
    ]


def is_key(spec: dict) -> bool:
    """Whether a comparison side is one of the key cells (or trajectory 1), run on ``n_key`` seeds."""
    mode_of = {labels.PERSISTENT: "full"} | {row: mode for _, row, mode in KEY_BASELINES}
    return spec["method"] == labels.TRAJECTORY_1 or mode_of.get(spec["method"]) == spec.get("mode", "")


@dataclass
class PowerPilot:
    """What ``seeds`` found: the table (one row per claim), the seeds each claim's family needs and
    the seeds each group's key comparisons run on (``n_group``: what its claims need, at least the
    design's ``seeds``, at most its budget ``max_seeds``); ``n_key`` is the largest of them."""

    table: pd.DataFrame
    needed: dict[str, int]
    n_group: dict[str, int]

    @property
    def n_key(self) -> int:
        return max(self.n_group.values())

    def powered(self, verdicts: pd.DataFrame) -> pd.Series:
        """Per verdict row: whether its comparison had the seeds its family needs."""
        return verdicts.n_seeds >= verdicts.claim.map(self.needed)


def seeds(
    exp,
    groups: dict[str, tuple[dict[str, RunConfig], dict]],
    family: list[dict],
    tuning,
    *,
    margin: float,
    design_seeds: int,
    max_seeds: int,
    engine: Engine,
    name: str = "power_runs",
) -> PowerPilot:
    """The key cells of every group (``groups``: name -> (its grid, the filters its comparison
    sides carry, e.g. ``{"init": "default"}``)) on the ``tuning`` seeds; the paired differences of
    persistence against each key baseline in **validation** accuracy, selected and ensemble, pooled
    per group; and per claim of ``family`` (whose side ``a`` matches the group's filters) the seeds
    ``pnlib.report.power.table`` asks for at the claim's size. Writes ``power.csv``."""
    cells = [c for G, _ in groups.values() for c in key_cells(G)]
    runs, _ = grid.run_cells(exp, cells, tuning, engine, name=name)
    diffs = {}
    for group, (_, filters) in groups.items():
        persistent = {**filters, "method": labels.PERSISTENT, "mode": "full"}
        diffs[group] = {
            f"persistent − {row} ({sel})": claims.paired_values(
                runs, {**persistent, "selection": sel}, "val_acc"
            )
            - claims.paired_values(
                runs, {**filters, "method": row, "mode": mode, "selection": sel}, "val_acc"
            )
            for _, row, mode in KEY_BASELINES
            for sel in ("selected", "ensemble")
        }
    size = pd.Series([c["claim"] for c in family]).value_counts(sort=False)
    group_of = {
        c["claim"]: next(g for g, (_, f) in groups.items() if f.items() <= c["a"].items()) for c in family
    }
    table = power.table({c: diffs[group_of[c]] for c in size.index}, size.to_dict(), margin)
    store.write_csv(exp.root / "power.csv", table)
    needed = table.set_index("family")["seeds needed"].astype(int).to_dict()
    return PowerPilot(table, needed, seeds_per_group(needed, group_of, list(groups), design_seeds, max_seeds))


def seeds_per_group(
    needed: dict[str, int], group_of: dict[str, str], groups: list[str], design_seeds: int, max_seeds: int
) -> dict[str, int]:
    """Per group (``group_of``: claim -> group), the seeds its key comparisons run on: the most any of its claims needs, at least
    ``design_seeds`` and at most ``max_seeds``; a group with no claim gets ``design_seeds``."""
    if max_seeds < design_seeds:
        raise ValueError(f"max_seeds = {max_seeds} is below seeds = {design_seeds}: raise max_seeds")
    return {
        g: int(min(max([design_seeds] + [n for c, n in needed.items() if group_of[c] == g]), max_seeds))
        for g in groups
    }
