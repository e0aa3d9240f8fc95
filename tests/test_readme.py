"""The README's result tables are written from the result files by code (``pnlib.report.readme``)."""

from pathlib import Path

import pandas as pd
import pytest

from pnlib.report import readme

ROOT = Path(__file__).resolve().parents[1]


def test_the_committed_readme_tables_are_the_ones_the_committed_results_give():
    changed = readme.update(ROOT / "README.md", ROOT / "results", check=True)
    assert changed == [], f"README blocks {changed} differ from results/: run `python -m pnlib readme`"


def test_a_block_is_rewritten_from_its_files_and_an_unknown_one_is_refused(tmp_path):
    (tmp_path / "results" / "01_method").mkdir(parents=True)
    pd.DataFrame(
        {
            "method": ["persistent"],
            "theta0": [10],
            "distinct_minima": [1.5],
            "found_deepest": [0.3],
            "deepest_ci_low": [0.1],
            "deepest_ci_high": [0.6],
        }
    ).to_csv(tmp_path / "results" / "01_method" / "toy.csv", index=False)
    page = tmp_path / "README.md"
    page.write_text("intro\n<!-- results:toy -->\nold\n<!-- /results:toy -->\nend\n")
    assert readme.update(page, tmp_path / "results") == ["toy"]
    assert "| persistent | 10 | 1.50 | 0.300 [0.100, 0.600] |" in page.read_text()
    assert readme.update(page, tmp_path / "results", check=True) == []
    page.write_text("<!-- results:nope -->\n<!-- /results:nope -->\n")
    with pytest.raises(ValueError, match="unknown"):
        readme.update(page, tmp_path / "results")
