"""The result tables of the README and of ``docs/``, written from the result files by code, so that
no number in them can disagree with its CSV: ``python -m pnlib readme`` rewrites every block
between ``<!-- results:NAME -->`` and ``<!-- /results:NAME -->`` in every page of ``pages``;
``--check`` only says which differ (``tests/test_readme.py`` runs it on the committed pages and
results)."""

from __future__ import annotations

import re
from pathlib import Path

import pandas as pd

from pnlib.base import store
from pnlib.report import findings

NOTEBOOKS = {
    "01_method": "01 · 2-D surface",
    "02_bad_minima": "02 · bad minima",
    "03_lenet": "03 · LeNet-5",
    "04_alexnet_resnet": "04 · AlexNet / ResNet",
}


def _read(root: Path, *parts: str) -> pd.DataFrame | None:
    path = root.joinpath(*parts)
    return pd.read_csv(path, keep_default_na=False, na_values=[""]) if path.exists() else None


def _num(x: float, signed: bool = True) -> str:
    return f"{x:+.3f}" if signed else f"{x:.3f}"


def labels_table(root: Path) -> str:
    """Claim × setting → label, with the quoted comparison (estimate, Holm-level interval, verdict,
    runs or seeds), for notebooks 01–04."""
    lines = [
        "| notebook | claim | setting | label | key comparison (estimate [interval], verdict, n) |",
        "|---|---|---|---|---|",
    ]
    for stem, name in NOTEBOOKS.items():
        verdicts = _read(root, stem, "verdicts.csv")
        found = _read(root, stem, "labels.csv")
        kink = _read(root, stem, "kink_labels.csv")
        if verdicts is None or found is None:
            lines.append(f"| {name} | (not run yet) | | | |")
            continue
        tables = [found] + ([kink] if kink is not None else [])
        for t in tables:
            for _, r in t.iterrows():
                text = {
                    k: (r[k] if isinstance(r.get(k), str) else "")
                    for k in ("setting", "at", "along the axis")
                }
                rows = findings.verdict_rows(verdicts, r, last_budget=True)
                label = f"**{r['status']}" + (f" at {text['at']} steps**" if text["at"] else "**")
                if text["along the axis"] and not text["at"]:
                    label += f" (along the compute axis: {text['along the axis']})"
                quoted = (
                    f"(no comparison ran: {findings.first_sentence(r['why'])})"
                    if not len(rows)
                    else findings.quote(findings.key_comparison(rows))
                )
                lines.append(f"| {name} | {r['claim']} | {text['setting']} | {label} | {quoted} |")
    return "\n".join(lines)


def kink_table(root: Path) -> str:
    """The kink's success rates along the compute axis (method × total steps) per setting."""
    t = _read(root, "02_bad_minima", "kink.csv")
    if t is None or "budget" not in t:
        return "(not run yet)"
    t = t[t.part == "compute axis"]
    lines = [
        "| setting | method | " + " | ".join(f"{int(b):,} steps" for b in sorted(t.budget.unique())) + " |"
    ]
    lines.append("|---|---|" + "---|" * t.budget.nunique())
    for (setting, method), g in t.groupby(["setting", "method"], sort=False):
        by = g.set_index("budget")
        cells = [
            f"{by.rate[b]:.3f} [{by.ci_low[b]:.3f}, {by.ci_high[b]:.3f}]" if b in by.index else ""
            for b in sorted(t.budget.unique())
        ]
        lines.append(f"| {setting} | {method} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def _per_row(root: Path, stem: str, name: str, needs: str, columns: list[str], cells) -> str:
    """A markdown table with ``columns``, one row per row of ``<stem>/<name>`` (``cells(row)``: the
    row's cells as text); "(not run yet)" where the file, or its column ``needs``, is missing."""
    t = _read(root, stem, name)
    if t is None or needs not in t:
        return "(not run yet)"
    lines = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    lines += ["| " + " | ".join(cells(r)) + " |" for _, r in t.iterrows()]
    return "\n".join(lines)


def _text(value) -> str:
    return value if isinstance(value, str) else ""


def failures_table(root: Path) -> str:
    return _per_row(
        root,
        "02_bad_minima",
        "kink_failures.csv",
        "escaped in the last doubling",
        [
            "setting",
            "steps",
            "failed runs",
            "escaped in the last doubling",
            "still falling",
            "median gradient norm",
            "negative curvature (sample)",
            "the failures are",
        ],
        lambda r: [
            f"{r['distribution']}, w={r['width']}",
            f"{int(r['steps']):,}",
            f"{int(r['failed'])} of {int(r['of'])}",
            f"{int(r['escaped in the last doubling'])} of {int(r['failed before it'])}",
            f"{r['still falling']:.2f}",
            f"{r['median gradient norm']:.1e}",
            f"{r['negative curvature']:.2f} of {int(r['with a Hessian'])}",
            r["kind"],
        ],
    )


def power_table(root: Path) -> str:
    return _per_row(
        root,
        "03_lenet",
        "power.csv",
        "seeds needed",
        ["family", "sd of paired differences (tuning)", "comparisons m", "seeds needed"],
        lambda r: [
            r["family"],
            f"{r['sd of paired differences']:.4f}",
            f"{int(r['comparisons (m)'])}",
            f"{int(r['seeds needed'])}",
        ],
    )


def toy_table(root: Path) -> str:
    return _per_row(
        root,
        "01_method",
        "toy.csv",
        "found_deepest",
        ["method", "θ₀", "distinct minima per θ₀", "share of θ₀ that found the deepest well"],
        lambda r: [
            r["method"],
            f"{int(r['theta0']):,}",
            f"{r['distinct_minima']:.2f}",
            f"{r['found_deepest']:.3f} [{r['deepest_ci_low']:.3f}, {r['deepest_ci_high']:.3f}]",
        ],
    )


def teacher_student_table(root: Path) -> str:
    return _per_row(
        root,
        "02_bad_minima",
        "teacher_student.csv",
        "rate",
        ["k", "method", "runs", "bad-run rate [Wilson 95%]", "capped", "mean steps"],
        lambda r: [
            f"{int(r['k'])}",
            r["method"],
            f"{int(r['runs']):,}",
            f"{r['rate']:.3f} [{r['ci_low']:.3f}, {r['ci_high']:.3f}]",
            f"{int(r['undecided'])}",
            f"{r['mean steps']:,.0f}",
        ],
    )


def lenet_table(root: Path) -> str:
    return _per_row(
        root,
        "03_lenet",
        "comparison.csv",
        "test_acc_mean",
        [
            "init",
            "method",
            "mode",
            "selection",
            "seeds",
            "epochs",
            "test accuracy (mean ± sd)",
            "− trajectory 1 [95%]",
            "diverged",
        ],
        lambda r: [
            r["init"],
            r["method"],
            _text(r["mode"]),
            _text(r["selection"]),
            f"{int(r['seeds'])}",
            f"{int(r['epochs'])}",
            f"{r['test_acc_mean']:.3f} ± {r['test_acc_std']:.3f}",
            f"{_num(r['diff_vs_traj1'])} [{_num(r['diff_ci_low'])}, {_num(r['diff_ci_high'])}]",
            f"{int(r['diverged'])}",
        ],
    )


def networks_table(root: Path) -> str:
    """Notebook 04's pilots per network: E and trajectory 1 there and at the longest pilot length
    against the bar, the preconditions, the measured cost, the length and projected minutes of a
    design at convergence, and whether it ran."""

    def minutes(r) -> str:
        budget = f" (budget {r['budget_minutes']:g})" if r["budget_minutes"] else ""
        return f"{'≥ ' if not r['converged'] else ''}{r['projected_minutes']:.0f}{budget}"

    return _per_row(
        root,
        "04_alexnet_resnet",
        "design.csv",
        "E_needed",
        [
            "network",
            "E",
            "trajectory 1 val acc at E (at the longest pilot)",
            "trained (bar)",
            "converged",
            "s / epoch",
            "a converged design: E, min",
            "ran",
        ],
        lambda r: [
            r["network"],
            f"{int(r['E'])}",
            f"{r['val_acc_at_E']:.3f} ({r['val_acc_longest']:.3f} at {int(r['longest'])})",
            f"{'yes' if r['trained'] else '**no**'} ({r['bar']:.2f})",
            "yes" if r["converged"] else f"**no** (by {int(r['longest'])} epochs)",
            f"{r['seconds_per_epoch']:.1f}",
            f"{'≥ ' if not r['converged'] else ''}{int(r['E_needed'])}, {minutes(r)}",
            "yes" if r["ran"] else "no",
        ],
    )


def gpu_slice_table(root: Path) -> str:
    """The slice of 04's ``paper`` design measured on a GPU (``benchmarks/gpu_paper_slice.py``):
    images per second per network, plain and penalised, and the projected GPU-hours per length E."""
    path = root / "gpu_paper_slice.json"
    if not path.exists():
        return "_Not measured: `results/gpu_paper_slice.json` does not exist (no GPU has run the slice)._"
    record = store.read_json(path)
    rows = [
        "| network | precision | images / s, plain | images / s, penalised | penalised / plain |",
        "|---|---|---|---|---|",
    ]
    for m in record["models"].values():
        plain, pen = m["plain images/s"], m["penalised images/s"]
        rows.append(f"| {m['name']} | {m['precision']} | {plain:,.0f} | {pen:,.0f} | {pen / plain:.2f} |")
    hours = "; ".join(f"E = {e}: {lo:,.0f}–{hi:,.0f}" for e, (lo, hi) in record["gpu_hours_by_E"].items())
    rows += [
        "",
        f"On one {record['card']} (torch {record['torch']}), the whole design projects to {hours} GPU-hours.",
    ]
    return "\n".join(rows)


BLOCKS = {
    "labels": labels_table,
    "toy": toy_table,
    "kink": kink_table,
    "kink-failures": failures_table,
    "teacher-student": teacher_student_table,
    "power": power_table,
    "lenet": lenet_table,
    "networks": networks_table,
    "gpu-slice": gpu_slice_table,
}


def pages(repo: Path) -> list[Path]:
    """The pages that may hold result blocks: the README and every page of ``docs/``."""
    return [repo / "README.md", *sorted((repo / "docs").glob("*.md"))]


def update(readme: Path, root: Path | None = None, check: bool = False) -> list[str]:
    """Rewrite every results block of ``readme`` from the result files under ``root`` (default: the
    results folder); return the names of the blocks that differed (``check``: leave the file)."""
    root = root or store.results_root()
    text = readme.read_text()
    changed = []

    def fill(m: re.Match) -> str:
        name = m.group(1)
        if name not in BLOCKS:
            raise ValueError(f"README block {name!r} is unknown; the blocks are {sorted(BLOCKS)}")
        body = BLOCKS[name](root)
        if m.group(2).strip() != body.strip():
            changed.append(name)
        return f"<!-- results:{name} -->\n{body}\n<!-- /results:{name} -->"

    new = re.sub(r"<!-- results:([\w-]+) -->\n(.*?)<!-- /results:\1 -->", fill, text, flags=re.S)
    if changed and not check:
        store.atomic_write_bytes(readme, new.encode())
    return changed
