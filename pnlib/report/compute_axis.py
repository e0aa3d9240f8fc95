"""Methods compared along a compute axis: success against the total steps a method used, one
panel per setting (notebook 02's kink, where trajectory 1 may not converge within the pilot)."""

from __future__ import annotations

import matplotlib.pyplot as plt
import pandas as pd

from pnlib.base import labels

# one colour and marker per method, the same in every panel
STYLE = {
    labels.TRAJECTORY_1: ("black", "o", "trajectory 1 = longer (one run, read at each total)"),
    "persistent": ("tab:blue", "s", "persistent (best of K)"),
    "restarts": ("tab:orange", "^", "restarts (best of K)"),
    labels.KICK: ("tab:green", "v", "random kick (best of K)"),
    labels.RANDOM_ANCHORS: ("tab:purple", "D", "random anchors (best of K)"),
}


def figure(rates: pd.DataFrame, settings: list[str], title: str, ylabel: str, ncols: int = 2):
    """``rates``: one row per (setting, method, budget) with ``rate``, ``ci_low``, ``ci_high`` and the
    total steps ``budget``; trajectory 1's rows are the pilot (its steps are its budget) and the
    longer run is the same run read at K × T, so both are drawn as one curve. One panel per setting, a log₂
    step axis, a shared legend below the panels."""
    nrows = -(-len(settings) // ncols)
    fig, axes = plt.subplots(nrows, ncols, figsize=(5.2 * ncols, 3.4 * nrows), sharey=True, squeeze=False)
    for ax, setting in zip(axes.flat, settings):
        sub = rates[rates.setting == setting]
        for method, (color, marker, name) in STYLE.items():
            same_run = [method, labels.LONGER] if method == labels.TRAJECTORY_1 else [method]
            m = sub[sub.method.isin(same_run)].drop_duplicates("budget").sort_values("budget")
            if not len(m):
                continue
            ax.errorbar(
                m.budget,
                m.rate,
                yerr=[m.rate - m.ci_low, m.ci_high - m.rate],
                color=color,
                marker=marker,
                capsize=3,
                lw=1.2 if method == labels.TRAJECTORY_1 else 0.8,
                ls="-" if method == labels.TRAJECTORY_1 else "--",
                label=name,
            )
        ax.set_xscale("log", base=2)
        ticks = sorted(sub.budget.unique())
        ax.set_xticks(ticks, [f"{t / 1000:g}k" for t in ticks], fontsize="small")
        ax.minorticks_off()
        ax.set(title=setting, xlabel="total Adam steps", ylabel=ylabel, ylim=(-0.02, 1.02))
        ax.grid(alpha=0.3)
    for ax in list(axes.flat)[len(settings) :]:
        ax.set_visible(False)
    handles, names = axes.flat[0].get_legend_handles_labels()
    fig.legend(handles, names, loc="lower center", ncol=3, fontsize="small", frameon=False)
    fig.suptitle(title)
    fig.tight_layout(rect=(0, 0.1 if nrows == 1 else 0.06, 1, 1))
    return fig
