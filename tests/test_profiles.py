"""Model profiles: the shipped ones, a calibration stored and preferred, and the cap it puts on a plan's batches."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from providers import registered  # noqa: F401 - sets the offline cost map before litellm loads

from lambda_rlm.bench.tasks.oolong import Oolong
from lambda_rlm.cli.app import main
from lambda_rlm.models.profiles import profile
from lambda_rlm.text.tokens import cl100k


def test_the_embedded_default_model_ships_a_measured_profile() -> None:
    found = profile("local/qwen2.5-coder-1.5b")
    assert found is not None and found.label_records is not None and found.label_records >= 1
    assert "calibrate" in found.measured or "p3.py" in found.measured
    assert profile("openai/gpt-4o-mini") is None


def test_calibrate_stores_the_largest_reliable_batch_and_plans_use_it(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("LAMBDA_RLM_CACHE_DIR", str(tmp_path))
    code = main(["calibrate", "reference/4k", "--records", "12", "--sizes", "2,3,5"])
    out = capsys.readouterr()
    assert code == 0 and "reference/4k: 5 records per labelling leaf" in out.out
    assert "12/12 right" in out.err  # the reference reader labels every probe record
    stored = json.loads((tmp_path / "profiles.json").read_text(encoding="utf-8"))["reference/4k"]
    assert stored["label_records"] == 5 and "--sizes 2,3,5" in stored["measured"]
    found = profile("reference/4k")
    assert found is not None and found.label_records == 5

    instance = Oolong().generate(8000, 1, 0, cl100k().count)[0]  # more than the window: a plan
    doc = tmp_path / "records.txt"
    doc.write_text(instance.document, encoding="utf-8")
    argv = ["ask", instance.question, str(doc), "--model", "reference/4k", "--task", "aggregate", "--dry-run"]
    assert main(argv) == 0
    explained = capsys.readouterr().out
    assert "per labelling leaf: 5 (capped at 5 by the profile of reference/4k: lambda-rlm calibrate" in explained
    assert "--sizes 2,3,5" in explained  # which calibration chose it
