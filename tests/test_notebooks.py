"""Every notebook on a fresh machine: no dataset installed, no network, an empty data folder.

nbval (``make test``) runs the notebooks against whatever data this machine has; this test runs
them against an empty ``$PNLIB_DATA`` with Debian's folder hidden, so the path a new user without
data takes stays tested on machines that have the dataset too. It also checks, end to end, that
an explicit ``profile`` beats ``$PNLIB_PROFILE``.
"""
import json
from pathlib import Path

import papermill
import pytest

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOKS = sorted((ROOT / "notebooks").glob("[0-9]*.ipynb"))


def _stream_text(nb) -> str:
    return "".join(o.text for c in nb["cells"] if c["cell_type"] == "code"
                   for o in c.get("outputs", []) if o.get("output_type") == "stream")


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_notebook_runs_with_an_empty_data_folder(path, tmp_path, monkeypatch):
    monkeypatch.setenv("PNLIB_DATA", str(tmp_path / "data"))
    monkeypatch.setenv("PNLIB_SYSTEM_DATASETS", str(tmp_path / "no-debian-datasets"))
    monkeypatch.setenv("PNLIB_RESULTS", str(tmp_path / "results"))
    monkeypatch.setenv("PNLIB_PROFILE", "paper")  # must lose against the explicit value below
    (tmp_path / "data").mkdir()
    out = tmp_path / path.name
    nb = papermill.execute_notebook(str(path), str(out), parameters={"profile": "smoke"},
                                    cwd=str(ROOT / "notebooks"), kernel_name="python3", progress_bar=False)
    text = _stream_text(nb)
    assert "profile smoke (from the notebook's profile parameter)" in text
    assert not (tmp_path / "results" / "paper").exists()
    needs = json.loads(path.read_text())["metadata"].get("pnlib", {}).get("needs_dataset", False)
    assert ("SMOKE PROFILE: no auto dataset found" in text) == needs
    assert (tmp_path / "data" / "generated-smoke").is_dir() == needs  # the stand-in went to $PNLIB_DATA
