"""The environment that makes a child process (and every process it starts) pause in a write: see
tests/hooks/sitecustomize.py."""

import os
from pathlib import Path

HOOKS = Path(__file__).resolve().parent / "hooks"


def pause_env(name: str, seconds: float, nth: int = 1) -> dict:
    """``os.environ`` plus the pause in the ``nth`` write of the file ``name``, for ``seconds``."""
    path = os.pathsep.join(p for p in (str(HOOKS), os.environ.get("PYTHONPATH", "")) if p)
    return {**os.environ, "PYTHONPATH": path, "PNLIB_TEST_PAUSE_IN_WRITE": f"{name}:{seconds:g}:{nth}"}
