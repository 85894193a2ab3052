"""Typed holes end to end: scripted models write bodies in our language; bodies are parsed, checked, bounded
and evaluated, or re-asked with the diagnostic; the run stays within its static bound throughout."""

from __future__ import annotations

import io
import re
from pathlib import Path
from typing import Any

import pytest
from providers import ScriptedProvider, priced_model, prompt_of, registered
from rich.console import Console
from test_lint import _unsafe_calls

from lambda_rlm import compile
from lambda_rlm.analysis import holes
from lambda_rlm.analysis.holes import HoleLimits
from lambda_rlm.cli.progress import render_trace
from lambda_rlm.core.errors import BudgetExceeded, CostError, HoleError, LambdaError, TypeError_
from lambda_rlm.runtime.session import Config, Result, run
from lambda_rlm.runtime.trace import read

ROOT = Path(__file__).resolve().parent.parent
WRITER = re.compile(r"Write one expression of the lambda-rlm language to fill the hole \?(\w+)")
REJECTED = "Your previous expression was rejected:\n"

ANSWER = "def main (doc : Text) (question : Text) : Text = ?answer : Text"
GOOD = 'llm "Answer {question} from: {peek doc 0 40}"'


def scripted(bodies: dict[str, list[str]]) -> ScriptedProvider:
    """A model that writes `bodies[hole]` in order (the next one after each rejection) and answers
    leaves with `NOTE` and the first words of their prompt."""
    def script(messages: list[dict[str, Any]]) -> str:
        prompt = prompt_of(messages)
        hole = WRITER.match(prompt)
        if hole is None:
            return "NOTE " + " ".join(prompt.split()[-3:])
        replies = bodies[hole.group(1)]
        if REJECTED not in prompt:
            return replies[0]
        previous = prompt.split(REJECTED, 1)[1].split("\n\n", 1)[0]
        later = [r for i, r in enumerate(replies) if i > 0 and replies[i - 1] == previous]
        return later[0] if later else previous
    return ScriptedProvider(script=script)


def config(tmp_path: Path, **kw: Any) -> Config:
    return Config(model="lrhole/m", window=kw.pop("window", 4096), output_tokens=kw.pop("output_tokens", 128),
                  cache_dir=str(tmp_path / "cache"), trace_path=str(tmp_path / "trace.jsonl"), **kw)


def hole_run(tmp_path: Path, program: str | Path, bodies: dict[str, list[str]], doc: str = "The sky is blue.",
             **kw: Any) -> tuple[Result, ScriptedProvider]:
    provider = scripted(bodies)
    text = program.read_text(encoding="utf-8") if isinstance(program, Path) else program
    inputs = {"question": "What colour is the sky?"} if "question" in text else {}
    with registered(lrhole=provider):
        result = run(program, doc, config(tmp_path, **kw), **inputs)
    assert result.calls <= result.bound.calls
    return result, provider


def events(result: Result, kind: str) -> list[dict[str, Any]]:
    return [e for e in result.trace if e["event"] == kind]


def test_a_hole_filled_on_the_first_try(tmp_path: Path) -> None:
    result, provider = hole_run(tmp_path, ANSWER, {"answer": [GOOD]})
    assert result.value == "NOTE sky is blue."
    assert result.calls == provider.calls == 2  # the writer, then the body's one leaf
    (start,), (body,), (end,) = events(result, "hole_start"), events(result, "hole_body"), events(result, "hole_end")
    assert (start["name"], start["depth"], start["parent"], start["type"]) == ("answer", 1, None, "Text")
    assert body["source"] == GOOD and body["bound_calls"] == 1
    assert end["ok"] and end["calls"] == 2 and end["hole"] == start["hole"]
    # The writer saw the hole, its names with their types, the library, and the limits.
    writer = prompt_of(provider.sent[0].messages)
    for part in ("?answer : Text", "  doc : Text", "  question : Text", "  split : Text -> Int -> List Text",
                 "depth 1 of at most 3", "at most 18 model calls"):
        assert part in writer
    # The body's leaf is counted under the hole in the trace.
    assert [e.get("hole") for e in events(result, "leaf_end")] == [start["hole"], start["hole"]]


@pytest.mark.parametrize(("bad", "diagnostic"), [
    ("tokens doc", "<hole ?answer>:1:1: type error: this expression has type Int but is used as if its type is Text"),
    ('llm "{answer}"', "<hole ?answer>:1:7: name error: unknown name 'answer'"),
    ('llm "x" ++', "<hole ?answer>:1:11: syntax error: unexpected end of input"),
    ('join " " (map (\\c -> llm c) (split doc 3))',
     "cost error: this expression may make up to 4 model calls, more than the 2"),
])
def test_a_rejected_body_is_re_asked_with_its_diagnostic_and_repaired(tmp_path: Path, bad: str,
                                                                      diagnostic: str) -> None:
    doc = "The sky is blue. " * 2
    result, provider = hole_run(tmp_path, ANSWER, {"answer": [bad, GOOD]}, doc=doc, hole_calls=2, max_hole_depth=1)
    assert result.value.startswith("NOTE") and result.calls == provider.calls == 3
    (retry,) = events(result, "hole_retry")
    assert diagnostic in retry["diagnostic"] and retry["attempt"] == 1
    reask = prompt_of(provider.sent[1].messages)
    assert f"{REJECTED}{bad}\n\n" in reask and diagnostic in reask
    assert events(result, "hole_body")[0]["attempt"] == 2


def test_a_body_in_a_code_fence_is_accepted(tmp_path: Path) -> None:
    result, _ = hole_run(tmp_path, ANSWER, {"answer": [f"```lambda-rlm\n{GOOD}\n```"]})
    assert result.value.startswith("NOTE") and events(result, "hole_body")[0]["source"] == GOOD


NESTED = {"answer": ['"A: " ++ ?inner : Text'], "inner": ['"B: " ++ ?innermost : Text'],
          "innermost": [GOOD]}


def test_nested_holes_up_to_the_depth_limit(tmp_path: Path) -> None:
    result, provider = hole_run(tmp_path, ANSWER, NESTED, max_hole_depth=3)
    assert result.value == "A: B: NOTE sky is blue."
    starts = events(result, "hole_start")
    assert [(e["name"], e["depth"]) for e in starts] == [("answer", 1), ("inner", 2), ("innermost", 3)]
    assert [e["parent"] for e in starts] == [None, starts[0]["hole"], starts[1]["hole"]]
    ends = {e["name"]: e["calls"] for e in events(result, "hole_end")}
    assert ends == {"innermost": 2, "inner": 3, "answer": 4} == {**ends, "answer": provider.calls}
    # The static bound holds the whole expansion: W + B(1) with hole_calls 4, 2 re-asks, depth 3.
    assert result.bound.calls == holes.allowance(HoleLimits(), 1) == 3 + 18
    text = io.StringIO()
    render_trace(read(tmp_path / "trace.jsonl"), Console(file=text, width=200))
    tree = text.getvalue()
    assert re.search(r"hole \?answer : Text  depth 1  ✓ 4 calls", tree)
    assert re.search(r"hole \?innermost : Text  depth 3  ✓ 2 calls", tree)
    assert tree.index("?answer") < tree.index("?inner ") < tree.index("?innermost") < tree.index("run_end")


def test_a_hole_beyond_the_depth_limit_is_refused(tmp_path: Path) -> None:
    with pytest.raises(HoleError) as info:
        hole_run(tmp_path, ANSWER, NESTED, max_hole_depth=2)
    err = info.value
    assert err.kind == "hole error" and "?inner " in err.message and "in 3 attempts" in err.message
    assert "written at depth 3, deeper than the limit of 2" in err.format()
    trace = read(tmp_path / "trace.jsonl")
    assert [e["ok"] for e in trace if e["event"] == "hole_end"] == [False, False]
    assert [e["kind"] for e in trace if e["event"] == "run_error"] == ["hole error"]


def test_holes_are_refused_before_the_run_when_turned_off(tmp_path: Path) -> None:
    with pytest.raises(CostError, match="holes are turned off|deeper than the limit of 0"):
        hole_run(tmp_path, ANSWER, {}, max_hole_depth=0)


MAPPED = ("def main (doc : Text) : List Text =\n"
          "  map (\\chunk -> ?note : Text) (split doc 5)")


def test_a_hole_inside_map_is_written_once_and_evaluated_per_item(tmp_path: Path) -> None:
    doc = "One two three four. Five six seven eight. Nine ten eleven twelve."
    result, provider = hole_run(tmp_path, MAPPED, {"note": ['llm "Note on: {chunk}"']}, doc=doc)
    n = len(result.value)
    assert n >= 3 and all(v.startswith("NOTE") for v in result.value)
    assert result.calls == provider.calls == 1 + n
    assert [e["reused"] for e in events(result, "hole_body")] == [False] + [True] * (n - 1)
    assert result.bound.calls >= n * holes.allowance(HoleLimits(), 1)


def test_a_hole_inside_if_is_written_only_when_its_branch_runs(tmp_path: Path) -> None:
    program = 'def main (doc : Text) : Text = if tokens doc > 1000 then ?long : Text else ?short : Text'
    result, _ = hole_run(tmp_path, program, {"short": ['"short: " ++ doc']})
    assert result.value == "short: The sky is blue."
    assert [e["name"] for e in events(result, "hole_start")] == ["short"]


def test_a_body_cannot_call_the_definition_that_holds_it(tmp_path: Path) -> None:
    program = ("def helper (doc : Text) : Text = ?h : Text\n"
               "def main (doc : Text) : Text = helper doc")
    with pytest.raises(HoleError) as info:
        hole_run(tmp_path, program, {"h": ["helper doc"]})
    assert "unknown name 'helper'" in info.value.format()


def test_a_body_larger_than_the_hole_allows_is_refused(tmp_path: Path) -> None:
    with pytest.raises(HoleError) as info:
        hole_run(tmp_path, ANSWER, {"answer": ["doc ++ doc ++ doc"]}, doc="The sky is blue. " * 4,
                 output_tokens=16, max_hole_depth=1)
    assert "value may be larger than" in info.value.format()


PYTHON = [
    'import os; os.system("touch {pwned}")',
    "__import__('pathlib').Path('{pwned}').write_text('x')",
    "lambda x: open('{pwned}', 'w').write(x)",
    "def main(doc):\n    return eval(doc)",
]


def test_python_replies_are_rejected_as_programs_and_never_run(tmp_path: Path) -> None:
    pwned = tmp_path / "pwned"
    bodies = [p.replace("{pwned}", str(pwned)) for p in PYTHON]
    with pytest.raises(HoleError) as info:
        hole_run(tmp_path, ANSWER, {"answer": bodies}, hole_reasks=3)
    assert not pwned.exists()
    retries = [e for e in read(tmp_path / "trace.jsonl") if e["event"] == "hole_retry"]
    assert [e["kind"] for e in retries] == ["syntax error"] * 4
    assert "in 4 attempts" in info.value.message and "syntax error" in info.value.message


def test_no_code_execution_in_the_hole_modules() -> None:
    """The grep-able guarantee: model text goes to our parser only."""
    paths = [*ROOT.glob("lambda_rlm/**/*.py")]
    assert {"holes.py", "expand.py", "evaluator.py"} <= {p.name for p in paths}
    for path in paths:
        assert _unsafe_calls(path) == []
        assert not re.search(r"(?<![\w.])(exec|eval)\(", path.read_text(encoding="utf-8")), path


def test_a_call_budget_below_the_bound_refuses_the_run_before_any_call(tmp_path: Path) -> None:
    with pytest.raises(BudgetExceeded, match="may make up to 21 calls") as info:
        hole_run(tmp_path, ANSWER, {"answer": [GOOD]}, max_calls=5)
    assert "nothing was run" in info.value.format()


def test_a_money_budget_cuts_a_hole_off_cleanly_and_a_rerun_resumes_from_the_cache(tmp_path: Path) -> None:
    doc = " ".join(f"Sentence number {i} is here." for i in range(20))
    bodies = {"note": ['llm "Note on: {chunk}"']}
    with priced_model("lrhole/m", 1e-6):
        # Enough for the writer (whose prompt lists the library, so this follows its size) and a few notes.
        with pytest.raises(BudgetExceeded):
            hole_run(tmp_path, MAPPED, bodies, doc=doc, max_usd=0.0016, concurrency=1)
        cut = read(tmp_path / "trace.jsonl")
        done = [e for e in cut if e["event"] == "leaf_end"]
        assert [e["kind"] for e in cut if e["event"] == "run_error"] == ["budget exceeded"]
        assert any(e["event"] == "hole_end" and not e["ok"] for e in cut)
        result, provider = hole_run(tmp_path, MAPPED, bodies, doc=doc)
    assert 2 <= len(done) < 1 + len(result.value)  # the writer and some notes were paid for, not all
    # No result was lost: every call finished before the cut is served from the cache now.
    hits = {e["key"] for e in events(result, "leaf_end") if e["cached"]}
    assert {e["key"] for e in done} <= hits and provider.calls == result.calls == 1 + len(result.value) - len(
        [e for e in events(result, "leaf_end") if e["cached"]])


# ---------------------------------------------------------------------- static rules


@pytest.mark.parametrize(("source", "message"), [
    ("def main (doc : Text) : Text = (?f : (Text -> Text)) doc", "a hole cannot have a function type"),
    ("def main (doc : Text) : Text = default doc (first (?xs : (List a)))", "must be concrete"),
])
def test_a_hole_type_must_be_a_concrete_data_type(source: str, message: str) -> None:
    with pytest.raises(TypeError_, match=message):
        compile(source)


def test_a_hole_sees_data_locals_and_definitions_but_not_local_functions_or_its_own_definition() -> None:
    prog = compile("def shout (t : Text) : Text = t ++ \"!\"\n"
                   "def main (doc : Text) (n : Int) : Text =\n"
                   "  let f = \\x -> x ++ doc in let parts = split doc n in ?pick : Text")
    (scope,) = prog.typing.hole_scopes.values()
    assert {"shout", "doc", "n", "parts"} <= set(scope) and not {"f", "main", "split"} & set(scope)


def test_the_allowance_rule() -> None:
    m = HoleLimits(calls=4, reasks=2, max_depth=3)
    assert [holes.body_calls(m, d) for d in (3, 2, 1)] == [4, 11, 18]
    assert holes.allowance(m, 1) == 21 and holes.writer_calls(m) == 3


def test_the_example_runs_with_a_scripted_writer(tmp_path: Path) -> None:
    doc = "The sky is blue. " * 40
    bodies = {"note_on_chunk_for_question": ['llm "{question}\\n{chunk}"'],
              "answer_from_notes": ['let all = join "; " notes in llm "Answer {question} from: {all}"']}
    result, _ = hole_run(tmp_path, ROOT / "examples" / "holes.lam", bodies, doc=doc)
    assert isinstance(result.value, str) and result.value.startswith("NOTE")


def test_errors_from_a_body_point_into_the_body(tmp_path: Path) -> None:
    with pytest.raises(LambdaError) as info:
        hole_run(tmp_path, ANSWER, {"answer": ['llm "{question}" ++ 3']})
    assert "<hole ?answer>:1:" in info.value.format()
