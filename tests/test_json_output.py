"""`--json`: every mode of check, run and ask prints one JSON document of the one documented schema, errors included."""

from __future__ import annotations

import json
from importlib.resources import files
from pathlib import Path

import jsonschema
import pytest
from providers import registered  # noqa: F401 - sets the offline cost map before litellm loads

from lambda_rlm.cli.app import main

SCHEMA = json.loads(files("lambda_rlm.cli").joinpath("output.schema.json").read_text(encoding="utf-8"))
QUESTION = "What is the special magic number for north-gate mentioned in the provided text?"


@pytest.fixture
def paths(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    monkeypatch.setenv("LAMBDA_RLM_CACHE_DIR", str(tmp_path / "cache"))
    doc = tmp_path / "doc.txt"
    doc.write_text("Nothing happened that day.\n" * 1500 + "The special magic number for north-gate is 7342.\n",
                   encoding="utf-8")
    good = tmp_path / "count.lam"
    good.write_text("def main (doc : Text) : Int = len (lines doc)\n", encoding="utf-8")
    bad = tmp_path / "bad.lam"
    bad.write_text("def main (doc : Text) : Int = len doc\n", encoding="utf-8")
    return {"doc": str(doc), "good": str(good), "bad": str(bad), "missing": str(tmp_path / "nowhere.txt")}


MODES = {
    "check": (["check", "{good}", "--json"], 0),
    "run": (["run", "{good}", "--input", "{doc}", "--model", "reference/4k", "--json"], 0),
    "ask": (["ask", QUESTION, "{doc}", "--model", "reference/4k", "--task", "search", "--json"], 0),
    "ask --dry-run": (["ask", QUESTION, "{doc}", "--model", "reference/4k", "--dry-run", "--json"], 0),
    "ask --search": (["ask", QUESTION, "{doc}", "--model", "reference/4k", "--task", "search", "--search", "2",
                      "--json"], 0),
    "ask --search --dry-run": (["ask", QUESTION, "{doc}", "--model", "reference/4k", "--task", "search", "--search",
                                "2", "--dry-run", "--json"], 0),
    "check, a type error": (["check", "{bad}", "--json"], 1),
    "run, no such document": (["run", "{good}", "--input", "{missing}", "--model", "reference/4k", "--json"], 5),
    "ask, an empty question": (["ask", " ", "{doc}", "--model", "reference/4k", "--json"], 5),
}


@pytest.mark.parametrize("mode", list(MODES))
def test_every_json_mode_prints_one_document_of_the_schema(mode: str, paths: dict[str, str],
                                                           capsys: pytest.CaptureFixture[str]) -> None:
    argv, code = MODES[mode]
    assert main([a.format(**paths) for a in argv]) == code
    doc = json.loads(capsys.readouterr().out)  # exactly one JSON document on stdout
    jsonschema.validate(doc, SCHEMA)
    assert doc["command"] == argv[0]
    if code == 0:
        assert doc["error"] is None and (doc["value"] is not None or "--dry-run" in argv or argv[0] == "check")
    else:
        assert doc["error"]["exit_code"] == code and doc["value"] is None
    if mode == "ask":
        assert (doc["value"], doc["model"], doc["task"]) == ("7342", "reference/4k", "search")
        assert doc["question"] == QUESTION
    if mode == "check, a type error":
        assert doc["error"]["location"].endswith("bad.lam:1:35")  # `doc`, a Text where a List is wanted


def test_a_dry_run_prices_the_bound_and_max_usd_below_it_refuses_before_any_call(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    """litellm's offline price table (LITELLM_LOCAL_MODEL_COST_MAP): gpt-4o is priced, no key is needed
    to price it, and the refusal comes before any request (none could be sent without a key)."""
    monkeypatch.setenv("LAMBDA_RLM_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    doc = tmp_path / "big.txt"
    doc.write_text("The harbour was quiet and the boats stayed in.\n" * 40_000, encoding="utf-8")  # ~400k tokens
    question = ["ask", "Who signed the lease?", str(doc), "--model", "openai/gpt-4o", "--window", "128k"]
    assert main([*question, "--dry-run"]) == 0
    shown = capsys.readouterr().out
    price = float(shown.split("cost ≤ $")[1].split()[0].replace(",", ""))
    assert price > 0.5  # 400k prompt tokens at gpt-4o's input price alone is about $1
    assert main([*question, "--max-usd", f"{price / 2:.4f}"]) == 4
    said = capsys.readouterr()
    assert "may cost up to $" in said.err and "nothing was run" in said.err and said.out == ""
