"""The package's structure, checked: strict layers (import-linter, contract in pyproject.toml), no
private name used across modules (tests and benchmarks included), no pnlib import hidden inside a
function (the way to dodge an import circle), and no module over 350 lines."""

import ast
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = sorted((ROOT / "pnlib").rglob("*.py"))
USERS = PACKAGE + sorted((ROOT / "tests").glob("*.py")) + sorted((ROOT / "benchmarks").glob("*.py"))
MAX_LINES = 350
# attributes of these are a class's own or another library's business (torch's _ConvNd, say)
OWN_OR_FOREIGN = {"self", "cls", "torch", "nn", "F", "np", "pd", "os", "sys"}


def rel(path: Path) -> str:
    return str(path.relative_to(ROOT))


def test_the_layers_hold():
    lint = Path(sys.executable).with_name("lint-imports")
    if not lint.exists():
        pytest.fail(
            f"{lint} is missing: install the test extras (pip install -e '.[test]', which make test does)"
        )
    out = subprocess.run([str(lint), "--no-cache"], cwd=ROOT, capture_output=True, text=True)
    assert out.returncode == 0, (
        "an import breaks pnlib's layers. Each module's layer is listed in pyproject.toml under "
        "[tool.importlinter]; a module may import only from layers below its own. Move the code to the "
        "layer it belongs to, or pass what it needs in as an argument.\n"
        + out.stdout[-4000:]
        + out.stderr[-2000:]
    )


def imports_pnlib(node) -> bool:
    """``from .x import …`` / ``from pnlib… import …`` / ``import pnlib…``."""
    if isinstance(node, ast.ImportFrom):
        return bool(node.level) or (node.module or "").startswith("pnlib")
    return isinstance(node, ast.Import) and any(a.name.startswith("pnlib") for a in node.names)


def private_uses(path: Path) -> list[str]:
    """``from <pnlib module> import _name`` and ``<name>._name`` where <name> is not self/cls."""
    tree = ast.parse(path.read_text(), str(path))
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and imports_pnlib(node):
            found += [
                f"{rel(path)}:{node.lineno}: imports {a.name}"
                for a in node.names
                if a.name.startswith("_") and not a.name.startswith("__")
            ]
        if isinstance(node, ast.Attribute) and node.attr.startswith("_") and not node.attr.startswith("__"):
            owner = node.value
            while isinstance(owner, ast.Attribute):
                owner = owner.value
            if not (isinstance(owner, ast.Name) and owner.id in OWN_OR_FOREIGN):
                found.append(f"{rel(path)}:{node.lineno}: uses .{node.attr}")
    return found


def test_no_private_name_is_used_across_modules():
    found = [f for p in USERS for f in private_uses(p)]
    assert not found, (
        "private names used from outside their module; make them public where they are "
        "defined (and say so in a docstring):\n" + "\n".join(found)
    )


def hidden_imports(path: Path) -> list[str]:
    """pnlib imports inside a function body: the usual way to dodge an import circle."""
    found = []
    for fn in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(fn, (ast.FunctionDef, ast.AsyncFunctionDef)):
            found += [
                f"{rel(path)}:{node.lineno}: in {fn.name}()" for node in ast.walk(fn) if imports_pnlib(node)
            ]
    return found


def test_no_pnlib_import_inside_a_function():
    found = [f for p in PACKAGE for f in hidden_imports(p)]
    assert not found, (
        "pnlib imports inside functions (heavy optional packages such as torchvision, submitit "
        "and dask may stay lazy; pnlib modules may not):\n" + "\n".join(found)
    )


def test_modules_stay_small():
    sizes = {rel(p): len(p.read_text().splitlines()) for p in PACKAGE}
    assert all(n <= MAX_LINES for n in sizes.values()), {p: n for p, n in sizes.items() if n > MAX_LINES}


def test_the_single_row_labels_are_the_registrys():
    from pnlib.base import labels
    from pnlib.experiments.methods import REGISTRY

    single = {m.label for m in REGISTRY.values() if m.rows == "single"}
    assert set(labels.SINGLE_ROW) == {labels.TRAJECTORY_1} | single
