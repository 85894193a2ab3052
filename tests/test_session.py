"""Run sessions: a run is planned once (its bound computed once), and the runs of one session share
one budget, one cache connection and one trace."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from providers import ScriptedProvider, registered

from lambda_rlm import compile as compile_program
from lambda_rlm import run
from lambda_rlm.analysis.program import Program
from lambda_rlm.core.errors import BudgetExceeded
from lambda_rlm.models.backend import run_sync
from lambda_rlm.runtime.session import Config, Session, prepare
from lambda_rlm.strategies.ask import ask

THREE = '''
def said (part : Text) : Text =
  llm """
    {part}
    Repeat the text above.
    """

def main (doc : Text) : List Text = map said [doc, doc ++ "!", doc ++ "?"]
'''
ONE = THREE.replace('[doc, doc ++ "!", doc ++ "?"]', '[doc ++ "."]')


@pytest.fixture
def bounds(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The name of every program whose bound is computed (the real method runs; this only counts)."""
    seen: list[str] = []
    original = Program.bound

    def counted(self: Program, *args: Any, **kwargs: Any) -> Any:
        seen.append(self.name)
        return original(self, *args, **kwargs)

    monkeypatch.setattr(Program, "bound", counted)
    return seen


def test_a_run_computes_its_bound_once(tmp_path: Path, bounds: list[str]) -> None:
    with registered(lrtest=ScriptedProvider()):
        config = Config(model="lrtest/echo", cache_dir=str(tmp_path))
        result = run(compile_program(THREE, name="three"), "hello", config)
    assert result.calls == 3 and bounds == ["three"]


def test_ask_bounds_the_plan_once_and_runs_it_as_bounded(tmp_path: Path, bounds: list[str]) -> None:
    doc = "\n".join(f"Line {i}: the weather was fine." for i in range(400)) + "\nThe code word is 7342.\n"
    config = Config(model="lrtest/find", window=1024, cache_dir=str(tmp_path))

    def finder(prompt: str) -> str:
        return "7342" if "code word is 7342" in prompt else "NONE"

    with registered(lrtest=ScriptedProvider(finder)):
        answer = ask("What is the code word?", doc, config, task="search")
    assert answer.value == "7342"
    plans = [name for name in bounds if name.endswith("search.lam")]
    assert len(plans) == 1, bounds  # bounded when chosen, never again when run


def test_runs_of_one_session_share_one_budget(tmp_path: Path) -> None:
    provider = ScriptedProvider()
    config = Config(model="lrtest/echo", cache_dir=str(tmp_path), max_calls=5, trace_path=str(tmp_path / "t.jsonl"))
    with registered(lrtest=provider), Session(config) as session:
        first = run_sync(session.arun(prepare(THREE, "hello", config)))
        assert first.calls == 3
        # 3 more would pass the session's limit of 5: refused before any call
        with pytest.raises(BudgetExceeded, match="more than --max-calls 2 of what this session has left"):
            run_sync(session.arun(prepare(THREE, "other", config)))
        assert provider.calls == 3
        second = run_sync(session.arun(prepare(ONE, "other", config)))  # 1 fits in the 2 left
    assert second.calls == 1 and provider.calls == 4
    assert session.budget.snapshot().requests == 4
    # one trace: both runs in the file, each result with only its own events
    events = [json.loads(line) for line in (tmp_path / "t.jsonl").read_text(encoding="utf-8").splitlines()]
    assert [e["event"] for e in events].count("run_start") == 2
    assert [e["event"] for e in second.trace].count("leaf_end") == 1
    # a run alone has the whole limit: the same program is not refused outside the session
    with registered(lrtest=provider):
        assert run(THREE, "third", config).calls == 3
