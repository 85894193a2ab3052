"""Every standard combinator, run through the real evaluator on pure programs (no model involved)."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from lambda_rlm import compile
from lambda_rlm.core.errors import EvalError
from lambda_rlm.core.values import Record, Some
from lambda_rlm.runtime.evaluator import Context, Evaluator
from lambda_rlm.text.tokens import WhitespaceTokenizer


async def _no_model(prompt: str, ty: Any, node: Any) -> Any:
    raise AssertionError("a pure program called the model")


def value(expr: str, tau: int | None = None, k: int | None = None) -> Any:
    program = compile(f"def main (doc : Text) = {expr}")
    ctx = Context(WhitespaceTokenizer(), tau, k)
    return asyncio.run(Evaluator(program, _no_model, ctx).run_main(["a b c d e f g h"]))


CASES = [
    ("split \"one two three four\" 3", ("one two", " three ", "four")),
    ("concat (split doc 2)", "a b c d e f g h"),
    ("len (split doc 4)", 4),
    ("partition doc 2", ("a b c d ", "e f g h")),
    ("peek doc 2 3", "b c"),
    ("tokens doc", 15),
    ("join \", \" [\"a\", \"b\"]", "a, b"),
    ("concat [\"a\", \"b\"]", "ab"),
    ("lines \"x\\ny\"", ("x", "y")),
    ("contains \"Hello\" \"hell\"", True),
    ("lower \"AbC\"", "abc"),
    ("trim \"  x \"", "x"),
    ("show [1, 2]", "[1, 2]"),
    ("parse_int \" 1,234 \"", Some(1234)),
    ("parse_int \"many\"", None),
    ("float_of 3", 3.0),
    ("map (\\x -> x * 2) [1, 2, 3]", (2, 4, 6)),
    ("filter (\\x -> x > 1) [1, 2, 3]", (2, 3)),
    ("filter_map (\\x -> if x > 1 then some (x * 10) else none) [1, 2, 3]", (20, 30)),
    ("fold (\\acc x -> acc ++ x) \"\" [\"a\", \"b\"]", "ab"),
    ("reduce (\\a b -> a - b) [10, 3, 2]", Some(5)),
    ("reduce (\\a b -> a + b) []", None),
    ("first [7, 8]", Some(7)),
    ("find (\\x -> x > 7) [7, 8, 9]", Some(8)),
    ("best (\\s -> tokens s) [\"a\", \"b c\", \"d e\"]", Some("b c")),
    ("count (\\x -> x > 1) [1, 2, 3]", 2),
    ("cross [1, 2] [\"a\"]", ((1, "a"), (2, "a"))),
    ("pairs [1, 2, 3]", ((1, 2), (1, 3), (2, 3))),
    ("zip [1, 2, 3] [true, false]", ((1, True), (2, False))),
    ("unique [3, 1, 3, 2, 1]", (3, 1, 2)),
    ('len (unique [{a = 1, b = "x"}, {b = "x", a = 1}, {a = 2, b = "x"}])', 2),
    ("len (unique [some 1, none, some 1, none])", 2),
    ("len (unique [\\x -> x + 1, \\x -> x + 1])", 2),  # functions are equal only to themselves
    ("sort [3, 1, 2]", (1, 2, 3)),
    ("take 2 [1, 2, 3]", (1, 2)),
    ("flatten [[1], [], [2, 3]]", (1, 2, 3)),
    ("counts [\"a\", \"b\", \"a\"]", (("a", 2), ("b", 1))),
    ("merge_counts [[(\"a\", 2)], [(\"b\", 5), (\"a\", 1)]]", (("b", 5), ("a", 3))),
    ("counts [3, 1, 3, 3]", ((3, 3), (1, 1))),  # over any values, not only texts
    ('matches "[0-9]+" "a 12 b 7 c"', ("12", "7")),
    ('matches "user=([a-z]+)" "user=ann, user=bo"', ("ann", "bo")),  # a group gives its text
    ('matches "x*" "abc"', ()),  # empty matches are no matches
    ('slice "abcdefg" 2 5', "cde"),
    ('slice "abcdefg" (0 - 3) 100', "efg"),
    ("counts [(1, \"x\"), (2, \"y\"), (1, \"x\")]", (((1, "x"), 2), ((2, "y"), 1))),
    ("merge_counts [[(true, 2)], [(false, 1), (true, 1)]]", ((True, 3), (False, 1))),
    ("default 0 (some 4)", 4),
    ("default 0 none", 0),
    ("is_some (first [])", False),
    ("fst (1, \"x\")", 1),
    ("snd (1, \"x\")", "x"),
    ("concat (divide 3 2 (\\c -> [c]) (\\a b -> a ++ b) doc)", "a b c d e f g h"),
    ("all (\\c -> tokens c <= 3) (divide 3 2 (\\c -> [c]) (\\a b -> a ++ b) doc)", True),
    ("recover (\\x -> x + 1) 0 41", 42),
    ("{n = 1, t = \"x\"}", Record({"n": 1, "t": "x"})),
    ('"""n={1 + 1} ok={true} xs={["a"]}"""', 'n=2 ok=true xs=["a"]'),
    ("sum [1, 2, 3]", 6),
    ("most_common [\"x\", \"y\", \"y\"]", Some("y")),
    ("over_chunks 4 tokens doc", (4, 4, 4, 3)),
    ("concat_map (\\x -> [x, x]) [1, 2]", (1, 1, 2, 2)),
    ("any (\\x -> x == 2) [1, 2]", True),
    ("all (\\x -> x == 2) [1, 2]", False),
    ("compose (\\x -> x + 1) (\\x -> x * 2) 5", 11),
    ("(tau, fanout)", (7, 3)),
    ("7 / 2 + 7 % 2 - -1", 5),
    ("7.0 / 2.0", 3.5),
]


@pytest.mark.parametrize(("expr", "expected"), CASES, ids=[c[0][:40] for c in CASES])
def test_combinator(expr: str, expected: Any) -> None:
    assert value(expr, tau=7, k=3) == expected


@pytest.mark.parametrize(("expr", "message"), [
    ("1 / 0", "division by zero"),
    ("split doc 0", "at least 1 token"),
    ("len (sort [\\x -> x, \\x -> x])", "cannot be ordered"),
])
def test_runtime_errors_are_located(expr: str, message: str) -> None:
    with pytest.raises(EvalError) as info:
        value(expr)
    assert message in info.value.message and info.value.span is not None


def test_a_researcher_adds_a_combinator_with_one_decorated_function() -> None:
    import types

    from lambda_rlm.analysis import absdomain as a
    from lambda_rlm.core.registry import combinator, standard_library

    module = types.ModuleType("my_combinators")

    @combinator("shout : Text -> Text", size=lambda t: t)
    def shout(text: str) -> str:
        return text.upper() + "!"

    module.shout = shout  # type: ignore[attr-defined]
    lib = standard_library(extra=[module])
    program = compile("def main (doc : Text) = shout (peek doc 0 2)", lib)
    assert program.type == "Text -> Text"
    result = asyncio.run(Evaluator(program, _no_model, Context(WhitespaceTokenizer())).run_main(["hi there"]))
    assert result == "HI !"
    assert isinstance(a.Text(3), a.Text)


def test_the_custom_combinator_example_runs() -> None:
    import subprocess
    import sys
    from pathlib import Path

    script = Path(__file__).resolve().parent.parent / "examples" / "custom_combinator.py"
    done = subprocess.run([sys.executable, str(script)], input="Long Documents Defeat Models",
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines() == ["main : Text -> Text", "bound: 0 model calls", "value: LDDM"]


# ------------------------------------------------------------------ which applications may wait

WAITING = """
def leafy (x : Text) : Text = llm "{x}"
def calls_leafy (x : Text) : Text = leafy x ++ "!"
def plain (x : Text) : Text = lower x ++ "!"
def apply_to (f : Text -> Text) (x : Text) : Text = f x
def main (doc : Text) : List Text = map plain (split doc 10)
"""


def test_may_wait_tells_symbolic_functions_from_those_that_reach_a_leaf() -> None:
    import asyncio

    from lambda_rlm.runtime.evaluator import Context, Evaluator, may_wait
    from lambda_rlm.text.tokens import WhitespaceTokenizer

    async def never(prompt: str, ty: object, node: object) -> str:
        raise AssertionError("no leaf is evaluated here")

    async def check() -> None:
        ev = Evaluator(compile(WAITING), never, Context(WhitespaceTokenizer()))
        env = await ev.globals()
        assert may_wait(env["leafy"]) and may_wait(env["calls_leafy"])
        assert not may_wait(env["plain"]) and not may_wait(env["lower"]) and not may_wait(env["apply_to"])
        assert may_wait(await env["apply_to"](env["leafy"]))  # the function it was given may wait
        assert not may_wait(await env["apply_to"](env["plain"]))
        assert may_wait(await env["map"](env["leafy"])) and not may_wait(await env["map"](env["plain"]))
        assert may_wait(env["graph"]) and may_wait(object())  # the model through ctx; unknown values

    asyncio.run(check())



def test_matches_has_no_length_bound_so_a_leaf_over_it_needs_take() -> None:
    from lambda_rlm import compile as compile_program
    from lambda_rlm.core.errors import CostError, EvalError

    leaf = 'def f (c : Text) : Text = llm "{c}"\n'
    with pytest.raises(CostError, match="no bound"):
        compile_program(leaf + 'def main (doc : Text) : List Text = map f (matches "a" doc)').cost(1000)
    assert compile_program(leaf + 'def main (doc : Text) : List Text = map f (take 5 (matches "a" doc))'
                           ).cost(1000).calls == 5
    with pytest.raises(EvalError, match="not a regular expression"):
        from lambda_rlm import Config, run
        run('def main (doc : Text) : List Text = matches "(" doc', "x", Config(model="reference/8k"))
