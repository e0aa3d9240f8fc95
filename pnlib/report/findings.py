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


def verdict_rows(verdicts: pd.DataFrame, r, last_budget: bool = False) -> pd.DataFrame:
    """The verdict rows behind one label row ``r``: its claim, its setting where it has one, and its
    budget (``at``) where it was labelled at one point of a compute axis. ``last_budget``: a label
    at no point of its claim's axis quotes the axis' last budget (the README's one line) rather
    than every budget (a Summary's table)."""
    rows = verdicts[verdicts.claim == r["claim"]]
    setting, at = r.get("setting"), r.get("at")
    if isinstance(setting, str) and setting and "setting" in rows:
        rows = rows[rows.setting == setting]
    if "budget" in rows and rows.budget.notna().any():
        if isinstance(at, str) and at:
            rows = rows[rows.budget == at]
        elif last_budget:
            rows = rows[rows.budget == rows.budget.iloc[-1]]
    return rows


def first_sentence(text) -> str:
    """A reason's first sentence, as a label's short form quotes it ("" for none)."""
    return str(text).split(". ")[0].rstrip(".") if isinstance(text, str) and text else ""


def _family(status: str) -> str:
    """The label of ``ORDER`` a status belongs to ("not tested at convergence" is "not tested")."""
    return next((o for o in ORDER if str(status).startswith(o)), str(status))


def table(found: pd.DataFrame, verdicts: pd.DataFrame) -> pd.DataFrame:
    """One row per claim (and setting): its label and the comparison it quotes; where the claim was
    not tested, why (and, where a compute axis was run instead, its labels along the axis)."""
    out = []
    for _, r in found.iterrows():
        rows = verdict_rows(verdicts, r)
        along = r.get("along the axis")
        if _family(r["status"]) == "not tested":
            text = (
                f"not tested: {first_sentence(r['why'])}"
                if len(rows)
                else (f"no comparison ran: {first_sentence(r['why'])}")
            )
            if isinstance(along, str) and along:
                text += f"; along the compute axis: {along}"
        else:
            text = quote(key_comparison(rows)) if len(rows) else "no comparison ran"
        setting = r.get("setting")
        out.append(
            {
                "claim": r["claim"] + (f" [{setting}]" if isinstance(setting, str) and setting else ""),
                "label": r["status"],
                "key comparison (estimate [interval], verdict, n)": text,
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
    setting = found["setting"] if "setting" in found else pd.Series("", index=found.index)
    setting = setting.map(lambda s: s if isinstance(s, str) else "")
    family = found.status.map(_family)
    parts = []
    for status in ORDER + tuple(sorted(set(family) - set(ORDER))):
        for exact in dict.fromkeys(found.status[family == status]):
            mine = found.status == exact
            name = names.get(exact, exact[:1].upper() + exact[1:])
            settings = (
                setting[mine]
                .groupby(found.claim[mine], sort=False)
                .agg(lambda s: f" [{'; '.join(x for x in s if x)}]" if any(s) else "")
            )  # each claim once, with the settings that got this label
            text = f"**{name}**: " + "; ".join(c + w for c, w in settings.items()) + "."
            if status == "not tested":
                reasons = found.why[mine].map(first_sentence).unique()
                text += " " + (f"Why: {reasons[0]}." if len(reasons) == 1 else "Why: in the table below.")
            parts.append(text)
    return "\n\n".join(parts) if parts else "No claim was declared."
