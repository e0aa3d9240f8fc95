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


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_parameters_cell_is_its_declared_config(path):
    """The parameters cell names exactly the fields of the notebook's declared config, with the
    same defaults, so that a parameter papermill sets is never silently ignored."""
    import ast
    import dataclasses

    from pnlib.experiments.configs import CONFIGS

    nb = json.loads(path.read_text())
    cell = next(c for c in nb["cells"] if "parameters" in c.get("metadata", {}).get("tags", []))
    tree = ast.parse("".join(cell["source"]))
    values = {n.targets[0].id: ast.literal_eval(n.value) for n in tree.body if isinstance(n, ast.Assign)}
    call = next(c for c in nb["cells"] if "configure(" in "".join(c["source"]))
    experiment = "".join(call["source"]).split('configure("')[1].split('"')[0]
    fields = {f.name: f.default for f in dataclasses.fields(CONFIGS[experiment])}
    assert set(values) == set(fields), (sorted(set(values) - set(fields)), sorted(set(fields) - set(values)))
    assert {k: v for k, v in values.items() if k != "profile"} == {
        k: v for k, v in fields.items() if k != "profile"
    }
