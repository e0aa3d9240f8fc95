"""The pilots of METHOD.md: they fix a training setting on the tuning seeds (1000 …), by
validation accuracy only, before any reported run. ``learning_rate`` chooses a model's (lr,
batch size) among the settings whose penalised trajectory survived; ``epochs`` chooses its
trajectory length E by the doubling rule (``selection.choose_epochs``) and marks whether E is
converged. Both write their tables and figures into the notebook's results folder."""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

from pnlib.base import labels, store
from pnlib.experiments import grid
from pnlib.report import plots, selection


def learning_rate(
    cfg,
    exp,
    settings: dict[str, tuple[float, int]],
    model_kwargs: dict[str, dict],
    seeds,
    *,
    device,
    run_on: dict,
) -> tuple[dict[str, tuple[float, int]], pd.DataFrame]:
    """Per model (the keys of ``model_kwargs``, each with its ``grid.grid`` keywords), the setting
    (label -> (lr, batch size)) whose trajectory 1 has the best validation accuracy among those whose
    persistent trajectory 2 did not diverge. Each candidate runs K = 2 at the first pilot length, so
    a setting that trains plainly but diverges under the penalty is never chosen. Writes
    ``pilot_lr.csv``; raises if every setting diverged for some model."""
    cells = [
        (
            "persistent",
            label,
            grid.grid(
                cfg,
                m,
                cfg.init,
                {},
                device=device,
                K=2,
                lr=lr,
                batch_size=b,
                num_epochs=cfg.pilot_epochs[0],
                **kw,
            )["full"],
        )
        for m, kw in model_kwargs.items()
        for label, (lr, b) in settings.items()
    ]
    runs, _ = grid.run_cells(exp, cells, seeds, name="pilot_lr_runs", **run_on)
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
    missing = sorted(set(model_kwargs) - set(chosen.index))
    if missing:
        raise RuntimeError(
            f"every pilot setting diverged under the penalty for {missing}: add a smaller learning "
            f"rate to pilot_lrs"
        )
    table["chosen"] = table["mode"] == table.model.map(chosen)
    store.write_csv(cfg.results / "pilot_lr.csv", table)
    return {m: settings[chosen[m]] for m in model_kwargs}, table


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
    cfg,
    exp,
    model_kwargs: dict[str, dict],
    init: str,
    seeds,
    *,
    device,
    run_on: dict,
    dataset: str,
    num_classes: int,
) -> EpochPilot:
    """Single runs (K = 1) of every length in ``cfg.pilot_epochs`` per model (the keys of
    ``model_kwargs``, each with its ``grid.grid`` keywords: what the learning-rate pilot chose),
    on ``seeds``; E per model by ``selection.choose_epochs`` with ``cfg.margin``. Writes ``pilot.csv``
    and a figure ``pilot-<model>.png`` per model; raises if a pilot job did not finish."""
    cells = [
        (
            "longer",
            f"E={n}",
            grid.grid(cfg, m, init, {}, device=device, K=1, num_epochs=n, **kw)[labels.RE_RUNS],
        )
        for m, kw in model_kwargs.items()
        for n in cfg.pilot_epochs
    ]
    runs, _ = grid.run_cells(exp, cells, seeds, name="pilot_runs", **run_on)
    if (runs.status != "ok").any():
        raise RuntimeError(
            f"{int((runs.status != 'ok').sum())} pilot runs did not finish (status "
            f"{sorted(set(runs.status) - {'ok'})}, rows in {exp.root / 'pilot_runs.csv'}): a diverged "
            f"plain run means the learning rate is too large; a failed one resumes on a rerun"
        )
    E, converged, tables = {}, {}, []
    for m in model_kwargs:
        of = runs[runs.model == m]
        E[m], t = selection.choose_epochs(of, cfg.margin)
        converged[m] = bool(t[t.chosen].converged.iloc[0])
        tables.append(t.assign(model=m))
        verdict = (
            "" if converged[m] else "\nno E converged by the rule: every claim is not tested at convergence"
        )
        plots.save(
            plots.pilot(of, E[m], f"Pilot: trajectory 1 of {m} on {dataset}, seeds {list(seeds)}{verdict}"),
            cfg.results / f"pilot-{m}.png",
        )
    table = pd.concat(tables, ignore_index=True)
    store.write_csv(cfg.results / "pilot.csv", table)
    at_E = table[table.chosen].set_index("model").val_acc
    learns = {m: bool(at_E[m] > 1 / num_classes + 0.05) for m in model_kwargs}
    return EpochPilot(E, converged, learns, table, runs)
