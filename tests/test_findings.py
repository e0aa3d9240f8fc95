"""A notebook's Summary (``pnlib.report.findings``): prose and one compact table, computed from the
labels and verdicts."""

import pandas as pd

from pnlib.report import claims, findings


def verdicts():
    rows = [
        ("A", "persistent − trajectory 1", 0.02, "better"),
        ("A", "persistent − restarts", 0.01, "better"),
        ("B", "persistent − random kick", 0.0, "equivalent"),
    ]
    return pd.DataFrame(
        [
            {"claim": c, "comparison": k, "n_seeds": 12, "estimate": e, "ci_low": e - 0.01, "ci_high": e + 0.01,
             "p_holm": 0.01, "verdict": v, "diverged_a": 0, "diverged_b": 0, "note": ""}
            for c, k, e, v in rows
        ]
    )  # fmt: skip


def test_the_summary_names_each_label_its_claims_and_why_a_claim_was_not_tested(capsys):
    found = claims.report(
        verdicts(), "header", {"C": "trajectory 1 is not trained. More detail"}, converged=True
    )
    text = findings.prose(found)
    assert text.index("**Supported**: A.") < text.index("**No difference") < text.index("**Not tested**: C.")
    assert "Why: trajectory 1 is not trained." in text
    table = findings.table(found, verdicts()).set_index("claim")
    assert table.label.to_dict() == {"A": "supported", "B": "no difference", "C": "not tested"}
    quoted = table["key comparison (estimate [interval], verdict, n)"]
    # the comparison against restarts is the one quoted; a claim without comparisons says why
    assert quoted["A"] == "persistent − restarts: +0.010 [+0.000, +0.020], better, n = 12"
    assert quoted["C"] == "no comparison ran: trajectory 1 is not trained"
