"""Notebook 01 run the way most users run it: in JupyterLab, through a real browser.

A JupyterLab server starts on loopback with a token (``PNLIB_PROFILE=smoke`` in its environment) on a
copy of ``notebooks/01_method.ipynb``; headless Chromium (Debian's ``chromium``, driven by
Playwright for Python with that executable: no browser download) opens it, runs all cells and
waits for the last one. The test asserts that no cell shows an error, that figures were rendered
and that the printed verdict lines are there, and saves a screenshot to ``artifacts/`` (gitignored).
Skipped, with the reason, where no Chromium or no Playwright is found."""

import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest
from browser import CHROMIUM, sync_playwright

ROOT = Path(__file__).resolve().parent.parent
pytestmark = [
    pytest.mark.skipif(CHROMIUM is None, reason="no Chromium found (Debian: apt-get install chromium)"),
    pytest.mark.skipif(sync_playwright is None, reason="Playwright for Python is not installed"),
]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def lab(tmp_path):
    work = tmp_path / "lab"
    work.mkdir()
    shutil.copy(
        ROOT / "notebooks" / "01_method.ipynb", work / "01_method.ipynb"
    )  # outputs never reach the repo
    port, token = _free_port(), "pnlib-test-token"
    env = {**os.environ, "PNLIB_PROFILE": "smoke", "PNLIB_RESULTS": str(tmp_path / "results")}
    jupyter = Path(sys.executable).with_name("jupyter")
    proc = subprocess.Popen(
        [
            str(jupyter),
            "lab",
            "--no-browser",
            "--allow-root",
            f"--port={port}",
            "--ip=127.0.0.1",
            f"--ServerApp.token={token}",
            f"--ServerApp.root_dir={work}",
            "--LabApp.expose_app_in_browser=True",
            "--ServerApp.disable_check_xsrf=True",
        ],
        stdout=subprocess.DEVNULL,
        stderr=open(tmp_path / "lab.log", "w"),
        env=env,
    )
    url = f"http://127.0.0.1:{port}"
    for _ in range(300):
        try:
            urllib.request.urlopen(f"{url}/api/status?token={token}", timeout=1)
            break
        except OSError:
            time.sleep(0.2)
    else:
        proc.kill()
        pytest.fail("JupyterLab did not start: " + (tmp_path / "lab.log").read_text()[-2000:])
    yield url, token
    proc.terminate()
    try:
        proc.wait(timeout=15)
    except subprocess.TimeoutExpired:
        proc.kill()


DONE = """() => {
  const nb = document.querySelector('.jp-NotebookPanel:not(.lm-mod-hidden) .jp-Notebook');
  if (!nb) return null;
  const prompts = [...nb.querySelectorAll('.jp-CodeCell .jp-InputPrompt')].map(p => p.textContent.trim());
  return {n: prompts.length, running: prompts.filter(p => p.includes('*')).length,
          last: prompts.length ? prompts[prompts.length - 1] : ''};
}"""


KERNEL_IDLE = """() => {
  const panel = window.jupyterapp && window.jupyterapp.shell.currentWidget;
  const kernel = panel && panel.sessionContext && panel.sessionContext.session
    && panel.sessionContext.session.kernel;
  return !!kernel && kernel.connectionStatus === 'connected' && kernel.status === 'idle';
}"""


def test_notebook_01_runs_in_jupyterlab_in_a_real_browser(lab):
    url, token = lab
    shots = ROOT / "artifacts"
    shots.mkdir(exist_ok=True)
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=["--no-sandbox"])
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        page.set_default_timeout(120_000)  # every call below fails in minutes, with its reason, never hangs
        page.goto(f"{url}/lab/tree/01_method.ipynb?token={token}")
        page.wait_for_selector(".jp-NotebookPanel .jp-Notebook .jp-CodeCell", timeout=120_000)
        page.wait_for_function(
            "() => window.jupyterapp && document.querySelector('.jp-Notebook-ExecutionIndicator') !== null",
            timeout=120_000,
        )
        # run the cells only once the notebook's kernel is connected and idle: a fixed wait fired
        # "run all" too early on a busy machine, and the cells never ran
        page.wait_for_function(KERNEL_IDLE, timeout=300_000)
        page.evaluate("window.jupyterapp.commands.execute('notebook:run-all-cells')")
        deadline = time.monotonic() + 600
        state = None
        while time.monotonic() < deadline:
            state = page.evaluate(DONE)
            if state and state["n"] and not state["running"] and state["last"] not in ("[ ]:", "[ ]", ""):
                break
            page.wait_for_timeout(1000)
        page.screenshot(path=str(shots / "01_method-jupyterlab.png"), full_page=False, timeout=60_000)
        text = page.inner_text(".jp-NotebookPanel:not(.lm-mod-hidden) .jp-Notebook")
        images = page.locator(".jp-NotebookPanel .jp-RenderedImage img").count()
        errors = page.locator(
            ".jp-OutputArea-output[data-mime-type='application/vnd.jupyter.stderr']"
        ).all_inner_texts()
        browser.close()
    assert state and not state["running"] and state["last"].startswith("["), (
        f"the notebook did not finish: {state}"
    )
    assert not any("Traceback" in e or "Error" in e for e in errors) and "Traceback" not in text, errors[:2]
    assert images >= 3, f"{images} figures rendered"
    # JupyterLab renders only the cells near the view, which ends at the Summary: its prose and table
    assert "Summary" in text and "2-D surface: persistence finds the deepest minimum" in text
    assert "persistent − restarts:" in text, text[-2000:]
