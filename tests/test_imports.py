"""Imports only go down the levels of docs/architecture.md; optional extras stay optional."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

SRC = Path(__file__).resolve().parents[1] / "src" / "subsel"

# Level of each top-level module or subpackage of subsel (see docs/architecture.md).
LEVELS = {
    "__init__": 4,
    "_progress": 0,
    "_validation": 0,
    "_selector": 0,
    "_io": 0,
    "result": 0,
    "ops": 1,
    "submodular": 1,
    "selection": 1,
    "datasets": 1,
    "structured": 2,
    "apps": 2,  # models built from the operators (decision-focused learning, ...)
    "valuation": 2,  # which training data are worth the most (HOST-CP, valuation baselines)
    "distributed": 3,
    "report": 3,
    "cli": 3,
    "_cli_errors": 3,  # the command line's one-line errors
    "_cli_diverse": 3,  # `subsel diverse`
    "_cli_value": 3,  # `subsel value`
    "demos": 3,
}
# Same-level imports that the design allows.
ALLOWED = {
    ("result", "_validation"),
    ("_io", "_validation"),
    ("_selector", "_validation"),
    ("structured", "submodular"),
    ("cli", "report"),
    ("cli", "distributed"),  # the --engine dask option
    ("cli", "demos"),
    ("cli", "_cli_errors"),
    ("cli", "_cli_diverse"),
    ("_cli_diverse", "_cli_errors"),
    ("cli", "_cli_value"),
    ("_cli_value", "_cli_errors"),
    ("demos", "report"),
    ("report", "demos"),
}
OPTIONAL = {
    "faiss",
    "dask",
    "distributed",
    "cvxpy",
    "cvxpylayers",
    "gco",
    "numba",
    "triton",
    "pyepo",
}


def owner(path: Path) -> str:
    rel = path.relative_to(SRC)
    return rel.parts[0].removesuffix(".py")


def subsel_imports(path: Path):
    """Top-level subsel units imported by ``path`` (absolute and relative imports)."""
    tree = ast.parse(path.read_text())
    pkg = path.relative_to(SRC).parent.parts
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom):
            if node.level:
                base = list(pkg[: len(pkg) - node.level + 1])
                parts = base + (node.module.split(".") if node.module else [])
                if parts:
                    yield parts[0], node.lineno
                else:  # "from .. import x" at the package root
                    for alias in node.names:
                        yield alias.name, node.lineno
            elif node.module and node.module.split(".")[0] == "subsel":
                parts = node.module.split(".")
                yield (parts[1] if len(parts) > 1 else "__init__"), node.lineno
        elif isinstance(node, ast.Import):
            for alias in node.names:
                parts = alias.name.split(".")
                if parts[0] == "subsel":
                    yield (parts[1] if len(parts) > 1 else "__init__"), node.lineno


def test_every_unit_has_a_level():
    units = {owner(p) for p in SRC.rglob("*.py")}
    missing = units - LEVELS.keys()
    assert not missing, f"add these to LEVELS (and docs/architecture.md): {sorted(missing)}"


def test_no_upward_or_sideways_imports():
    bad = []
    for path in SRC.rglob("*.py"):
        me = owner(path)
        for target, line in subsel_imports(path):
            if target == me or target not in LEVELS:
                continue
            up = LEVELS[target] > LEVELS[me]
            sideways = LEVELS[target] == LEVELS[me] and (me, target) not in ALLOWED
            if up or sideways:
                bad.append(
                    f"{path.relative_to(SRC)}:{line} ({me}, level {LEVELS[me]}) imports "
                    f"{target} (level {LEVELS[target]})"
                )
    assert not bad, "imports must only go down:\n" + "\n".join(bad)


def test_optional_dependencies_are_imported_lazily():
    """Importing the package must not import any optional heavy dependency."""
    code = (
        "import sys, subsel, subsel.ops, subsel.selection, subsel.cli, subsel.report; "
        f"print(sorted(m for m in {sorted(OPTIONAL)!r} if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_ops_imports_only_torch_and_validation():
    allowed = {
        "torch",
        "numpy",
        "__future__",
        "functools",
        "itertools",
        "math",
        "os",
        "warnings",
        "collections",
        "dataclasses",
        "typing",
        "types",
        "threading",
        "contextlib",
    }
    # The optional fused kernels, each in its one module and imported lazily by the dispatcher.
    per_file = {"_dp_numba.py": {"numba", "llvmlite"}, "_dp_triton.py": {"triton"}}
    for path in (SRC / "ops").rglob("*.py"):
        file_allowed = allowed | per_file.get(path.name, set())
        tree = ast.parse(path.read_text())
        for node in ast.walk(tree):
            names = []
            if isinstance(node, ast.Import):
                names = [a.name.split(".")[0] for a in node.names]
            elif isinstance(node, ast.ImportFrom) and not node.level:
                names = [node.module.split(".")[0]]
            for name in names:
                assert name in file_allowed, f"{path.name} imports {name}"
