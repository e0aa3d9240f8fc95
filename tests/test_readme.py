"""The README's result tables are written from the result files by code (``pnlib.report.readme``)."""

from pathlib import Path

import pandas as pd
import pytest
import torch

from pnlib.report import readme

ROOT = Path(__file__).resolve().parents[1]


def test_the_committed_readme_tables_are_the_ones_the_committed_results_give():
    changed = {
        page.name: blocks
        for page in readme.pages(ROOT)
        if (blocks := readme.update(page, ROOT / "results", check=True))
    }
    assert changed == {}, f"result blocks {changed} differ from results/: run `python -m pnlib readme`"
    assert len(readme.pages(ROOT)) > 1 and (ROOT / "README.md").read_text().count("\n") <= 250


def test_the_own_training_loop_example_of_the_docs_runs():
    page = (ROOT / "docs" / "package.md").read_text()
    block = page[page.index("### Use it in your own training loop") :].split("```python\n")[1].split("```")[0]
    namespace = {}
    exec(compile(block, "docs/package.md", "exec"), namespace)  # the example as a reader copies it
    # every trajectory's end point became an anchor, and the last one is not θ₀
    assert namespace["penalty"].num_anchors == namespace["K"]
    theta0, end = namespace["theta0"], namespace["model"].state_dict()
    assert any(not torch.equal(theta0[k], end[k]) for k in theta0)


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
