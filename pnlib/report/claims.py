"""Claims decided by numbers: settings chosen on validation (a pilot for the trajectory length, a
sensitivity table for the penalty), families of comparisons declared before the results, their
verdicts (``stats.verdicts``: paired tests, Holm, TOST inside a margin) and one line per claim.

A comparison side is a dict of summary-column filters (``side``); a family is a list of
``{"claim", "a", "b"}`` (``family`` builds one claim's comparisons against several baselines).
"""

from __future__ import annotations

import textwrap

import numpy as np
import pandas as pd

from pnlib.base import labels
from pnlib.report import stats

# the columns of a verdict table after its claim (stats.verdicts' and the divergence counts)
VERDICT_COLUMNS = (
    "claim comparison n_seeds estimate ci_low ci_high p_holm verdict diverged_a diverged_b note".split()
)


def no_verdicts() -> pd.DataFrame:
    """The verdict table of an empty family (every model at chance, say), with its columns."""
    return pd.DataFrame(
        columns=["claim", "comparison", "metric", *VERDICT_COLUMNS[2:], "seeds_dropped", "repeats"]
    )


def side(init: str, method: str, mode: str = "", selection: str = "") -> dict:
    """One side of a declared comparison: the summary rows of this init, method, mode and selection
    (trajectory 1 is the same run in every mode, so its mode is not part of it)."""
    spec = {"init": init, "method": method, "mode": mode, "selection": selection}
    return {k: v for k, v in spec.items() if not (k == "mode" and method == labels.TRAJECTORY_1)}


def describe(spec: dict) -> str:
    """A comparison side as text: ``persistent [full] (selected), small_normal init``."""
    text = (
        (f"{spec['model']}: " if "model" in spec else "")
        + spec["method"]
        + (f" [{spec['mode']}]" if spec.get("mode") else "")
    )
    text += f" ({spec['selection']})" if spec.get("selection") else ""
    return text + (f", {spec['init']} init" if "init" in spec else "")


def side_rows(summary: pd.DataFrame, spec: dict) -> pd.DataFrame:
    """The summary rows matching every column of ``spec``, one per seed (indexed by seed).
    Trajectory 1, repeated by every persistent run of a seed, is taken once (from a job that did
    not fail); any other side must match one row per seed."""
    rows = summary
    for col, value in spec.items():
        rows = rows[rows[col].fillna("") == value] if isinstance(value, str) else rows[rows[col] == value]
    if spec.get("method") == labels.TRAJECTORY_1:
        rows = rows.sort_values("status", key=lambda s: s != "ok", kind="stable").drop_duplicates(
            ["model", "seed"] if "model" in rows else "seed"
        )
    if rows.seed.duplicated().any():
        raise ValueError(
            f"{describe(spec)} matches several runs of one seed: add the filter (e.g. model) that "
            f"tells them apart"
        )
    return rows.set_index("seed")


def paired_values(summary: pd.DataFrame, spec: dict, metric: str) -> pd.Series:
    """``metric`` per seed of the rows of ``side_rows``."""
    return side_rows(summary, spec)[metric].astype(float)


def diverged_trajectories(rows: pd.DataFrame) -> int:
    """The trajectories lost to divergence in these summary rows' runs: the sum of their ``diverged``
    counts (a failed job's rows have none: it lost no trajectory, it trained none)."""
    return int(rows["diverged"].fillna(0).sum())


def _chose_first(rows: pd.DataFrame) -> pd.Series:
    """Per seed: whether this side's number is trajectory 1's (it is trajectory 1, or selection chose k = 1)."""
    if (rows.method == labels.TRAJECTORY_1).all():
        return pd.Series(True, index=rows.index)
    return rows.get("selected_k", pd.Series(np.nan, index=rows.index)).eq(1)


def _identical_why(A: pd.DataFrame, B: pd.DataFrame) -> str:
    n, first = len(A), int((_chose_first(A) & _chose_first(B)).sum())
    if first:
        return f"selection chose trajectory 1 on both sides in {first} of {n} seeds"
    return f"the two sides are the same numbers in all {n} seeds"


def verdict_table(
    summary: pd.DataFrame, family: list[dict], margin: float, metric: str = "test_acc", alpha: float = 0.05
) -> pd.DataFrame:
    """``stats.verdicts`` on a family declared before the results: each entry is ``{"claim": ..., "a":
    spec, "b": spec}`` (column filters of the summary, see ``side_rows``); the estimate is the paired
    mean of a − b over the seeds both have.

    Besides the verdict, each row says what a referee needs to trust it: ``diverged_a`` /
    ``diverged_b``, the trajectories each side's runs lost to divergence over the compared seeds
    (also when a surviving trajectory gave the side its number); ``seeds_dropped``, seeds without a
    number on one side; ``repeats`` (from ``stats.verdicts``: the earlier comparison of the same
    claim with the very same numbers on both sides, counted once); and ``note``, the reason in words (why a comparison is ``identical``, what diverged)."""
    comparisons, extra = [], []
    for c in like_with_like(family):
        A, B = side_rows(summary, c["a"]), side_rows(summary, c["b"])
        common = A.index.intersection(B.index)
        if not len(common):
            raise ValueError(
                f"comparison {describe(c['a'])} − {describe(c['b'])} has no seed in common: "
                f"is one side missing from the summary?"
            )
        A, B = A.loc[common], B.loc[common]
        a, b = A[metric].astype(float).to_numpy(), B[metric].astype(float).to_numpy()
        missing = int(
            (np.isnan(a) | np.isnan(b)).sum()
        )  # a side that diverged in every trajectory has no accuracy
        keep = ~(np.isnan(a) | np.isnan(b))
        comparisons.append(
            {
                "claim": c["claim"],
                **{k: c[k] for k in ("setting", "budget") if k in c},
                "comparison": f"{describe(c['a'])} − {describe(c['b'])}",
                "metric": metric,
                "a": a[keep],
                "b": b[keep],
            }
        )
        lost = (diverged_trajectories(A), diverged_trajectories(B))
        notes = [f"side {s} lost {n} trajectories to divergence" for s, n in zip("ab", lost) if n]
        if keep.any() and np.array_equal(a[keep], b[keep]):
            notes.insert(0, _identical_why(A[keep], B[keep]))
        extra.append(
            {"seeds_dropped": missing, "diverged_a": lost[0], "diverged_b": lost[1], "note": "; ".join(notes)}
        )
    if not comparisons:
        return no_verdicts()
    table = stats.verdicts(comparisons, margin, alpha)
    return pd.concat([table, pd.DataFrame(extra, index=table.index)], axis=1)


def _gate(converged, claim: str, setting):
    """Whether trajectory 1 converged where this claim is tested: ``converged`` is one value for
    everything, or a dict keyed by ``(claim, setting)``, by setting or by claim. A value is a bool,
    ``None`` (no pilot) or a string: another precondition that failed, in words."""
    if not isinstance(converged, dict):
        return converged
    for key in ((claim, setting), setting, claim):
        if key in converged:
            return converged[key]
    return None


def conclusions(verdicts: pd.DataFrame, converged=None) -> pd.DataFrame:
    """One line per claim, **per setting** where the verdicts have a ``setting`` column (and per
    ``budget`` of a compute axis where they have one), from its comparisons' verdicts and its
    preconditions.

    ``converged``: did trajectory 1 converge by the pilot rule (``_gate``: one value, or per setting,
    claim or (claim, setting); ``None``: no pilot; a string: another failed precondition, the reason). A claim is
    **not tested** in a setting (``why`` says why) when trajectory 1 did not converge there or no
    pilot was run, or when a side of any of its comparisons there lost trajectories to divergence.
    Otherwise its status is ``supported`` (every comparison better), ``refuted`` (none better, at
    least one worse), ``no difference`` (every one equivalent), ``mixed`` (some better, not all),
    ``underpowered`` (otherwise, when an inconclusive comparison had fewer seeds than the power
    analysis asked for: column ``powered`` false) or ``open`` (otherwise); ``identical``
    comparisons test nothing and count as inconclusive. A repeat of another comparison's numbers
    (``repeats``) is not counted again: the tallies and ``distinct`` count the distinct ones."""
    counts = ("better", "worse", "equivalent", "inconclusive", "identical")
    by = ["claim"] + [c for c in ("setting", "budget") if c in verdicts and verdicts[c].notna().any()]
    rows = []
    for key, everything in verdicts.groupby(by, sort=False, dropna=False) if len(verdicts) else ():
        key = key if isinstance(key, tuple) else (key,)
        claim, setting = key[0], key[1] if len(key) > 1 else None
        repeat = everything.get("repeats", pd.Series("", index=everything.index)).fillna("") != ""
        g = everything[~repeat]  # a repeat of another comparison's numbers is counted once
        v = g.verdict
        ok = _gate(converged, claim, setting)
        lost = int(g.get("diverged_a", 0).sum() + g.get("diverged_b", 0).sum()) if "diverged_a" in g else 0
        why = (
            "no pilot was run for the trajectory length"
            if ok is None
            else ok  # a precondition that failed, in words (e.g. a trajectory 1 that never trained)
            if isinstance(ok, str)
            else "not tested at convergence: trajectory 1 did not converge by the pilot rule"
            if not ok
            else f"its sides lost {lost} trajectories to divergence"
            if lost
            else ""
        )
        short = g.get("powered", pd.Series(True, index=g.index)).eq(False) & v.isin(["inconclusive"])
        status = (
            "not tested"
            if why
            else "supported"
            if (v == "better").all()
            else "mixed"
            if (v == "better").any()
            else "refuted"
            if (v == "worse").any()
            else "no difference"
            if (v == "equivalent").all()
            else "underpowered"
            if short.any()
            else "open"
        )
        distinct = len(g)
        rows.append(
            {
                **dict(zip(by, key)),
                "status": status,
                "why": why,
                **{k: int((v == k).sum()) for k in counts},
                "distinct": distinct,
                "repeats": int(repeat.sum()),
            }
        )
    return pd.DataFrame(rows, columns=[*by, "status", "why", *counts, "distinct", "repeats"])


def is_ensemble(spec: dict) -> bool:
    """Whether a comparison side is a K-member ensemble (rather than one model)."""
    return spec.get("selection") == "ensemble"


def like_with_like(family: list[dict]) -> list[dict]:
    """``family`` unchanged, or a ValueError naming the first comparison of an ensemble with a single
    model: an ensemble of K beats one model whatever the method, so such a comparison says nothing
    about persistence (docs/method.md, "like with like"). Ensembles are compared with ensembles."""
    for c in family:
        if is_ensemble(c["a"]) != is_ensemble(c["b"]):
            raise ValueError(
                f"claim {c['claim']!r} compares an ensemble with a single model ({describe(c['a'])} − "
                f"{describe(c['b'])}): compare ensembles with ensembles, and selected solutions with "
                f"selected solutions and single models"
            )
    return family


def family(
    claim: str, a: dict, bs: list[dict], selections=("selected",), setting: str | None = None, **filters
) -> list[dict]:
    """One claim's comparisons: side ``a`` against each side of ``bs``, for each selection (outer
    loop); the selection is applied to every side that has one, and ``filters`` (e.g.
    ``model="resnet20"``) to both sides. Like with like: for the ``ensemble`` selection the
    single-model sides (trajectory 1, longer) are left out. ``setting`` labels every comparison
    (its precondition is checked per setting)."""

    def pick(spec, sel):
        return {**filters, **spec, **({} if spec["method"] in labels.SINGLE_ROW else {"selection": sel})}

    return like_with_like(
        [
            {
                "claim": claim,
                "a": pick(a, sel),
                "b": pick(b, sel),
                **({"setting": setting} if setting else {}),
            }
            for sel in selections
            for b in bs
            if not (sel == "ensemble" and b["method"] in labels.SINGLE_ROW)
        ]
    )


def short_labels(family: list[dict]) -> pd.DataFrame:
    """For a verdict figure: ``a − b`` by method (with the mode where it tells runs apart, and the
    init where a claim spans several), and the selection of each comparison of ``family``."""

    def name(spec):
        tag = spec.get("mode", "").removeprefix("full, ")
        tag = "" if tag in ("", "full", spec["method"]) else f" [{tag}]"
        return spec["method"] + tag

    inits = {c["claim"]: {x["a"].get("init") for x in family if x["claim"] == c["claim"]} for c in family}
    return pd.DataFrame(
        [
            {
                "label": f"{name(c['a'])} − {name(c['b'])}"
                + (f" ({c['a']['init']} init)" if len(inits[c["claim"]]) > 1 else ""),
                "selection": c["a"].get("selection") or c["b"].get("selection") or "single",
            }
            for c in family
        ]
    )


def for_display(verdicts: pd.DataFrame) -> pd.DataFrame:
    """The verdict table as the notebooks show it: indexed by claim (setting) and comparison, so the
    names that identify a row show once per group, uncut; columns that say nothing here left out."""
    cols = ["claim", "setting", "comparison", *VERDICT_COLUMNS[2:], "powered", "repeats"]
    t = verdicts[[c for c in cols if c in verdicts]]
    quiet = [c for c in cols[-5:] if c in t and t[c].fillna("").astype(str).isin(["", "0", "0.0"]).all()]
    return t.drop(columns=quiet).set_index([c for c in cols[:3] if c in t]).round(4)


def equal_compute(init: str) -> list[dict]:
    """The plain equal-compute baselines of an init: trajectory 1, re-runs from θ₀, restarts, longer."""
    return [
        side(init, labels.TRAJECTORY_1),
        side(init, labels.RE_RUNS, labels.RE_RUNS),
        side(init, "restarts"),
        side(init, "longer"),
    ]


def report(
    verdicts: pd.DataFrame, header: str, not_tested: dict | None = None, converged=None
) -> pd.DataFrame:
    """Print ``header``, the claims that ``not_tested`` names (claim -> why) as NOT TESTED, then each
    claim's conclusion per setting (``conclusions`` with ``converged``) and its comparisons grouped
    by verdict; return the conclusions, a ``not tested`` row for each claim of ``not_tested`` last."""
    found = conclusions(verdicts, converged)
    print(header)
    for claim, why in (not_tested or {}).items():
        print(f"- {claim}: NOT TESTED ({why})")
    for r in found.itertuples():
        tally = ", ".join(
            f"{getattr(r, k)} {k}"
            for k in ("better", "worse", "equivalent", "inconclusive", "identical")
            if getattr(r, k) or k != "identical"
        )
        repeats = (
            f"; {r.repeats} more repeat the numbers of one of these (e.g. every baseline at the same accuracy) and are counted once"
            if r.repeats
            else ""
        )  # noqa: E501
        label, why = r.status.upper(), r.why
        if why.startswith("not tested at convergence: "):  # the label says it; the reason follows
            label, why = "NOT TESTED AT CONVERGENCE", why.removeprefix("not tested at convergence: ")
        keys = {k: getattr(r, k) for k in ("setting", "budget") if k in found and pd.notna(getattr(r, k))}
        where = f" [{', '.join(str(x) for x in keys.values())}]" if keys else ""
        print(f"- {r.claim}{where}: {label}" + (f" ({why})" if why else "") + f" ({tally}{repeats})")
        mine = verdicts[verdicts.claim == r.claim]
        for k, x in keys.items():
            mine = mine[mine[k] == x]
        for v, rows in mine.groupby("verdict", sort=False):
            line = "; ".join(f"{c} {e:+.3f}" for c, e in zip(rows.comparison, rows.estimate))
            print(textwrap.indent(textwrap.fill(f"{v}: {line}", 110, subsequent_indent="    "), "    "))
    zero = dict.fromkeys(
        ["better", "worse", "equivalent", "inconclusive", "identical", "distinct", "repeats"], 0
    )
    unrun = [{"claim": c, "status": "not tested", "why": w, **zero} for c, w in (not_tested or {}).items()]
    return (
        pd.concat([found, pd.DataFrame(unrun, columns=found.columns)], ignore_index=True) if unrun else found
    )
