"""Notebook 03's design for LeNet-5, declared before any result: the cells each init runs and the
families of comparisons that test its claims (docs/method.md: a family is one claim, Holm within
it; like with like, ensembles with ensembles). Notebook 04's design is ``networks``."""

from __future__ import annotations

from dataclasses import replace

from pnlib.base import labels
from pnlib.experiments import grid
from pnlib.report import claims
from pnlib.train.runs import RunConfig

SAME = ("selected", "ensemble")  # both selections, for the claims that compare ensembles too


def lr_label(cfg) -> str:
    """The mode name of the poor init's longer run at the larger learning rate."""
    return f"lr {cfg.larger_lr:g}"


def cells(
    cfg, good: dict[str, RunConfig], poor: dict[str, RunConfig], tuned: RunConfig, tanh: dict[str, RunConfig]
) -> tuple[list, list, list]:
    """The main cells (good init: the grid of re-runs and full persistence with its equal-compute
    baselines, the snapshot, kick, random-anchor and repulsive controls, and the λ chosen on
    validation if it is not the pre-fixed one), the poor init's (its grid, the kicks, random
    anchors, the fixed bandwidth and a longer run at the larger learning rate) and the secondary
    ones (the partial modes, the tanh network's modes)."""
    plain = good[labels.RE_RUNS]
    fixed_bw = replace(poor["full"], penalty=replace(poor["full"].penalty, bandwidth=cfg.fixed_bandwidth))
    faster = replace(poor[labels.RE_RUNS], train=replace(poor[labels.RE_RUNS].train, lr=cfg.larger_lr))
    main = (
        grid.grid_cells({m: good[m] for m in (labels.RE_RUNS, "full")})
        + [
            ("snapshot", "", plain),
            ("kick", "full", good["full"]),
            ("anchors", "full", good["full"]),
            ("repulsive", "", plain),
        ]
        + ([] if tuned == good["full"] else [("persistent", "full, tuned", tuned)])
    )
    poor_cells = (
        grid.grid_cells(poor)
        + [(m, "full", poor["full"]) for m in ("kick", "kick_layer", "anchors")]
        + [("persistent", "full, fixed bandwidth", fixed_bw), ("longer", lr_label(cfg), faster)]
    )
    secondary = [("persistent", m, good[m]) for m in ("partial: conv", "partial: fc")] + [
        ("persistent", "tanh: " + m, c) for m, c in tanh.items()
    ]
    return main, poor_cells, secondary


def family(cfg, tuned: bool) -> list[dict]:
    """Every claim's comparisons, side a against each side b (``tuned``: the λ chosen on
    validation differs from the pre-fixed one, so its claim is tested too)."""
    S, F, g, p = claims.side, claims.family, cfg.good_init, cfg.poor_init
    persistent = {init: S(init, "persistent", "full") for init in (g, p)}
    return (
        F(
            "good init: full persistence beats the equal-compute baselines",
            persistent[g],
            claims.equal_compute(g) + [S(g, labels.SNAPSHOT), S(g, labels.REPULSIVE)],
            SAME,
        )
        + F(
            "poor init: full persistence beats the equal-compute baselines",
            persistent[p],
            claims.equal_compute(p) + [S(p, "longer", lr_label(cfg))],
        )
        + F(
            "full persistence beats partial persistence",
            persistent[g],
            [S(g, "persistent", m) for m in ("partial: conv", "partial: fc")],
        )
        + F(
            "good init: a single push of the same size does not explain it",
            persistent[g],
            [S(g, labels.KICK, "full")],
            SAME,
        )
        + F(
            "poor init: a single push of the same size does not explain it",
            persistent[p],
            [S(p, labels.KICK, "full"), S(p, labels.KICK_LAYER, "full")],
            SAME,
        )
        + F(
            "good init: the memory of earlier solutions matters",
            persistent[g],
            [S(g, labels.RANDOM_ANCHORS, "full")],
            SAME,
        )
        + F(
            "poor init: the memory of earlier solutions matters",
            persistent[p],
            [S(p, labels.RANDOM_ANCHORS, "full")],
            SAME,
        )
        + F(
            "poor init: the rescue needs the travel bandwidth's large early push",
            persistent[p],
            [S(p, "persistent", "full, fixed bandwidth")],
        )
        + (
            F(
                "the λ chosen on validation beats the pre-fixed λ and the baselines",
                S(g, "persistent", "full, tuned"),
                [persistent[g], S(g, "restarts"), S(g, "longer")],
                SAME,
            )
            if tuned
            else []
        )
    )
