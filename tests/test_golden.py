"""Golden tests: `lambda-rlm check` output for programs with errors and for every example.

Regenerate the expected files with `pytest tests/test_golden.py --regen-golden` and review the diff.
"""

from __future__ import annotations

import contextlib
import io
import os
from pathlib import Path

import pytest

from lambda_rlm.cli.app import main

ROOT = Path(__file__).resolve().parent.parent
GOLDEN = ROOT / "tests" / "golden"
CASES = sorted(GOLDEN.glob("*.lam")) + sorted((ROOT / "examples").glob("*.lam"))


def run_check(path: Path) -> str:
    out, err = io.StringIO(), io.StringIO()
    cwd = os.getcwd()
    os.chdir(ROOT)
    try:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            code = main(["check", str(path.relative_to(ROOT)), "--input-tokens", "1000000", "--window", "8000"])
    finally:
        os.chdir(cwd)
    return f"exit {code}\n--- stdout\n{out.getvalue()}--- stderr\n{err.getvalue()}"


@pytest.mark.parametrize("path", CASES, ids=lambda p: f"{p.parent.name}/{p.stem}")
def test_golden(path: Path, request: pytest.FixtureRequest) -> None:
    expected_file = GOLDEN / "expected" / f"{path.parent.name}__{path.stem}.out"
    actual = run_check(path)
    if request.config.getoption("--regen-golden"):
        expected_file.parent.mkdir(exist_ok=True)
        expected_file.write_text(actual, encoding="utf-8")
    assert expected_file.exists(), f"no golden file for {path}; run pytest --regen-golden"
    assert actual == expected_file.read_text(encoding="utf-8")


def test_error_cases_fail_and_examples_pass() -> None:
    for path in CASES:
        first = run_check(path).splitlines()[0]
        assert first == ("exit 0" if path.parent.name == "examples" else "exit 1"), path
