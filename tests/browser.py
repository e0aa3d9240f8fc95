"""The browser the browser tests drive: Debian's Chromium through Playwright for Python (no browser
download); ``None`` where either is missing, and the tests skip with the reason."""

import shutil
from pathlib import Path

CHROMIUM = next(
    (
        p
        for p in (shutil.which("chromium"), shutil.which("chromium-browser"), "/usr/bin/chromium")
        if p and Path(p).exists()
    ),
    None,
)
try:
    from playwright.sync_api import sync_playwright
except ImportError:  # pragma: no cover - the reason is shown
    sync_playwright = None
