"""The pilots of METHOD.md: they fix a training setting on the tuning seeds (1000 …), by
validation accuracy only, before any reported run. ``learning_rate`` chooses a model's (lr,
batch size) among the settings whose penalised trajectory survived; ``epochs`` chooses its
trajectory length E by the doubling rule (``selection.choose_epochs``) and marks whether E is
converged. Both write their tables and figures into the notebook's results folder."""

from __future__ import annotations

from dataclasses import dataclass, replace

import pandas as pd

from pnlib.base import labels, store
from pnlib.experiments import grid
from pnlib.experiments.executors import Engine
from pnlib.report import plots, selection
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

    def describe(self) -> str:
        at = self.table[self.table.chosen].set_index("model").val_acc
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
) -> EpochPilot:
    """Single plain runs (K = 1) of every length in ``candidates`` per model (``cells``: its cell at
    what the learning-rate pilot chose), on ``seeds``; E per model by ``selection.choose_epochs``
    with ``margin``. Writes ``<name>.csv`` and a figure ``<name>-<model>.png`` per model into ``exp``'s
    folder (``name`` tells apart the pilots of one notebook, e.g. one per init); raises if a pilot
    job did not finish."""
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
            plots.pilot(of, E[m], f"Pilot: trajectory 1 of {m} on {dataset}, seeds {list(seeds)}{verdict}"),
            exp.root / f"{name}-{m}.png",
        )
    table = pd.concat(tables, ignore_index=True)
    store.write_csv(exp.root / f"{name}.csv", table)
    at_E = table[table.chosen].set_index("model").val_acc
    learns = {m: bool(at_E[m] > 1 / num_classes + 0.05) for m in cells}
    return EpochPilot(E, converged, learns, table, runs)
