"""The package stays ruff- and mypy --strict-clean (DESIGN habit 14), and never runs code it is given."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.slow
def test_ruff_is_clean() -> None:
    done = subprocess.run([sys.executable, "-m", "ruff", "check", "lambda_rlm", "tests",
                           "benchmarks", "examples"], cwd=ROOT, capture_output=True, text=True)
    assert done.returncode == 0, done.stdout + done.stderr


@pytest.mark.slow
def test_mypy_strict_is_clean() -> None:
    done = subprocess.run([sys.executable, "-m", "mypy"], cwd=ROOT, capture_output=True, text=True)
    assert done.returncode == 0, done.stdout + done.stderr


BUILTINS = {"exec", "eval", "compile", "__import__", "breakpoint"}
UNSAFE_ATTRS = {("pickle", "load"), ("pickle", "loads"), ("marshal", "load"), ("marshal", "loads"),
                ("os", "system"), ("subprocess", "run"), ("subprocess", "Popen"), ("subprocess", "call")}


def _unsafe_calls(path: Path) -> list[str]:
    """Calls of the builtins that run code, unless the module binds that name itself (our `compile`)."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    bound = {a.asname or a.name for n in ast.walk(tree) if isinstance(n, ast.ImportFrom) for a in n.names}
    bound |= {n.name for n in ast.walk(tree) if isinstance(n, ast.FunctionDef | ast.AsyncFunctionDef)}
    hits = []
    for node in ast.walk(tree):
        if not isinstance(node, ast.Call):
            continue
        f = node.func
        if isinstance(f, ast.Name) and f.id in BUILTINS and f.id not in bound:
            hits.append(f"{path.name}:{node.lineno}: {f.id}(...)")
        if isinstance(f, ast.Attribute) and isinstance(f.value, ast.Name) and (f.value.id, f.attr) in UNSAFE_ATTRS:
            hits.append(f"{path.name}:{node.lineno}: {f.value.id}.{f.attr}(...)")
    return hits


def test_no_dynamic_code_execution_in_the_package() -> None:
    """Model output is data: nothing in the package executes code, unpickles or starts processes."""
    files = [*ROOT.glob("lambda_rlm/**/*.py")]
    assert len(files) > 20
    assert [hit for path in files for hit in _unsafe_calls(path)] == []


def test_the_scan_can_fail(tmp_path: Path) -> None:
    bad = tmp_path / "bad.py"
    bad.write_text("import pickle\ndef f(x):\n    eval(x)\n    return pickle.loads(x)\n")
    assert len(_unsafe_calls(bad)) == 2
