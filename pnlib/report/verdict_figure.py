"""The verdict figure: one panel per claim, every comparison's paired estimate with its interval,
and the claim's label on the panel, so a figure cannot show "better" where the label says the
claim was not tested."""

from __future__ import annotations

import textwrap

import matplotlib.pyplot as plt
import pandas as pd

from pnlib.report import findings

VERDICT_COLOURS = {
    "better": "C2",
    "worse": "C3",
    "equivalent": "C0",
    "inconclusive": "0.55",
    "identical": "0.8",
}
# filled circle and hollow diamond: told apart in print and without colour
SELECTION_MARKERS = {"selected": "o", "ensemble": "D", "single": "s"}
HOLLOW = {"ensemble"}
NOT_TESTED = "0.72"


def row_labels(table: pd.DataFrame, status: pd.DataFrame | None) -> tuple[pd.Series, pd.Series]:
    """Per verdict row, its claim's label and reason in ``status`` (``claims.report`` /
    ``claims.conclusions`` rows: claim, status, why, and setting where labels are per setting)."""
    empty = pd.Series("", index=table.index, dtype=object)
    if status is None or not len(status):
        return empty, empty
    key = ["claim", "setting"] if "setting" in status and "setting" in table else ["claim"]
    s = status.assign(setting=status["setting"].fillna("")) if "setting" in key else status
    t = table.assign(setting=table["setting"].fillna("")) if "setting" in key else table
    index = s.drop_duplicates(key).set_index(key)
    at = pd.MultiIndex.from_frame(t[key]) if len(key) > 1 else pd.Index(t["claim"])
    label = index["status"].reindex(at).fillna("").astype(str).to_numpy()
    why = index["why"].reindex(at).fillna("").astype(str).to_numpy()
    return pd.Series(label, index=table.index), pd.Series(why, index=table.index)


def _panel_title(claim: str, g: pd.DataFrame) -> str:
    labels = g.drop_duplicates("status_label")
    if not labels.status_label.str.len().any():
        return textwrap.fill(claim, 90)
    if len(labels) == 1 or "setting" not in g:
        said = labels.status_label.iloc[0]
    else:
        per = g.drop_duplicates("setting")
        said = "; ".join(f"{s}: {lab}" for s, lab in zip(per.setting, per.status_label))
    return textwrap.fill(f"{claim} — {said.upper() if len(labels) == 1 else said}", 100)


def panels(
    table: pd.DataFrame,
    margin: float,
    title: str,
    labels: pd.DataFrame | None = None,
    status: pd.DataFrame | None = None,
):
    """One panel per claim, each on its own x scale: every comparison's paired estimate a − b with
    its Holm-level interval, coloured by verdict, the ±margin band shaded. ``labels`` (rows aligned
    with ``table``: ``label``, ``selection``, e.g. ``claims.short_labels(family)``) gives short row
    names and a marker per selection; without it the comparison text is the label. ``status``
    (the claims' labels) puts each claim's label in its panel's title and greys out the rows of a
    claim or setting that was not tested, with the reason."""
    t = table.reset_index(drop=True)
    lab = labels.reset_index(drop=True) if labels is not None else pd.DataFrame({"label": t.comparison})
    said, why = row_labels(t, status)
    t = t.assign(
        label=lab.label,
        selection=lab.get("selection", pd.Series("single", index=t.index)),
        status_label=said,
        untested=said.str.startswith("not tested"),
        why=why,
    )
    claims = list(dict.fromkeys(t.claim))
    rows = [list(dict.fromkeys(t.label[t.claim == c])) for c in claims]
    fig, axes = plt.subplots(
        len(claims),
        1,
        figsize=(9.5, 0.34 * sum(map(len, rows)) + 1.25 * len(claims) + 0.4),
        gridspec_kw={"height_ratios": [len(r) + 2.0 for r in rows]},
        squeeze=False,
    )
    offsets = {"selected": 0.16, "ensemble": -0.16, "single": 0.0}
    for ax, claim, names in zip(axes[:, 0], claims, rows):
        g = t[t.claim == claim]
        g = g.assign(y=[len(names) - 1 - names.index(n) for n in g.label] + g.selection.map(offsets))
        ax.axvspan(-margin, margin, color="C0", alpha=0.12, lw=0)
        ax.axvline(0, color="k", lw=0.8)
        for (v, sel, untested), r in g.groupby(["verdict", "selection", "untested"]):
            colour = NOT_TESTED if untested else VERDICT_COLOURS[v]
            ax.errorbar(
                r.estimate,
                r.y,
                xerr=[r.estimate - r.ci_low, r.ci_high - r.estimate],
                fmt=SELECTION_MARKERS[sel],
                color=colour,
                mfc="white" if sel in HOLLOW else colour,
                capsize=2,
                ms=5,
                lw=1.2,
            )
        ax.set_yticks(range(len(names))[::-1], names, fontsize="small")
        ax.set_ylim(-0.6, len(names) - 0.4)
        ax.set_title(_panel_title(claim, g), fontsize="medium", loc="left")
        if g.untested.any():
            u = g[g.untested].drop_duplicates("setting" if "setting" in g else "claim")
            reasons = "; ".join(
                (f"{r.setting}: " if "setting" in g and r.setting else "") + findings.first_sentence(r.why)
                for r in u.itertuples()
                if r.why
            )
            ax.annotate(textwrap.fill("grey: not tested" + (f" ({reasons})" if reasons else ""), 120),
                        xy=(0, 0), xycoords="axes fraction", xytext=(0, -44), textcoords="offset points",
                        fontsize="x-small", color="0.35", va="top")  # fmt: skip
        ax.set_xlabel(f"a − b, paired ({g.metric.iloc[0]}; intervals at Holm's level)", fontsize="small")
    handles = [plt.Line2D([], [], color=c, marker="o", ls="", label=v) for v, c in VERDICT_COLOURS.items()]
    if t.untested.any():
        handles.append(plt.Line2D([], [], color=NOT_TESTED, marker="o", ls="", label="not tested"))
    handles.append(plt.Rectangle((0, 0), 1, 1, color="C0", alpha=0.12, label=f"±{margin:g} margin"))
    present = [s for s in SELECTION_MARKERS if s in set(t.selection)]
    if len(present) > 1:
        handles += [
            plt.Line2D([], [], color="k", marker=SELECTION_MARKERS[s], mfc="white" if s in HOLLOW else "k",
                       ls="", label=s)
            for s in present
        ]  # fmt: skip
    fig.legend(
        handles=handles,
        loc="upper center",
        ncol=min(len(handles), 5),
        fontsize="small",
        frameon=False,
        bbox_to_anchor=(0.5, 1.0),
    )
    top = 0.3 + 0.25 * (len(handles) > 5)
    fig.suptitle(title, y=1.0 + 0.35 / fig.get_figheight())
    fig.tight_layout(rect=(0, 0, 1, 1 - top / fig.get_figheight()))
    return fig
