"""Notebook 04's design in one place: the networks at their scale, the cells each model runs, the
comparisons declared for it, and what the whole design costs in training epochs. The notebook runs
it; ``benchmarks/gpu_paper_slice.py`` measures a slice of it on a GPU and projects the rest from
``cost``, so the two cannot drift apart.

Per model, after the learning-rate and length pilots: the **key cells** (full persistence,
restarts, the random kick, random anchors and the re-runs from θ₀ that the kick is matched to) run
on the seeds the power analysis asks for; the **other cells** (the K× longer run, the snapshot
ensemble and the partial mode where the profile runs them) on the design's ``seeds``."""

from __future__ import annotations

import pandas as pd

from pnlib.base import labels
from pnlib.experiments import grid, pilots
from pnlib.experiments.executors import Engine, resolve_workers
from pnlib.report import claims
from pnlib.train.models import describe_model
from pnlib.train.runs import RunConfig

PARTIAL = {  # the partial persistent mode of each family: the layers the penalty keeps to
    "alexnet": {"partial: classifier": ("classifier.*",)},
    "resnet": {"partial: early blocks": ("conv1", "layer1.*")},
}
# the validation accuracy a reader would call trained, per dataset: what LeNet-5 reaches (notebook 03:
# 0.856 on Fashion-MNIST from 5,000 images; about 0.70 on CIFAR-10). Below it a claim is not tested.
TRAINED = {"fashion_mnist": 0.85, "cifar10": 0.70}
CLAIMS = (  # what each model's families claim, in the paper's words where it has them
    "full persistence beats the equal-compute baselines",
    "a single push of the same size does not explain it",
    "the memory of earlier solutions matters",
    "full persistence beats partial persistence",
)


def model_kwargs(cfg, model: str) -> dict:
    """The scale of ``model`` in this config: AlexNet's width multiplier and MLP width, a ResNet's
    width multiplier."""
    if model == "alexnet":
        return {"width_mult": cfg.alexnet_width, "hidden": cfg.alexnet_hidden}
    return {"width_mult": cfg.resnet_width}


def name(cfg, model: str) -> str:
    """The model at its scale, as every title and table shows it: ``ResNet-8 ×0.5``."""
    return describe_model(model, model_kwargs(cfg, model))


def cell(cfg, model: str, *, device, lr: float, num_epochs: int) -> RunConfig:
    """``model``'s cell with full persistence at ``lr`` and ``num_epochs`` (batch size, init,
    augmentation and precision from the config)."""
    return cfg.run_config(
        model,
        cfg.init,
        device=device,
        num_epochs=num_epochs,
        lr=lr,
        batch_size=cfg.batch_size,
        augment=True,
        compile=cfg.compile,
        **model_kwargs(cfg, model),
    )


def partial_modes(cfg, model: str) -> dict[str, tuple[str, ...]]:
    """The partial mode of ``model``'s family (name -> layer patterns), where the profile runs it."""
    return (PARTIAL["alexnet" if model == "alexnet" else "resnet"]) if cfg.partial else {}


def modes(cfg, full: RunConfig) -> dict[str, RunConfig]:
    """The persistent modes of a model's cell: re-runs from θ₀, full, and the partial mode where the
    profile runs it."""
    return grid.modes(full, partial_modes(cfg, full.model))


def key_cells(G: dict[str, RunConfig]) -> list[tuple[str, str, RunConfig]]:
    """The cells the claims rest on (``pilots.key_cells``) and the re-runs from θ₀, which the kick
    trains anyway (it is matched to them)."""
    return pilots.key_cells(G) + [("persistent", labels.RE_RUNS, G[labels.RE_RUNS])]


def is_key(spec: dict) -> bool:
    """Whether a comparison side runs on the key seeds: a key cell's (``pilots.is_key``) or the re-runs'."""
    return pilots.is_key(spec) or spec["method"] == labels.RE_RUNS


def other_cells(cfg, G: dict[str, RunConfig]) -> list[tuple[str, str, RunConfig]]:
    """The longer run, and the snapshot ensemble and the partial mode where the profile runs them."""
    plain = G[labels.RE_RUNS]
    return (
        [("longer", "", plain)]
        + ([("snapshot", "", plain)] if cfg.snapshot else [])
        + [("persistent", mode, c) for mode, c in G.items() if mode.startswith("partial")]
    )


def family(cfg, model: str) -> list[dict]:
    """The comparisons declared for ``model``, one family per claim (its name leads the claim):
    persistence's selected solution against the selected solutions and single runs of the
    equal-compute baselines, its ensemble against theirs; the two controls; the partial mode."""
    S, i, m = claims.side, cfg.init, name(cfg, model)
    persistent, both = S(i, labels.PERSISTENT, "full"), ("selected", "ensemble")
    baselines = claims.equal_compute(i) + ([S(i, labels.SNAPSHOT)] if cfg.snapshot else [])
    partial = [S(i, labels.PERSISTENT, mode) for mode in partial_modes(cfg, model)]
    return (
        claims.family(f"{m}: {CLAIMS[0]}", persistent, baselines, both, model=model)
        + claims.family(f"{m}: {CLAIMS[1]}", persistent, [S(i, labels.KICK, "full")], both, model=model)
        + claims.family(
            f"{m}: {CLAIMS[2]}", persistent, [S(i, labels.RANDOM_ANCHORS, "full")], both, model=model
        )
        + (claims.family(f"{m}: {CLAIMS[3]}", persistent, partial, model=model) if partial else [])
    )


def cost(cfg, E: dict[str, int], n_key: int) -> pd.DataFrame:
    """Trajectory-epochs of the whole design per model and stage, before any run: the
    learning-rate pilot (K = 2 per rate and tuning seed, at the first candidate length), the length
    pilot (every other candidate on the tuning seeds; its run at the first length is the
    learning-rate pilot's trajectory 1), the power runs (the key cells on the tuning seeds; trajectory 1 is the
    length pilot's), the key cells on ``n_key`` seeds and the other cells on ``seeds``, at the
    lengths ``E`` (per model). A trajectory of trajectory 1's length counts E epochs; the longer
    run K × E. The kick's one-epoch matching runs and evaluation are not counted."""
    K, T, first = cfg.K, cfg.tuning_seeds, cfg.pilot_epochs[0]
    rows = []
    for model, e in E.items():
        partials = len(partial_modes(cfg, model))
        key_new = 5 * (K - 1)  # persistent, re-runs, restarts, kick, anchors: K − 1 each after trajectory 1
        other = K + (K - 1) * (int(cfg.snapshot) + partials)
        stages = {
            "learning-rate pilot": (len(cfg.pilot_lrs) * T * 2, len(cfg.pilot_lrs) * T * 2 * first),
            "length pilot": (T * (len(cfg.pilot_epochs) - 1), T * (sum(cfg.pilot_epochs) - first)),
            "power runs": (T * key_new, T * key_new * e),
            f"key cells ({n_key} seeds)": (n_key * (1 + key_new), n_key * (1 + key_new) * e),
            f"other cells ({cfg.seeds} seeds)": (cfg.seeds * other, cfg.seeds * other * e),
        }
        rows += [
            {"model": name(cfg, model), "E": e, "stage": stage, "trajectories": n, "epochs": ep}
            for stage, (n, ep) in stages.items()
        ]
    return pd.DataFrame(rows)


def projected_minutes(
    cost_table: pd.DataFrame, seconds_per_epoch: dict[str, float], engine: Engine
) -> pd.DataFrame:
    """``cost``'s table with the minutes each stage takes at the measured ``seconds_per_epoch`` (per
    model name: a job's wall time over its epochs, evaluation included) on ``engine``'s workers."""
    workers = resolve_workers(engine.workers, engine.threads)
    return cost_table.assign(
        minutes=cost_table.epochs * cost_table.model.map(seconds_per_epoch) / 60 / workers
    )


def projection(cfg, pilot: pilots.EpochPilot, seconds_per_epoch: dict[str, float], engine: Engine) -> dict:
    """Per model: the trajectory length its design needs (the pilot's E where it converged; else the
    longest pilot length, a lower bound) and the projected minutes of the whole design there
    (``cost`` on ``max_seeds`` key seeds at the measured ``seconds_per_epoch``, per model name)."""
    out = {}
    for m in cfg.models:
        e = pilot.E[m] if pilot.converged[m] else max(cfg.pilot_epochs)
        minutes = projected_minutes(cost(cfg, {m: e}, cfg.max_seeds), seconds_per_epoch, engine)
        out[m] = (e, float(minutes.minutes.sum()))
    return out


def plan(cfg, pilot: pilots.EpochPilot, bar: float, projected: dict) -> dict[str, str | None]:
    """Per model, in ``cfg.models``' order: ``None`` where its design runs, else why not, in words.
    A network whose trajectory 1 stays at chance is never run. Under a time budget
    (``cfg.budget_minutes`` > 0) the budget goes only to networks whose claims can be tested
    (trajectory 1 trained to ``bar`` and converged by the pilot rule), in order, while the
    ``projection``s of those run so far fit; without one, every network that learns runs and the
    preconditions label its claims."""
    spent, out, limited, longest = 0.0, {}, cfg.budget_minutes > 0, max(cfg.pilot_epochs)
    for m in cfg.models:
        (e, need), at = projected[m], pilot.at_E[m]
        rows = pilot.table[pilot.table.model == m].set_index("E")
        if not pilot.learns[m]:
            out[m] = f"trajectory 1 stays at chance ({at:.3f}) at E = {pilot.E[m]}: no verdicts"
        elif limited and (at < bar or not pilot.converged[m]):
            why = []
            if at < bar:
                why.append(
                    f"not trained: validation accuracy {at:.3f} at E = {pilot.E[m]}, "
                    f"{rows.val_acc[longest]:.3f} at {longest} epochs (bar {bar:.2f})"
                )
            if not pilot.converged[m]:
                why.append(
                    f"not converged: doubling {longest // 2} to {longest} epochs still gains "
                    f"{rows.gain_from_doubling[longest // 2]:.3f} (margin {cfg.margin:g})"
                )
            out[m] = (
                f"trajectory 1 is {'; '.join(why)}. A design at convergence needs E ≥ {e}: at least "
                f"{need:.0f} min at this machine's measured cost per epoch, against the profile's "
                f"budget of {cfg.budget_minutes:g} min; the budget goes only to claims that can be tested"
            )
        elif limited and spent + need > cfg.budget_minutes:
            out[m] = (
                f"its design at E = {e} would take {need:.0f} min on this machine, over what is left "
                f"of the profile's budget of {cfg.budget_minutes:g} min"
            )
        else:
            spent, out[m] = spent + need, None
    return out


def design_table(
    cfg, pilot: pilots.EpochPilot, bar: float, per_epoch: dict[str, float], projected: dict, runs_on: dict
) -> pd.DataFrame:
    """One row per network: what the pilots found (E, trajectory 1's validation accuracy there and
    at the longest pilot length, the two preconditions), what an epoch costs here, the length a
    design at convergence needs and its projected minutes (``projection``), and whether it ran
    (``plan``'s reason where not). Notebook 04 writes it as ``design.csv``."""
    longest = max(cfg.pilot_epochs)
    return pd.DataFrame(
        [
            {
                "network": name(cfg, m),
                "E": pilot.E[m],
                "val_acc_at_E": pilot.at_E[m],
                "longest": longest,
                "val_acc_longest": pilot.table.set_index(["model", "E"]).val_acc[(m, longest)],
                "trained": pilot.at_E[m] >= bar,
                "bar": bar,
                "converged": pilot.converged[m],
                "seconds_per_epoch": per_epoch[name(cfg, m)],
                "E_needed": projected[m][0],
                "projected_minutes": projected[m][1],
                "budget_minutes": cfg.budget_minutes,
                "ran": runs_on[m] is None,
                "why_not": runs_on[m] or "",
            }
            for m in cfg.models
        ]
    )
