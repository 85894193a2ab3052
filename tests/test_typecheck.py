"""Type inference as a table: (definitions, expected type of the last one) and (program, error kind, message part)."""

from __future__ import annotations

import pytest

from lambda_rlm import compile
from lambda_rlm.core.errors import LambdaError, NameError_, TerminationError, TypeError_

TYPES = [
    ("def f x = x", "a -> a"),
    ("def f x y = x", "a -> b -> a"),
    ("def f = \\x -> [x, x]", "a -> List a"),
    ("def f xs = map (\\x -> x + 1) xs", "List Int -> List Int"),
    ("def f (x : Float) = x * 2.0", "Float -> Float"),
    ("def f x = x + 1", "Int -> Int"),
    ("def f x = x ++ \"!\"", "Text -> Text"),
    ("def f xs ys = xs ++ ys ++ [1]", "List Int -> List Int -> List Int"),
    ("def f = let id = \\x -> x in (id 1, id \"a\")", "(Int, Text)"),  # let-polymorphism
    ("def f r = (r : {name : Text, age : Int}).name", "{age : Int, name : Text} -> Text"),
    ("def f = {b = 1, a = true}.a", "Bool"),
    ("def f x = if x then 1 else 2", "Bool -> Int"),
    ("def f (c : Text) = llm \"Summarise {c}\"", "Text -> Text"),
    ("def f (c : Text) : Option Int = llm \"Count {c}\"", "Text -> Option Int"),
    ("def f (c : Text) = (llm c : List {k : Text, v : Int})", "Text -> List {k : Text, v : Int}"),
    ("def f (c : Text) = tokens (llm c) > 3", "Text -> Bool"),
    ("def f d = filter_map (\\c -> (llm c : Option Text)) (split d 100)", "Text -> List Text"),
    ("def f = divide 10 2 (\\c -> [c]) (\\a b -> a ++ b)", "Text -> List Text"),
    ("def f = counts [\"a\", \"b\", \"a\"]", "List (Text, Int)"),
    ("def f = cross [1] [\"x\"]", "List (Int, Text)"),
    ("def f x = not (x == 3) && x < 10 || false", "Int -> Bool"),
    ("def f = \"{1} and {[true]} and {{a = 1.5}}\"", "Text"),
    ("def g x = x\ndef f = g (g 1)", "Int"),
    ("def f = sum [1, 2] + len (lines \"a\\nb\")", "Int"),
    ("def f = most_common [\"a\"]", "Option Text"),
]


@pytest.mark.parametrize(("source", "expected"), TYPES)
def test_inferred_type(source: str, expected: str) -> None:
    assert compile(source).type == expected


ERRORS = [
    ("def f = 1 + \"a\"", TypeError_, "has type Text but is used as if its type is Int"),
    ("def f = if 1 then 2 else 3", TypeError_, "this condition has type Int"),
    ("def f = if true then 2 else \"x\"", TypeError_, "this branch has type Text"),
    ("def f = [1, \"a\"]", TypeError_, "this list item has type Text"),
    ("def f = map 3 [1]", TypeError_, "has type Int but is used as if its type is a -> b"),
    ("def f x = x.name", TypeError_, "cannot tell which record has the field 'name'"),
    ("def f = {a = 1}.b", TypeError_, "has no field 'b'"),
    ("def f = 1.x", TypeError_, "not a record"),
    ("def f = \"a\" - \"b\"", TypeError_, "'-' needs numbers"),
    ("def f = [1] < [2]", TypeError_, "'<' compares Int, Float or Text"),
    ("def f = 1 ++ 2", TypeError_, "'++' joins Text or lists"),
    ("def f = (\\x -> x) == (\\x -> x)", TypeError_, "contains a function and cannot be compared"),
    ("def f = \"{\\x -> x}\"", TypeError_, "cannot be put into text"),
    ("def f = (llm \"x\" : Int -> Int)", TypeError_, "an llm call cannot return Int -> Int"),
    ("def f = llm 3", TypeError_, "this prompt has type Int but is used as if its type is Text"),
    ("def f = (1 : Strng)", NameError_, "unknown type 'Strng'"),
    ("def f = (1 : Option)", TypeError_, "type 'Option' takes 1 argument"),
    ("def f = mapp", NameError_, "did you mean 'map'"),
    ("def f x = f x", TerminationError, "'f' refers to 'f'"),
    ("def f = \\x -> x x", TypeError_, "infinite type"),
    ("def map x = x", NameError_, "already a combinator"),
    ("def main (n : Int) = n", TypeError_, "must be Text"),
    ("def main (d : Text) (f : Int -> Int) = d", TypeError_, "the input 'f' of main"),
    ("def main (d : Text) = \\x -> x", TypeError_, "not a value that can be printed"),
]


@pytest.mark.parametrize(("source", "kind", "part"), ERRORS)
def test_type_error(source: str, kind: type[LambdaError], part: str) -> None:
    with pytest.raises(kind) as info:
        compile(source)
    assert part in info.value.message + " ".join(info.value.notes)
    assert info.value.span is not None and info.value.span.source.text == source


def test_error_format_has_location_caret_and_canonical_type_variables() -> None:
    with pytest.raises(TypeError_) as info:
        compile("def f (x : List b) (y : Int) =\n  x ++ y")
    text = info.value.format()
    assert text.splitlines()[0] == ("<string>:2:8: type error: the right operand of '++' has type Int "
                                    "but is used as if its type is List a")
    assert text.splitlines()[2] == "           ^"


def test_the_library_checks_and_every_combinator_has_a_type() -> None:
    from lambda_rlm.core.registry import standard_library

    lib = standard_library()
    prog = compile("def main (doc : Text) = doc", lib)
    assert prog.type == "Text -> Text"
    for name in ("split", "peek", "map", "filter", "fold", "reduce", "concat", "cross", "zip", "len",
                 "tokens", "first", "find", "best", "count", "merge_counts", "unique", "sort", "take",
                 "divide", "recover", "partition"):
        assert name in lib.combinators, name
