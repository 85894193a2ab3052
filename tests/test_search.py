"""Program search (`ask --search K`): the selection rule as a table, the combinators, candidates and their
bound, end-to-end runs with scripted providers, budgets, the trace and the command line."""

from __future__ import annotations

import io
import json
import re
from pathlib import Path
from typing import Any

import pytest
from providers import ScriptedProvider, priced_model, prompt_of, registered
from rich.console import Console
from test_ask import cli_args, filler

from lambda_rlm import run
from lambda_rlm.cli.ask import run as run_cli
from lambda_rlm.cli.progress import render_trace
from lambda_rlm.core.errors import BudgetExceeded
from lambda_rlm.core.values import Record
from lambda_rlm.runtime.session import Config
from lambda_rlm.runtime.trace import read
from lambda_rlm.strategies.ask import ask
from lambda_rlm.strategies.plan import achoose
from lambda_rlm.strategies.search import (
    NEUTRAL,
    Candidate,
    Outcome,
    SearchCutOff,
    SearchResult,
    candidates,
    choose,
    normalise,
    variants,
)

# ---------------------------------------------------------------------- the selection rule


def outcome(i: int, answer: Any, confidence: int | None = None, reasoning: int = 10,
            error: str | None = None) -> Outcome:
    cand = Candidate(i, f"candidate {i}", None, None, None)  # type: ignore[arg-type]  # the rule reads id only
    return Outcome(cand, answer, confidence, reasoning, error=error)


# (answers as (answer, confidence, reasoning tokens) or an error, expected winner, a phrase of the reason)
RULE_TABLE = [
    # self-consistency first: three agreeing beat one confident outlier
    ([("A", 60, 10), ("A", None, 10), ("B", 99, 5), ("A", 40, 10)], 1, "3 of 4"),
    # abstentions vote only when everyone abstains: one grounded answer beats three NOT FOUNDs
    ([("NOT FOUND", None, 3), ("NOT FOUND", 90, 3), ("7351", None, 9), ("NONE", None, 1)], 3, "3 abstained"),
    ([("NOT FOUND", None, 3), ("none", None, 3)], 1, "2 of 2"),
    ([("UNDECIDED", 90, 3), ("[]", None, 3), ("sports", None, 3)], 3, "1 of 1"),
    # equal agreement: the higher mean confidence (a candidate stating none counts NEUTRAL)
    ([("A", 40, 10), ("B", 90, 10)], 2, "higher mean confidence 90 vs 40"),
    ([("A", None, 10), ("B", NEUTRAL - 1, 1)], 1, "higher mean confidence 50 vs 49"),
    ([("A", 80, 10), ("A", 20, 10), ("B", 60, 10), ("B", 60, 10)], 3, "higher mean confidence 60 vs 50"),
    # then the single plan's answer (candidate 1) stands: only agreement or confidence overrule it
    ([("A", None, 30), ("B", None, 12)], 1, "the single plan's answer stands"),
    ([("A", None, 30), ("B", None, 12), ("B", None, 12), ("A", None, 30)], 1, "the single plan's answer stands"),
    # then, among the others, the shorter reasoning (a reader that wrote more struggled more)
    ([("NONE", None, 1), ("A", None, 30), ("B", None, 12)], 3, "shorter reasoning 12 vs 30 tokens"),
    (["leaf error: no reply", ("A", None, 30), ("B", None, 12)], 3, "shorter reasoning 12 vs 30 tokens"),
    # then the earlier candidate
    ([("A", 70, 10), ("B", 70, 10), ("C", 70, 10)], 1, "the single plan's answer stands"),
    (["leaf error: no reply", ("B", 70, 10), ("C", 70, 10)], 2, "the earlier candidate wins"),
    # answers are compared normalised: case, spaces, edge punctuation, a leading article
    ([("Dock", None, 1), ("The  Harbour.", None, 9), ("harbour", None, 9)], 2, "2 of 3"),
    # a failed candidate does not vote
    ([("A", None, 10), "leaf error: no reply", "leaf error: no reply", ("B", 90, 10)], 4, "1 of 2"),
    # structured answers compare as canonical JSON; an empty list abstains
    ([((("a", "b"),), None, 5), ((), None, 1), ((("a", "b"),), None, 5)], 1, "2 of 2"),
]


@pytest.mark.parametrize(("answers", "winner", "why"), RULE_TABLE)
def test_the_selection_rule(answers: list[Any], winner: int, why: str) -> None:
    outs = [outcome(i, None, error=a) if isinstance(a, str) else outcome(i, *a) for i, a in enumerate(answers, 1)]
    verdict = choose(outs)
    assert verdict.winner == winner
    assert why in verdict.why


def test_no_answer_at_all_is_an_error_not_a_choice() -> None:
    with pytest.raises(ValueError, match="no candidate"):
        choose([outcome(1, None, error="leaf error: x")])


@pytest.mark.parametrize(("answer", "key"), [
    ("  The Harbour. ", "harbour"), ("NOT\tFOUND", "not found"), (42, "42"), ((1, 2), "[1, 2]"),
    (Record({"b": 1, "a": "x"}), '{"a": "x", "b": 1}'),
])
def test_answers_are_normalised_before_they_are_compared(answer: Any, key: str) -> None:
    assert normalise(answer) == key


# ---------------------------------------------------------------------- the combinators


@pytest.mark.parametrize(("expr", "value"), [
    ('majority ["b", "a", "a", "b", "c"]', '"b"'),  # a tie goes to the first seen
    ("majority [3, 1, 1]", "1"),
    ("majority (filter (\\x -> x > 5) [1, 2])", "null"),
    ('consensus [("NONE", 99), ("7", 40), ("not found", 90)]', '["7", 40]'),
    ('consensus [("A", 90), ("b", 40), ("B", 60)]', '["b", 50]'),
    ('consensus [("A", 90), ("B", 40)]', '["A", 90]'),
    ('consensus [("NOT FOUND", 30), ("NONE", 80)]', '["NOT FOUND", 55]'),
])
def test_majority_and_consensus_are_pure_combinators(expr: str, value: str, tmp_path: Path) -> None:
    got = run(f"def main (doc : Text) : Text = show ({expr})", "", Config(model="lrtest/none", use_cache=False))
    assert got.value == value and got.calls == 0 and got.bound.calls == 0


# ---------------------------------------------------------------------- scripted documents and readers

NEEDLE = re.compile(r"The access code for (\w+) is (\d+)\.")
DECOY = re.compile(r"An old code for (\w+) was (\d+)\.")
QUESTION = re.compile(r"Question: (.*?)\s*$")


def document(tokens: int, *facts: str) -> str:
    parts = [filler(tokens // (len(facts) + 1), seed=i) for i in range(len(facts) + 1)]
    body = parts[0]
    for fact, part in zip(facts, parts[1:], strict=True):
        body += f"\n\n{fact}\n\n{part}"
    return body


def reader(needs_chars: int = 0, confidence: str = "NONE") -> Any:
    """The plan's wording answers the needle (only from a chunk of at least `needs_chars` characters:
    a model that needs context); the reworded variant answers the decoy, with `confidence`."""

    def script(messages: list[dict[str, Any]]) -> str:
        prompt = prompt_of(messages)
        asked = QUESTION.search(prompt)
        question = asked.group(1) if asked else ""
        if "Kinds of question" in prompt:
            return "1"
        if "From 0 to 100, how sure" in prompt:
            return confidence
        if "Read the text above" in prompt:
            return next((v for k, v in DECOY.findall(prompt) if k in question), "NONE")
        if "states the answer to the question" in prompt or "Answer the question below" in prompt:
            if len(prompt) < needs_chars:
                return "NONE"
            return next((v for k, v in NEEDLE.findall(prompt) if k in question), "NONE")
        if "?answer_the_question_from_chunks" in prompt:
            return '"NOT FOUND"'
        raise AssertionError(f"unknown prompt: {prompt[:200]}")

    return script


QUESTION_TEXT = "What is the access code for the north gate?"
DOC = document(6000, "The access code for north is 4417.", "An old code for north was 9032.")


def config(tmp_path: Path, **kw: Any) -> Config:
    return Config(model="lrtest/reader", window=kw.pop("window", 2048), output_tokens=kw.pop("output_tokens", 256),
                  cache_dir=str(tmp_path / "cache"), **kw)


def searched(tmp_path: Path, k: int, script: Any = None, doc: str = DOC, **kw: Any) -> tuple[Any, ScriptedProvider]:
    provider = ScriptedProvider(script=script or reader())
    with registered(lrtest=provider):
        got = ask(QUESTION_TEXT, doc, config(tmp_path, **kw), task="search", direct=False, search=k)
    return got, provider


# ---------------------------------------------------------------------- candidates and their bound


def test_candidates_are_the_plan_then_halved_leaves_then_variants_all_bounded_before_any_call(tmp_path: Path) -> None:
    import asyncio

    choice = asyncio.run(achoose(QUESTION_TEXT, DOC, config(tmp_path), "search", use_model=False, direct=False))
    cands = candidates(choice, QUESTION_TEXT, DOC, 6)  # τ/8 is below MIN_TAU; the hole's writer cannot fit 2k
    assert [c.id for c in cands] == list(range(1, len(cands) + 1))
    assert cands[0].program is choice.program and cands[0].bound == choice.bound  # the single plan, as is
    assert "leaves ≤" in cands[1].description and cands[1].bound.tau is not None
    assert cands[1].bound.tau <= choice.bound.tau // 2 and cands[1].bound.k > choice.bound.k
    assert "variant search_confident" in cands[2].description and variants("search") == ["search_confident"]
    assert [c.description.split(",")[0] for c in cands[3:]] == ["search plan"]
    assert all(c.bound.calls > 0 for c in cands)
    roomy = asyncio.run(achoose(QUESTION_TEXT, DOC, config(tmp_path, window=8192), "search", use_model=False,
                                direct=False))
    assert candidates(roomy, QUESTION_TEXT, DOC, 9)[-1].description.startswith("hole")
    assert len(candidates(choice, QUESTION_TEXT, DOC, 2)) == 2


def test_the_search_is_refused_before_any_call_when_its_total_bound_exceeds_the_budget(tmp_path: Path) -> None:
    import asyncio

    choice = asyncio.run(achoose(QUESTION_TEXT, DOC, config(tmp_path), "search", use_model=False, direct=False))
    total = sum(c.bound.calls for c in candidates(choice, QUESTION_TEXT, DOC, 4))
    assert choice.bound.calls < total - 1  # enough for the single plan, not for the search
    with pytest.raises(BudgetExceeded, match=f"may make up to {total} calls") as info:
        searched(tmp_path, 4, max_calls=total - 1)
    assert "nothing was run" in info.value.format() and "candidate 1" in info.value.format()
    got, provider = searched(tmp_path, 4, max_calls=total)
    assert provider.calls == got.calls <= total


# ---------------------------------------------------------------------- end to end


def test_search_chooses_the_consistent_answer_over_a_confident_outlier(tmp_path: Path) -> None:
    got, provider = searched(tmp_path, 4, reader(confidence="99"))
    assert isinstance(got, SearchResult)
    answers = {o.candidate.id: (o.answer, o.confidence) for o in got.outcomes}
    assert answers[3] == ("9032", 99)  # the reworded variant read the decoy and was sure of it
    assert [answers[i][0] for i in (1, 2, 4)] == ["4417"] * 3
    assert got.value == "4417" and got.winner == 1 and "3 of 4" in got.why
    assert got.calls == provider.calls == sum(o.calls for o in got.outcomes)
    assert got.calls <= sum(o.candidate.bound.calls for o in got.outcomes)
    for o in got.outcomes:
        assert o.calls <= o.candidate.bound.calls and o.reasoning_tokens > 0


def test_one_candidate_finding_the_needle_beats_those_that_did_not(tmp_path: Path) -> None:
    # The model finds the needle only in the plan's large chunks; the smaller ones, and the variant
    # (which reads only the decoy, absent here), say NONE.
    doc = document(6000, "The access code for north is 4417.")
    single, _ = searched(tmp_path / "one", 1, reader(needs_chars=5000), doc=doc)
    got, _ = searched(tmp_path, 4, reader(needs_chars=5000), doc=doc)
    assert single.value == "4417"
    assert [o.answer for o in got.outcomes] == ["4417", "NOT FOUND", "NOT FOUND", "NOT FOUND"]
    assert got.value == "4417" and "3 abstained" in got.why


def test_identical_leaves_across_candidates_are_paid_once(tmp_path: Path) -> None:
    small = document(300, "The access code for north is 4417.")  # one chunk at τ and at τ/2: the same leaf
    got, provider = searched(tmp_path, 2, doc=small)
    first, second = got.outcomes
    assert first.calls == 1 and second.calls == 0 and second.leaves == 1  # a cache hit
    assert second.reasoning_tokens == first.reasoning_tokens  # counted at what the leaf wrote when made
    assert provider.calls == 1


def test_a_failed_candidate_does_not_vote_and_all_failing_raises_the_plans_error(tmp_path: Path) -> None:
    def script(messages: list[dict[str, Any]]) -> str:
        if "From 0 to 100" in prompt_of(messages):
            return "certainly!"  # never an Int: the variant fails for good
        return reader()(messages)

    got, _ = searched(tmp_path, 4, script, reasks=0)
    assert got.outcomes[2].error is not None and got.outcomes[2].error.startswith("leaf error")
    assert got.value == "4417" and "3 of 3" in got.why


def test_a_money_budget_cuts_the_search_off_cleanly_and_a_rerun_resumes_from_the_cache(tmp_path: Path) -> None:
    with priced_model("lrtest/reader", 1e-6):
        full, _ = searched(tmp_path / "full", 4, concurrency=1)  # read as the cut run reads (one wave, one chunk)
        some = full.outcomes[0].cost_usd + full.outcomes[1].cost_usd * 0.5
        with pytest.raises(SearchCutOff) as info:  # enough for the plan and some of the next candidate
            searched(tmp_path, 4, max_usd=some, concurrency=1, trace_path=str(tmp_path / "t.jsonl"))
        cut = info.value
        assert isinstance(cut, BudgetExceeded) and "cut off in candidate 2 of 4" in cut.message
        assert [o.answer for o in cut.outcomes] == ["4417"]  # the finished candidate is kept …
        assert any("rerun" in n for n in cut.notes) and any("'4417'" in n for n in cut.notes)
        events = read(tmp_path / "t.jsonl")
        paid = {e["key"] for e in events if e["event"] == "leaf_end" and not e["cached"]}
        assert [e["kind"] for e in events if e["event"] == "search_error"] == ["budget"]
        got, provider = searched(tmp_path, 4, concurrency=1)  # … and every leaf paid before the cut is a cache hit now
    assert got.value == "4417"
    hits = {e["key"] for o in got.outcomes if o.result for e in o.result.trace
            if e["event"] == "leaf_end" and e["cached"]}
    assert paid <= hits and provider.calls <= full.calls - len(paid)


# ---------------------------------------------------------------------- trace and command line


def test_candidates_appear_in_the_trace_and_render_as_a_tree_with_their_cost(tmp_path: Path) -> None:
    trace = tmp_path / "trace.jsonl"
    got, _ = searched(tmp_path, 3, trace_path=str(trace))
    events = read(trace)
    kinds = [e["event"] for e in events if e["event"].startswith(("search_", "candidate_"))]
    assert kinds == ["search_start", *["candidate_start", "candidate_end"] * 3, "search_choice"]
    ends = [e for e in events if e["event"] == "candidate_end"]
    assert [e["answer"] for e in ends] == [o.answer for o in got.outcomes]
    assert {"candidate", "description", "confidence", "reasoning_tokens", "calls", "cost_usd"} <= set(ends[0])
    assert [e["winner"] for e in events if e["event"] == "search_choice"] == [got.winner]
    out = io.StringIO()
    render_trace(events, Console(file=out, width=200))
    text = out.getvalue()
    assert "search 3 candidates" in text and "chosen #1" in text
    for line in ("candidate #1", "candidate #2", "candidate #3"):
        assert line in text
    # runs are drawn inside their candidate
    assert text.index("candidate #1") < text.index("run <plan>/search.lam") < text.index("candidate #2")


def test_the_cli_explains_each_candidate_its_score_and_why_it_won(tmp_path: Path,
                                                                    capsys: pytest.CaptureFixture[str]) -> None:
    doc = tmp_path / "doc.txt"
    doc.write_text(DOC, encoding="utf-8")
    provider = ScriptedProvider(script=reader(confidence="99"))
    base = ["--task", "search", "--model", "lrtest/reader", "--window", "2048", "--output-tokens", "256",
            "--cache-dir", str(tmp_path / "cache"), "--quiet"]
    with registered(lrtest=provider):
        assert run_cli(cli_args(QUESTION_TEXT, str(doc), "--search", "4", "--dry-run", *base)) == 0
        assert provider.calls == 0
        dry = capsys.readouterr().out
        assert "search: 4 candidates, bound: calls ≤" in dry and "#4 search plan, leaves ≤" in dry
        assert run_cli(cli_args(QUESTION_TEXT, str(doc), "--search", "4", "--explain", *base)) == 0
        said = capsys.readouterr()
        out, explained = said.out, said.err  # the answer alone on stdout, the explanation on stderr
        assert run_cli(cli_args(QUESTION_TEXT, str(doc), "--search", "4", "--json", *base)) == 0
        data = json.loads(capsys.readouterr().out)
    assert "→#1 search plan (the single plan)" in explained and "'9032'  votes 1, confidence 99" in explained
    assert "chosen: #1 (3 of 4 answering candidates agree on '4417'; the next group has 1)" in explained
    assert out == "4417\n"
    assert data["value"] == "4417" and data["winner"] == 1 and len(data["candidates"]) == 4


def test_search_zero_is_a_usage_error() -> None:
    with pytest.raises(SystemExit):
        cli_args("q", "-", "--search", "0")


def test_the_search_example_runs() -> None:
    import subprocess
    import sys

    script = Path(__file__).resolve().parent.parent / "examples" / "search_candidates.py"
    done = subprocess.run([sys.executable, str(script), "20000"], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert lines[0].startswith("search: 4 candidates, bound: calls ≤")
    answer = re.fullmatch(r"answer: (\d+) \(gold (\d+)\), \d+ model calls in all", lines[-1])
    assert answer is not None and answer.group(1) == answer.group(2)
