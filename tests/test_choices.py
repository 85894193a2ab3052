"""Multiple choice: `options` reads a question's lettered choices, `choose` picks one by its text in one
leaf; their types, the bound by hand, the plan end to end through litellm, and the re-ask of a reply
that is not one of the choices."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
from providers import ScriptedProvider, registered

from lambda_rlm import LambdaError, run
from lambda_rlm import compile as compile_program
from lambda_rlm.analysis.cost import MESSAGE_OVERHEAD, CostModel
from lambda_rlm.combinators.choices import options, pick_prompt, stem
from lambda_rlm.runtime.session import Config
from lambda_rlm.strategies.plan import compile_plan

QUESTION = """How many parameters does the function `setquit` declare?
A) 2
B) 3
C) 0
D) 1
Answer with the letter of the correct choice."""

SOURCE = '''import os

def helper(a, b, c):
    return a + b + c

def setquit():
    """Define new builtins 'quit' and 'exit'."""
    if os.sep == "\\\\":
        eof = "Ctrl-Z plus Return"
    return eof
'''


@pytest.mark.parametrize(("question", "found"), [
    (QUESTION, (("A", "2"), ("B", "3"), ("C", "0"), ("D", "1"))),
    ("Which colour?\n(A) red\n(B) dark blue\n(C) green", (("A", "red"), ("B", "dark blue"), ("C", "green"))),
    ("Pick:\n  a. one\n  b. two\n", (("a", "one"), ("b", "two"))),
    ("Which?\nA: yes\nB: no", (("A", "yes"), ("B", "no"))),
    ("Only one:\nA) lonely", ()),  # one line is not a choice between things
    ("Starts late:\nB) x\nC) y", ()),  # choices are lettered from A
    ("No choices here, just a question?", ()),
    ("Mixed:\nA) up\nb) down", ()),  # one run of letters keeps its case
])
def test_options_are_the_lettered_lines_from_a(question: str, found: tuple[tuple[str, str], ...]) -> None:
    assert options(question) == found


def test_the_stem_is_what_is_asked_before_the_choices() -> None:
    assert stem(QUESTION) == "How many parameters does the function `setquit` declare?"
    assert stem("Just asking?") == "Just asking?"


def test_the_constructs_have_their_types() -> None:
    assert compile_program("def main (doc : Text) (q : Text) : Option Text = choose doc q").type == \
        "Text -> Text -> Option Text"
    assert compile_program("def main (q : Text) : List (Text, Text) = options q").type == "Text -> List (Text, Text)"
    with pytest.raises(LambdaError):  # the passage is Text, not a list of pieces
        compile_program("def main (doc : Text) (q : Text) : Option Text = choose (split doc 100) q")


def test_the_bound_by_hand() -> None:
    model = CostModel(window=10_000, output_tokens=100)  # tokens are bytes, 64 per instruction
    asked = "Which?\\nA) x\\nB) y"  # as written in the program: 16 bytes once the escapes are read
    prog = compile_program(f'def main (doc : Text) : Option Text = choose (peek doc 0 500) "{asked}"')
    bound = prog.bound(model, 2_000)
    fixed = len(pick_prompt("", "", ()).encode())
    # the passage (500) and the question (16), each interpolated part allowed 2 tokens either side,
    # and each of at most 10 choices shown as "- " and a line break (3 bytes) allowed 2 more
    expected = fixed + 500 + 2 + 16 + 2 + 10 * (3 + 2) + 64 + MESSAGE_OVERHEAD
    assert (bound.calls, bound.max_prompt_tokens, bound.total_prompt_tokens) == (1, expected, expected)


def reader(messages: list[dict[str, Any]]) -> str:
    """Replies with the choice a perfect reader of SOURCE picks: the number of setquit's parameters."""
    prompt = messages[1]["content"]
    shown = re.findall(r"^- (.*)$", prompt, re.MULTILINE)
    if "def setquit():" not in prompt:
        return json.dumps({"answer": "NONE"})
    return json.dumps({"answer": next(c for c in shown if c == "0")})


def test_the_choice_plan_reads_the_named_definition_and_answers_with_its_letter(tmp_path: Path) -> None:
    provider = ScriptedProvider(script=reader)
    config = Config(model="lrtest/choices", window=4096, cache_dir=str(tmp_path))
    with registered(lrtest=provider):
        result = run(compile_plan("choice"), SOURCE, config, question=QUESTION)
    assert result.value == "C" and provider.calls == result.calls == 1 <= result.bound.calls
    sent = provider.sent[0].messages
    # the model sees the choices' texts, never their letters, and the definition it needs
    assert "- 2\n- 3\n- 0\n- 1\n" in sent[1]["content"] and "A)" not in sent[1]["content"]
    assert "one of the offered choices" in sent[0]["content"]
    assert "def setquit():" in sent[1]["content"]


def test_a_reply_that_is_no_choice_is_re_asked(tmp_path: Path) -> None:
    def letter_first(messages: list[dict[str, Any]]) -> str:
        if len(messages) == 2:  # the first ask: a small model's favourite letter
            return json.dumps({"answer": "B"})
        assert "is not one of: 2, 3, 0, 1, NONE" in messages[-1]["content"]
        return reader(messages[:2])

    provider = ScriptedProvider(script=letter_first)
    config = Config(model="lrtest/letters", window=4096, cache_dir=str(tmp_path), reasks=1)
    with registered(lrtest=provider):
        result = run(compile_plan("choice"), SOURCE, config, question=QUESTION)
    assert result.value == "C" and provider.calls == 2


def test_prose_is_read_most_relevant_chunk_first_and_none_goes_on(tmp_path: Path) -> None:
    filler = "The weather was mild and nothing much happened that week. " * 120
    doc = filler + "The lighthouse keeper painted the door green in spring. " + filler
    question = "What colour is the lighthouse door?\nA) red\nB) green\nC) white"

    def prose(messages: list[dict[str, Any]]) -> str:
        prompt = messages[1]["content"]
        return json.dumps({"answer": "green" if "door green" in prompt else "NONE"})

    provider = ScriptedProvider(script=prose)
    config = Config(model="lrtest/prose", window=2048, cache_dir=str(tmp_path), concurrency=1)
    with registered(lrtest=provider):
        result = run(compile_plan("choice"), doc, config, question=question)
    assert result.value == "B"
    # one request at a time: the chunk that names the door ranks first, and reading stops there
    assert provider.calls == 1 < result.bound.calls
