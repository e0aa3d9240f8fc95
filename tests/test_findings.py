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


def test_a_compute_axis_label_quotes_its_budget_and_a_setting_not_tested_at_convergence_its_axis():
    v = pd.DataFrame(
        [
            {"claim": "kink", "setting": s, "budget": b, "comparison": f"persistent − restarts ({s}, {b})",
             "n_seeds": 500, "estimate": e, "ci_low": e - 0.01, "ci_high": e + 0.01, "verdict": "better", "repeats": ""}
            for s, b, e in [("w=4", "3×2,000", 0.05), ("w=4", "3×4,000", 0.07), ("w=8", "3×2,000", 0.02)]
        ]
    )  # fmt: skip
    found = pd.DataFrame(
        [
            {"claim": "kink", "setting": "w=4", "status": "supported", "at": "3×4,000", "why": "",
             "along the axis": "3×2,000: supported; 3×4,000: supported"},
            {"claim": "kink", "setting": "w=8", "status": "not tested at convergence", "at": "",
             "why": "trajectory 1 kept improving. Details", "along the axis": "3×2,000: supported"},
        ]
    )  # fmt: skip
    quoted = findings.table(found, v)["key comparison (estimate [interval], verdict, n)"].tolist()
    assert quoted[0].startswith("persistent − restarts (w=4, 3×4,000): +0.070")  # the converged budget's
    assert quoted[1] == "not tested: trajectory 1 kept improving; along the compute axis: 3×2,000: supported"
    text = findings.prose(found)
    assert "**Supported**: kink [w=4]." in text
    assert "**Not tested at convergence**: kink [w=8]. Why: trajectory 1 kept improving." in text
