"""The reports as a static site (``make site``, ``tools/site.py``), read in a real browser.

The site is built from the committed reports, README and docs into a temporary folder and every
page is opened from disk in headless Chromium (Debian's ``chromium``, driven by Playwright, as in
``tests/test_browser.py``), with the network blocked, so a page that needs a CDN fails here. For
every page: it loads; every image loads; MathJax typeset every equation (no raw ``$$`` is left); no
per-job progress line (``done i/N``) and no ``Config(`` dump is shown. A report opens with its
question and ends with its Summary, with its set-up code collapsed."""

import importlib.util
import re
from pathlib import Path

import pytest
from browser import CHROMIUM, sync_playwright

try:
    from playwright.sync_api import TimeoutError as PlaywrightTimeout
except ImportError:  # pragma: no cover - the test is skipped
    PlaywrightTimeout = TimeoutError

ROOT = Path(__file__).resolve().parent.parent
pytestmark = [
    pytest.mark.skipif(CHROMIUM is None, reason="no Chromium found (Debian: apt-get install chromium)"),
    pytest.mark.skipif(sync_playwright is None, reason="Playwright for Python is not installed"),
    pytest.mark.xdist_group("browser"),
]


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    spec = importlib.util.spec_from_file_location("site_builder", ROOT / "tools" / "site.py")
    builder = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(builder)
    out = tmp_path_factory.mktemp("site")
    return out, builder.build(out)


def test_every_page_of_the_site_reads_offline_in_a_browser(site):
    out, pages = site
    assert {p.relative_to(out).as_posix() for p in pages} >= {
        "index.html",
        "docs/method.html",
        "docs/results.html",
        *(f"reports/{r.stem}.html" for r in (ROOT / "reports").glob("*.ipynb")),
    }
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        context = browser.new_context()
        # no network: a page that needs a CDN (an equation, an image) fails here
        context.route(re.compile(r"^https?://"), lambda route: route.abort())
        page = context.new_page()
        page.set_default_timeout(60_000)
        for path in pages:
            name = path.relative_to(out).as_posix()
            page.goto(path.as_uri(), wait_until="load")
            try:  # MathJax typesets after load: wait until no raw display equation is left
                page.wait_for_function("() => !document.body.innerText.includes('$$')", timeout=60_000)
            except PlaywrightTimeout:
                pytest.fail(f"{name}: an equation was not typeset (raw $$ after 60 s)")
            broken = page.evaluate(
                "Array.from(document.images).filter(i => !i.complete || i.naturalWidth === 0).map(i => i.src)"
            )
            assert broken == [], f"{name}: images that did not load: {broken}"
            shown = page.eval_on_selector_all(".jp-OutputArea", "os => os.map(o => o.innerText).join('\\n')")
            assert not re.search(r"\bdone \d+/\d+:", shown), f"{name}: per-job progress lines"
            assert "Config(" not in shown, f"{name}: a config dump"
            headings = page.eval_on_selector_all(
                "h1, h2", "hs => hs.map(h => [h.tagName, h.innerText.trim()])"
            )
            assert headings and headings[0][0] == "H1", f"{name}: it does not open with its title"
            if name.startswith("reports/"):
                first = page.inner_text(".jp-MarkdownCell")  # the first cell: the question
                assert "?" in first or "Claim" in first, f"{name}: it does not open with its question"
                assert headings[-1][1].startswith("Summary"), f"{name}: it does not end with its Summary"
                closed = page.eval_on_selector_all(".celltag_setup details", "ds => ds.map(d => d.open)")
                assert closed and not any(closed), f"{name}: its set-up code is not collapsed"
        browser.close()
