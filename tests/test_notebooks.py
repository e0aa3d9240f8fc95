"""Every notebook, executed once in the smoke profile and validated by nbval, the way a new user
without data meets it: no dataset installed, no network, an empty data folder.

Each notebook runs in its own nbval process (``pytest --nbval-lax``: every cell runs, and a cell that
raises, its own asserts included, fails the notebook), with ``$PNLIB_DATA`` empty and Debian's
dataset folder hidden, so the generated stand-in path stays tested on machines that have the data
too. The profile comes from ``$PNLIB_PROFILE=smoke`` (nbval cannot inject parameters; papermill's
``-p profile`` is what ``make run`` uses, and ``profiles.resolve_profile`` is tested on its own).
"""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from test_browser import CHROMIUM, sync_playwright

ROOT = Path(__file__).resolve().parent.parent
# each notebook runs once: notebook 01 runs in JupyterLab in a browser where one is here
# (tests/test_browser.py, which fails on any error cell), and under nbval only where none is
IN_BROWSER = {"01_method"} if CHROMIUM and sync_playwright else set()
NOTEBOOKS = [p for p in sorted((ROOT / "notebooks").glob("[0-9]*.ipynb")) if p.stem not in IN_BROWSER]


@pytest.mark.notebook
@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_notebook_passes_nbval_with_an_empty_data_folder(path, tmp_path):
    env = {
        **os.environ,
        "PNLIB_PROFILE": "smoke",
        "PNLIB_DATA": str(tmp_path / "data"),
        "PNLIB_SYSTEM_DATASETS": str(tmp_path / "no-debian-datasets"),
        "PNLIB_RESULTS": str(tmp_path / "results"),
    }
    (tmp_path / "data").mkdir()
    cmd = [
        sys.executable,
        "-m",
        "pytest",
        "-q",
        "-p",
        "no:cacheprovider",
        "-p",
        "no:xdist",
        "--nbval-lax",
        "--nbval-cell-timeout=600",
        str(path),
    ]
    done = subprocess.run(cmd, cwd=ROOT / "notebooks", env=env, capture_output=True, text=True, timeout=1200)
    assert done.returncode == 0, (
        f"{path.name} failed under nbval:\n{done.stdout[-6000:]}\n{done.stderr[-2000:]}"
    )
    assert " passed" in done.stdout and " failed" not in done.stdout, done.stdout[-2000:]
    needs = json.loads(path.read_text())["metadata"].get("pnlib", {}).get("needs_dataset", False)
    # the stand-in went to $PNLIB_DATA exactly when the notebook reads a dataset; results went to the
    # smoke profile's folder, never to the committed ones
    assert (tmp_path / "data" / "generated-smoke").is_dir() == needs
    written = {p.name for p in (tmp_path / "results").iterdir()} if (tmp_path / "results").exists() else set()
    assert written <= {"smoke"}, written
