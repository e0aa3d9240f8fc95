"""The project's own rules: notebooks are committed clean, with one parameters cell."""

import json
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_notebook_is_committed_clean(path):
    nb = json.loads(path.read_text())
    code = [c for c in nb["cells"] if c["cell_type"] == "code"]
    dirty = [i for i, c in enumerate(code) if c.get("outputs") or c.get("execution_count")]
    assert not dirty, (
        f"{path.name}: code cells {dirty} carry outputs; clear them (executed copies go to reports/)"
    )
    tagged = [c for c in nb["cells"] if "parameters" in c.get("metadata", {}).get("tags", [])]
    assert len(tagged) == 1, f"{path.name} needs exactly one cell tagged 'parameters'"


def test_package_reexports_public_api():
    import pnlib

    for name in (
        "PersistentPenalty",
        "fit",
        "TrainConfig",
        "Experiment",
        "RunConfig",
        "load_dataset",
        "build_model",
        "init_model",
    ):
        assert hasattr(pnlib, name), name
