"""The notebooks' figures, each a function of a tidy table (seaborn), saved next to its results."""

from __future__ import annotations

from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import seaborn as sns
import torch
from matplotlib.ticker import FuncFormatter, MaxNLocator

from pnlib.report.stats import mean_ci


def t_interval(values) -> tuple[float, float]:
    """The 95% t-interval of the mean as seaborn's ``errorbar``: every table's interval, the same in
    every run (seaborn's default bootstraps with a random seed)."""
    return mean_ci(values)[1:]


def set_style() -> None:
    sns.set_theme(context="notebook", style="whitegrid", palette="colorblind")
    plt.rcParams.update({"figure.dpi": 110, "savefig.bbox": "tight", "axes.titlesize": "medium"})


def save(fig, path: str | Path) -> Path:
    """Save a figure next to the results it shows (PNG), creating the folder."""
    (path := Path(path)).parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path)
    return path


def intervals(
    table: pd.DataFrame,
    x: str,
    y: str,
    hue: str | None = None,
    *,
    lo: str = "ci_low",
    hi: str = "ci_high",
    ax=None,
    ylabel: str | None = None,
    title: str = "",
    order=None,
):
    """A point per (x, hue) with its interval [lo, hi], hues dodged side by side."""
    ax = ax or plt.subplots(figsize=(8, 3.6))[1]
    xs = list(dict.fromkeys(table[x]))
    groups = (
        [(None, table)]
        if hue is None
        else [(h, table[table[hue] == h]) for h in (order or grouped(dict.fromkeys(table[hue])))]
    )
    styles = variant_styles([h for h, _ in groups])
    for i, (h, sub) in enumerate(groups):
        sub = sub.set_index(x).reindex(xs)
        pos = np.arange(len(xs)) + (i - (len(groups) - 1) / 2) * 0.6 / max(len(groups) - 1, 1)
        ax.errorbar(pos, sub[y], yerr=[sub[y] - sub[lo], sub[hi] - sub[y]], capsize=3, label=h, **styles[h])
    ax.set_xticks(range(len(xs)), [str(v) for v in xs])
    ax.set(xlabel="" if hue is None else x, ylabel=ylabel or y, title=title)
    if hue is not None:
        ax.legend(fontsize="small", loc="upper left", bbox_to_anchor=(1.01, 1.0), frameon=False)
    return ax


def grouped(names) -> list:
    """Series in the order a legend reads best: single series first, then each method's λ variants
    together."""
    names = list(names)
    return [n for n in names if " λ=" not in str(n)] + sorted(
        (n for n in names if " λ=" in str(n)),
        key=lambda n: [str(m).split(" λ=")[0] for m in names].index(str(n).split(" λ=")[0]),
    )


def variant_styles(names) -> dict:
    """A style per series: a series named ``<family> λ=…`` is a shade of its family's colour (the
    variants of one method read as one group), and each family has its own marker, hollow for
    controls; other series get the palette's colours in turn."""
    families = list(dict.fromkeys(str(n).split(" λ=")[0] for n in names if " λ=" in str(n)))
    shades = {
        f: sns.color_palette(p, 5)[1:] for f, p in zip(families, ("Blues", "Oranges", "Purples", "Greens"))
    }
    markers, seen, out, plain = "osD^v", {f: 0 for f in families}, {}, iter(sns.color_palette("dark"))
    for n in names:
        family = str(n).split(" λ=")[0]
        if family in shades:
            colour = shades[family][min(seen[family], 3)]
            seen[family] += 1
            hollow = "random" in family or "kick" in family
            out[n] = dict(
                fmt=markers[families.index(family) + 1], color=colour, mfc="white" if hollow else colour
            )
        else:
            out[n] = dict(fmt="o", color=next(plain))
    return out


def toy_comparison(toy: pd.DataFrame, title: str):
    """Distinct minima per θ₀ and the share of θ₀ that found the deepest, per method (95% intervals)."""
    fig, axes = plt.subplots(1, 2, figsize=(10, 4.2))
    intervals(
        toy,
        "method",
        "distinct_minima",
        lo="distinct_ci_low",
        hi="distinct_ci_high",
        ax=axes[0],
        ylabel="distinct minima per θ₀",
    )
    intervals(
        toy,
        "method",
        "found_deepest",
        lo="deepest_ci_low",
        hi="deepest_ci_high",
        ax=axes[1],
        ylabel="share that found the deepest well",
    )
    for ax in axes:  # method names slanted, so that long ones never run into each other
        plt.setp(ax.get_xticklabels(), rotation=30, ha="right", rotation_mode="anchor")
    fig.suptitle(title)
    fig.tight_layout()
    return fig


def kernels_and_schedules(kernel_value, schedule_factor, kernels, schedules):
    """φ(r) of every kernel (normalised at the anchor) and λ(t)/λ of every schedule."""
    fig, axes = plt.subplots(1, 2, figsize=(10, 3.4))
    r = torch.linspace(0, 2.5, 300, dtype=torch.float64)
    for k in kernels:
        phi = kernel_value(k, r)
        axes[0].plot(r, phi / phi[0], label=k)
    axes[0].axvline(1.0, color="grey", lw=0.8, ls=":")
    axes[0].set(
        xlabel="r = ‖θ_g − a_g‖ / σ", ylabel="φ(r) / φ(0)", title="kernels (normalised at the anchor)"
    )
    t = np.linspace(0, 1, 300)
    for s in schedules:
        axes[1].plot(t, [schedule_factor(s, x) for x in t], label=s)
    axes[1].set(xlabel="fraction of the trajectory t", ylabel="λ(t) / λ", title="strength schedules")
    for ax in axes:
        ax.legend()
    return fig


def surface_paths(
    surface,
    paths: torch.Tensor,
    ends: torch.Tensor,
    theta0: torch.Tensor,
    minima: torch.Tensor,
    extent: float = 3.0,
):
    """Contours of a 2-D ``surface`` with K trajectories (K, T, 2), their end points (K, 2), θ₀
    and the local minima."""
    g = torch.linspace(-extent, extent, 241, dtype=torch.float64)
    XX, YY = torch.meshgrid(g, g, indexing="xy")
    ZZ = surface(torch.stack([XX.reshape(-1), YY.reshape(-1)], 1)).view_as(XX)
    fig, ax = plt.subplots(figsize=(6.2, 5.2))
    cs = ax.contourf(XX, YY, ZZ, levels=30, cmap="Greys_r", alpha=0.85)
    fig.colorbar(cs, ax=ax, label="loss f(θ)")
    for k, color in enumerate(sns.color_palette("colorblind", len(paths))):
        ax.plot(paths[k, :, 0], paths[k, :, 1], color=color, lw=2, label=f"trajectory {k + 1}")
        ax.scatter(*ends[k], color=color, marker="X", s=120, edgecolor="white", zorder=5)
    ax.scatter(*theta0, color="red", marker="o", s=70, zorder=6, label="θ₀")
    ax.scatter(minima[:, 0], minima[:, 1], marker="+", color="black", s=60, label="local minima")
    ax.set(
        title=f"{len(paths)} persistent trajectories from one θ₀ (✕ = end points, the anchors)",
        xlabel="θ₁",
        ylabel="θ₂",
    )
    ax.legend(loc="upper left", bbox_to_anchor=(1.3, 1.0), fontsize="small")
    return fig


def histogram_spans(
    values: np.ndarray, spans: dict[str, tuple[float, float]], xlabel: str, title: str, clip=6.0
):
    """A histogram of ``values`` with shaded spans labelled by the share of values inside each."""
    fig, ax = plt.subplots(figsize=(7, 3))
    sns.histplot(values[np.abs(values) < clip], bins=120, stat="density", ax=ax, color="grey")
    for i, (label, (lo, hi)) in enumerate(spans.items()):
        share = float(((values >= lo) & (values <= hi)).mean())
        ax.axvspan(lo, hi, color=f"C{i}", alpha=0.25, label=f"{label}: {share:.0%} of them")
    ax.set(xlabel=xlabel, title=title)
    ax.legend()
    return fig


def fits(X, y, curves: dict[str, dict[str, torch.Tensor]], title: str, ncols: int = 4):
    """One panel per case: the target and each labelled fit (panel title -> {label: curve})."""
    n = len(curves)
    fig, axes = plt.subplots(
        max(1, -(-n // ncols)),
        ncols,
        figsize=(3.2 * ncols, 3.3 * max(1, -(-n // ncols))),
        sharex=True,
        sharey=True,
        squeeze=False,
    )
    for ax, (name, lines) in zip(axes.flat, curves.items()):
        ax.plot(X, y, color="black", lw=1, label="target")
        for i, (label, curve) in enumerate(lines.items()):
            ax.plot(X, curve, ls="--" if i else "-", label=label)
        ax.set_title(name, fontsize="small")
        ax.legend(fontsize="x-small", loc="upper center", bbox_to_anchor=(0.5, -0.12), frameon=False)
    fig.suptitle(title)
    fig.tight_layout()  # the legends sit under their panels, clear of the curves
    return fig


def learning_curves(histories: pd.DataFrame, col: str, title: str):
    """Each trajectory k per epoch (mean ± sd over seeds), one column per ``col``: the training loss
    at every epoch from the first (where a trajectory starts shows) above the validation accuracy at
    the epochs it was scored (``TrainConfig.eval_every``; the others left out, not drawn as gaps)."""
    metrics = {"train_loss": "training loss", "val_acc": "validation accuracy"}
    keys = ["epoch", "k", col] + ([] if col == "mode" else ["mode"])
    long = histories.melt(id_vars=keys, value_vars=list(metrics), var_name="metric").dropna(subset=["value"])
    g = sns.relplot(
        data=long.assign(metric=long.metric.map(metrics)),
        x="epoch",
        y="value",
        hue="k",
        style=None if col == "mode" else "mode",
        row="metric",
        col=col,
        kind="line",
        errorbar="sd",
        palette="colorblind",
        height=2.8,
        aspect=1.4,
        facet_kws={"sharey": "row"},
    )
    g.set_titles("{col_name}")
    for i, (row, name) in enumerate(zip(g.axes, metrics.values())):  # the columns named once, on top
        row[0].set_ylabel(name + (" (log scale)" if i == 0 else ""))
        for ax in row:
            ax.set_title(ax.get_title() if i == 0 else "")
            ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    for ax in g.axes[0]:
        ax.set_yscale("log")
        ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))
        ax.yaxis.set_minor_formatter(FuncFormatter(lambda v, _: f"{v:g}" if f"{v:.0e}"[0] in "25" else ""))
    g.figure.suptitle(title, y=1.03)
    return g.figure


def distances(matrices: dict[str, pd.DataFrame], title: str, fmt: str = ".2f"):
    """Heatmaps of distances between θ₀ and the a_k, one panel per title; the colours leave out a row
    10× farther than the median row (a diverged trajectory), whose numbers are still written."""
    fig, axes = plt.subplots(1, len(matrices), figsize=(5 * len(matrices), 3.8), squeeze=False)
    for ax, (name, D) in zip(axes[0], matrices.items()):
        A = np.where(np.eye(len(D), dtype=bool), np.nan, np.asarray(D, dtype=float))  # off the diagonal
        ok = (row := np.nanmedian(A, axis=1)) <= 10 * np.median(row)  # each point's typical distance
        top = np.nanmax(A[np.ix_(ok, ok)])
        sns.heatmap(D, annot=True, fmt=fmt, cmap="mako_r", ax=ax, cbar=False, vmin=0, vmax=top)
        ax.set_title(name)
    fig.suptitle(title, y=1.03)
    return fig


def interpolation_curves(
    curves: pd.DataFrame, col: str, title: str, hue: str | None = None, classes: int | None = None
):
    """Loss along (1 − α)·a + α·b, one panel per ``col`` (a ``split`` column named as a reader knows
    it); with ``classes``, a uniform guess's loss ln(classes) drawn where the curves come within half of it."""
    splits = {"train": "training loss", "val": "validation loss", "test": "test loss"}
    g = sns.relplot(
        data=curves.assign(**{col: curves[col].map(lambda v: splits.get(v, v))}),
        x="alpha",
        y="loss",
        hue=hue,
        col=col,
        kind="line",
        marker="o",
        height=3.2,
        aspect=1.3,
        facet_kws={"sharey": False},
        errorbar=t_interval,
    )
    g.set_titles("{col_name}")
    g.set_axis_labels("α", "cross-entropy loss")
    chance = np.log(classes) if classes else None
    if chance is not None and curves.loss.max() >= chance / 2:
        for ax in g.axes.flat:
            ax.axhline(chance, color="grey", linestyle="--", linewidth=1)
            ax.annotate(
                f"chance: ln {classes} = {chance:.2f}",
                (1.0, chance),
                xytext=(0, -3),
                textcoords="offset points",
                ha="right",
                va="top",
                color="grey",
                fontsize=8,
            )
    g.figure.suptitle(title, y=1.04)
    return g.figure


def saturation_bars(table: pd.DataFrame, title: str):
    """Share of saturated activations per layer and trajectory k, one panel per mode."""
    g = sns.catplot(
        data=table,
        x="layer",
        y="saturated",
        hue="k",
        col="mode",
        kind="bar",
        palette="colorblind",
        height=3.2,
        aspect=1.2,
        errorbar=t_interval,
    )
    g.figure.suptitle(title, y=1.04)
    return g.figure


def pilot(summary: pd.DataFrame, chosen: int, title: str, converged: bool = True, bar: float | None = None):
    """Validation accuracy of single runs against their length E (one line per seed, and the
    mean), with the chosen E marked (``converged``: by the rule) and the accuracy a trained run
    reaches (``bar``) where there is one."""
    fig, ax = plt.subplots(figsize=(6, 3.4))
    sns.lineplot(
        data=summary, x="epochs", y="val_acc", units="seed", estimator=None, color="0.7", lw=1, ax=ax
    )
    sns.lineplot(
        data=summary, x="epochs", y="val_acc", errorbar=None, marker="o", ax=ax, label="mean over seeds"
    )
    ax.axvline(
        chosen,
        ls="--",
        color="C3",
        label=f"chosen E = {chosen}" if converged else f"E = {chosen}, not converged",
    )
    if bar is not None:
        ax.axhline(bar, ls=":", color="0.3", label=f"trained: {bar:.2f}")
    ax.set_xscale("log", base=2)
    ax.set_xticks(sorted(summary.epochs.unique()), [str(e) for e in sorted(summary.epochs.unique())])
    ax.minorticks_off()
    ax.set(
        xlabel="epochs E of one trajectory (the pilot's candidates)",
        ylabel="validation accuracy",
        title=title,
    )
    ax.legend(fontsize="small")
    return fig
