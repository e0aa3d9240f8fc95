"""What a notebook found, for a reader: the comparison a claim's line quotes, a Summary in prose
computed from the labels (``claims.conclusions`` / ``claims.report``), and one compact table. The
README's labels block (``pnlib.report.readme``) quotes the same comparison."""

from __future__ import annotations

import pandas as pd

# the order a reader meets the labels in: what holds, what does not, what is left open, what was not tested
ORDER = ("supported", "mixed", "refuted", "no difference", "underpowered", "open", "not tested")


def key_comparison(rows: pd.DataFrame) -> pd.Series | None:
    """The comparison a claim's line quotes: against restarts where it has one (the selected
    solution first), else its first comparison that tests something."""
    repeats = rows["repeats"].fillna("") if "repeats" in rows else ""
    live = rows[(rows.verdict != "identical") & (repeats == "")]
    if not len(live):
        return None
    restarts = live[live.comparison.str.contains("− restarts")]
    return (restarts if len(restarts) else live).iloc[0]


def quote(row: pd.Series | None) -> str:
    """A comparison as the reports quote it: estimate [interval at Holm's level], verdict, n."""
    if row is None:
        return "(every comparison identical)"
    return (
        f"{row.comparison}: {row.estimate:+.3f} [{row.ci_low:+.3f}, {row.ci_high:+.3f}], "
        f"{row.verdict}, n = {int(row.n_seeds)}"
    )


def _rows(verdicts: pd.DataFrame, r) -> pd.DataFrame:
    rows = verdicts[verdicts.claim == r["claim"]]
    setting = r.get("setting")
    return rows[rows.setting == setting] if isinstance(setting, str) and "setting" in rows else rows


def table(found: pd.DataFrame, verdicts: pd.DataFrame) -> pd.DataFrame:
    """One row per claim (and setting): its label and the comparison it quotes, or, where no
    comparison ran, why."""
    out = []
    for _, r in found.iterrows():
        rows = _rows(verdicts, r)
        out.append(
            {
                "claim": r["claim"] + (f" [{r['setting']}]" if isinstance(r.get("setting"), str) else ""),
                "label": r["status"],
                "key comparison (estimate [interval], verdict, n)": quote(key_comparison(rows))
                if len(rows)
                else f"no comparison ran: {r['why'].split('. ')[0]}",
            }
        )
    return pd.DataFrame(out)


def prose(found: pd.DataFrame) -> str:
    """The Summary's sentences, from the labels: per label, in ``ORDER``, the claims that got it;
    for claims not tested, the reason (once, where they share it)."""
    names = {"supported": "Supported", "mixed": "Mixed (some comparisons better, not all)",
             "refuted": "Refuted", "no difference": "No difference within the margin",
             "underpowered": "Underpowered (inconclusive with fewer seeds than the power analysis asked for)",
             "open": "Open (inconclusive)", "not tested": "Not tested"}  # fmt: skip
    claim = found.claim + found.get("setting", pd.Series(index=found.index, dtype=object)).map(
        lambda s: f" [{s}]" if isinstance(s, str) else ""
    )
    parts = []
    for status in ORDER:
        mine = found.status == status
        if not mine.any():
            continue
        text = f"**{names[status]}**: " + "; ".join(claim[mine]) + "."
        if status == "not tested":
            reasons = found.why[mine].map(lambda w: w.split(". ")[0]).unique()
            text += " " + (f"Why: {reasons[0]}." if len(reasons) == 1 else "Why: in the table below.")
        parts.append(text)
    return "\n\n".join(parts) if parts else "No claim was declared."
