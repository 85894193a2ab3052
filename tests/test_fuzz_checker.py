"""The whole front end on random input: `lambda_rlm.compile` (and the bound of what it accepts) either
succeeds or raises a `LambdaError`, never another exception. A fast sample of the generators of
benchmarks/fuzz_front_end.py, which runs them for 100,000 inputs and more.
"""

from __future__ import annotations

import sys
from collections import Counter
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "benchmarks"))

from fuzz_front_end import GENERATORS, KINDS, fuzz  # noqa: E402

from lambda_rlm import compile  # noqa: E402
from lambda_rlm.core.errors import ImportError_  # noqa: E402

SAMPLE = {"soup": 400, "mutant": 250, "printed": 125, "scoped": 125}


@pytest.fixture(scope="module")
def sample() -> dict[str, tuple[Counter[str], list[tuple[str, str]]]]:
    """Each generator's outcomes and crashes, run once for the tests below."""
    runs = {}
    for kind in KINDS:
        strategy = GENERATORS[kind]()
        runs[kind] = fuzz(kind, SAMPLE[kind], seed=2026, strategy=strategy)
    return runs


@pytest.mark.parametrize("kind", KINDS)
def test_the_front_end_raises_only_lambda_errors(kind: str, sample: dict[str, tuple[Counter[str], list[
        tuple[str, str]]]]) -> None:
    outcomes, crashes = sample[kind]
    assert crashes == [], crashes[:3]
    assert sum(outcomes.values()) >= SAMPLE[kind] * 0.9  # Hypothesis ran (almost) all of them


def test_the_sample_reaches_every_phase(sample: dict[str, tuple[Counter[str], list[tuple[str, str]]]]) -> None:
    """The inputs end in every phase, so the fuzzing is not stuck at the parser."""
    seen: Counter[str] = Counter()
    for outcomes, _ in sample.values():
        seen.update(outcomes)
    phases = {"accepted", "syntax error", "name error", "type error", "import error", "termination error"}
    assert phases <= set(seen), seen


def test_an_import_path_with_a_nul_byte_is_an_import_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    with pytest.raises(ImportError_):
        compile('import "a\\0b"\ndef main (doc : Text) : Text = doc\n')
