"""``make site``: the executed reports and the README/docs as static HTML pages, readable offline.

    python tools/site.py [OUT]      (default: site/)

Every page of ``reports/*.ipynb`` (the executed notebooks), ``README.md`` (the site's index) and
``docs/*.md`` is converted by nbconvert's lab template: a Markdown page goes in as a notebook of one
Markdown cell, so its equations are protected from the Markdown parser exactly as a notebook's are.
Equations are typeset by MathJax from the ``jupyter-server-mathjax`` package, copied into the site,
so no page needs a network. A report's set-up cells (the code right after its opening question:
imports, parameters, configuration) are collapsed under "set-up code". Links between pages are
rewritten to the pages' HTML names (a notebook links to its executed report), and the figures a
page shows are copied next to it. ``tests/test_site.py`` drives the built site in Chromium."""

from __future__ import annotations

import os
import re
import shutil
import sys
from pathlib import Path

import jupyter_server_mathjax
import nbformat
from nbconvert import HTMLExporter

ROOT = Path(__file__).resolve().parents[1]
MATHJAX = Path(jupyter_server_mathjax.__file__).parent / "static"
SETUP_TAG = "setup"
# wraps every set-up cell's input in a closed <details> once the page has loaded
COLLAPSE = """<script>
document.querySelectorAll(".celltag_setup .jp-Cell-inputWrapper").forEach(function (input) {
  var box = document.createElement("details"), label = document.createElement("summary");
  label.textContent = "set-up code"; box.appendChild(label);
  input.parentNode.insertBefore(box, input); box.appendChild(input);
});
</script>"""


def setup_cells(nb) -> list[int]:
    """The set-up cells of a report: the code cells right after its first Markdown cell."""
    first = next(i for i, c in enumerate(nb.cells) if c.cell_type == "markdown")
    out = []
    for i in range(first + 1, len(nb.cells)):
        if nb.cells[i].cell_type != "code":
            break
        out.append(i)
    return out


def site_path(repo_path: str) -> str:
    """Where a repository file is in the site: a notebook or a report is its executed report's page,
    the README the index, a Markdown page its HTML page; anything else keeps its path."""
    path = re.sub(r"^(notebooks|reports)/(.+)\.ipynb$", r"reports/\2.html", repo_path)
    return "index.html" if path == "README.md" else re.sub(r"\.md$", ".html", path)


def relink(html: str, source_dir: str, page_dir: str) -> str:
    """Relative links of a page whose source lies in ``source_dir`` (of the repository) and whose
    page lies in ``page_dir`` (of the site), rewritten to the site's pages."""

    def fix(m: re.Match) -> str:
        attr, target = m.groups()
        if re.match(r"[a-z]+:|#|\.\./mathjax/|mathjax/", target):
            return m.group(0)
        path, sep, anchor = target.partition("#")
        repo = os.path.normpath(os.path.join(source_dir, path))
        return f'{attr}="{os.path.relpath(site_path(repo), page_dir or ".")}{sep}{anchor}"'

    return re.sub(r'(href|src)="([^"]+)"', fix, html)


def github_anchor(m: re.Match) -> str:
    """A heading keeps nbconvert's id and gains GitHub's (lower case, no punctuation), so the links
    the README and docs carry for GitHub land on it here too."""
    slug = re.sub(r"[^\w\- ]", "", m.group(2).lower())
    return m.group(1) + (f'<a id="{slug}"></a>' if slug != m.group(2) else "")


def folder(path: Path, base: Path) -> str:
    """``path`` (a folder) relative to ``base``, "" for ``base`` itself."""
    rel = path.relative_to(base).as_posix()
    return "" if rel == "." else rel


def export(nb, title: str, page: Path, out: Path, source_dir: str) -> None:
    page_dir = folder(page.parent, out)
    exporter = HTMLExporter(
        template_name="lab",
        mathjax_url=os.path.relpath("mathjax", page_dir or ".")
        + "/MathJax.js?config=TeX-AMS-MML_HTMLorMML-full,Safe",
    )
    body, _ = exporter.from_notebook_node(nb, resources={"metadata": {"name": title}})
    body = relink(body, source_dir, page_dir).replace("</body>", COLLAPSE + "\n</body>")
    body = re.sub(r'<script src="https://[^"]*require[^"]*"></script>', "", body)  # widgets only: none here
    body = re.sub(r'(<h[1-6] id="([^"]+)">)', github_anchor, body)
    page.parent.mkdir(parents=True, exist_ok=True)
    page.write_text(body, encoding="utf-8")


def copy_images(markdown: str, source: Path, out: Path) -> None:
    """The figures a Markdown page shows, copied to the same place in the site."""
    for ref in re.findall(r"!\[[^\]]*\]\(([^)\s]+)\)", markdown):
        src = (source.parent / ref).resolve()
        if src.exists() and ROOT in src.parents:
            dest = out / src.relative_to(ROOT)
            dest.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, dest)


def build(out: Path) -> list[Path]:
    """Build the site into ``out`` (emptied first); return its pages."""
    if out.exists():
        shutil.rmtree(out)
    shutil.copytree(MATHJAX, out / "mathjax")
    pages = []
    for report in sorted((ROOT / "reports").glob("*.ipynb")):
        nb = nbformat.read(report, as_version=4)
        for i in setup_cells(nb):
            nb.cells[i].metadata.setdefault("tags", []).append(SETUP_TAG)
        page = out / "reports" / f"{report.stem}.html"
        export(nb, report.stem, page, out, "reports")
        pages.append(page)
    for md in [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]:
        text = md.read_text(encoding="utf-8")
        nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_markdown_cell(text)])
        page = out / ("index.html" if md.name == "README.md" else f"docs/{md.stem}.html")
        copy_images(text, md, out)
        export(nb, text.splitlines()[0].lstrip("# "), page, out, folder(md.parent, ROOT))
        pages.append(page)
    return pages


if __name__ == "__main__":
    target = Path(sys.argv[1]) if len(sys.argv) > 1 else ROOT / "site"
    built = build(target)
    print(f"{len(built)} pages in {target}: open {target / 'index.html'}")
