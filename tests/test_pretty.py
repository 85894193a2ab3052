"""The printer round-trips with the parser and parenthesises only where precedence demands."""

from __future__ import annotations

from pathlib import Path

import pytest
from conftest import REPO_ROOT
from hypothesis import HealthCheck, given, settings
from strategies import exprs, modules, signatures, types

from lambda_rlm.lang import syntax as s
from lambda_rlm.lang.parser import parse_expr, parse_module, parse_signature, parse_type
from lambda_rlm.lang.pretty import UnprintableError, pretty, pretty_expr, pretty_module, pretty_signature, pretty_type

PROPERTY = settings(max_examples=300, deadline=None,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much])

# ------------------------------------------------------------------- round trips


@PROPERTY
@given(exprs())
def test_expressions_round_trip(e: s.Expr) -> None:
    assert parse_expr(pretty_expr(e)) == e


@PROPERTY
@given(types())
def test_types_round_trip(t: s.TypeExpr) -> None:
    assert parse_type(pretty_type(t)) == t


@settings(PROPERTY, max_examples=150)
@given(modules())
def test_modules_round_trip(m: s.Module) -> None:
    assert parse_module(pretty_module(m)) == m


@settings(PROPERTY, max_examples=100)
@given(signatures())
def test_signatures_round_trip(sig: s.Signature) -> None:
    assert parse_signature(pretty_signature(sig)) == sig


@pytest.mark.parametrize("path", sorted(
    [*(REPO_ROOT / "examples").glob("*.lam"), *(REPO_ROOT / "combinators").glob("*.lam")]),
    ids=lambda p: p.name)
def test_shipped_programs_round_trip(path: Path) -> None:
    module = parse_module(path.read_text(encoding="utf-8"), str(path))
    assert parse_module(pretty_module(module)) == module


# ---------------------------------------------------------- canonical printing
# (source, what the printer writes for the parsed tree): the printed text must also
# parse back to the same tree, so each row checks minimal parentheses and the round trip.

EXPRESSIONS = [
    ("(a + b) * c", "(a + b) * c"),
    ("a + (b * c)", "a + b * c"),
    ("a - (b - c)", "a - (b - c)"),
    ("(a - b) - c", "a - b - c"),
    ("a / b * c % d", "a / b * c % d"),
    ("f (g x)", "f (g x)"),
    ("(f g) x", "f g x"),
    ("-(f x)", "-f x"),
    ("(-f) x", "(-f) x"),
    ("f (-x)", "f (-x)"),
    ("- (- x)", "- -x"),
    ("a - -b", "a - -b"),
    ("-a * b", "-a * b"),
    ("-(a * b)", "-(a * b)"),
    ("not (a && b)", "not (a && b)"),
    ("not a && b", "not a && b"),
    ("not (not x)", "not not x"),
    ("(\\x -> x) y", "(\\x -> x) y"),
    ("\\x -> \\y -> x", "\\x -> \\y -> x"),
    ("\\x (y : Int) -> x", "\\x (y : Int) -> x"),
    ("a |> f |> g", "g (f a)"),
    ("x |> f a", "f a x"),
    ("(if c then a else b).x", "(if c then a else b).x"),
    ("(f x).y", "(f x).y"),
    ("f x.y", "f x.y"),
    ("r.a.b", "r.a.b"),
    ("a ++ b ++ c", "a ++ b ++ c"),
    ("(a ++ b) ++ c", "(a ++ b) ++ c"),
    ("a + b ++ c", "a + b ++ c"),
    ("(a == b) == c", "(a == b) == c"),
    ("(a < b) == (c < d)", "(a < b) == (c < d)"),
    ("a + 1 < b * 2", "a + 1 < b * 2"),
    ("a || b && c", "a || b && c"),
    ("(a || b) && c", "(a || b) && c"),
    ("a || (b || c)", "a || (b || c)"),
    ("a + (if c then 1 else 2)", "a + (if c then 1 else 2)"),
    ("if a then \\x -> x else let y = 1 in y", "if a then \\x -> x else let y = 1 in y"),
    ("let x = let y = 1 in y in x", "let x = let y = 1 in y in x"),
    ("let f x = x in f", "let f = \\x -> x in f"),
    ("let f (x : Int) : Int = x in f", "let f = \\(x : Int) -> (x : Int) in f"),
    ("let x : Int = 1 in x", "let x : Int = 1 in x"),
    ("llm x y", "llm x y"),
    ("f (llm x)", "f (llm x)"),
    ("llm (f x)", "llm (f x)"),
    ("llm x.y", "llm x.y"),
    ("(llm x).y", "(llm x).y"),
    ("-llm x", "-llm x"),
    ("?h : Int", "?h : Int"),
    ("?h : (List a)", "?h : (List a)"),
    ("?h : (Int -> Int)", "?h : (Int -> Int)"),
    ("(?h : a).x", "?h : a.x"),
    ("f (?h : a) b", "f ?h : a b"),
    ("(x : List Int)", "(x : List Int)"),
    ("((x, y), [z], {a = 1})", "((x, y), [z], {a = 1})"),
    ("[]", "[]"),
    ("{}", "{}"),
    ("1_000", "1000"),
    ("1.5", "1.5"),
    ("1.0e20", "1.0e+20"),
    ("2.5e-7", "2.5e-07"),
    ("3.x", "3.x"),
    ("true && false", "true && false"),
    ('"a\\"b\\\\c\\{d\\}\\n\\t\\r\\0"', '"a\\"b\\\\c\\{d\\}\\n\\t\\r\\0"'),
    ('"hi {name}!"', '"hi {name}!"'),
    ('"{ {a = 1}.a }{x}"', '"{{a = 1}.a}{x}"'),
    ('"{\\x -> x}"', '"{\\x -> x}"'),
    ('"""{f "a{x}b"}"""', '"""{f "a{x}b"}"""'),
    ('"""\n    line {f "x"}\n    """', '"""line {f "x"}"""'),
    ('"""\n\n{f "x"}"""', '"""\\n{f "x"}"""'),
    ('"""{f "x"}\n  \n  """', '"""{f "x"}\\n  """'),
    ('"""\\n  {f "x"}\\n  """', '"""\\n  {f "x"}\\n  """'),
]


@pytest.mark.parametrize(("source", "printed"), EXPRESSIONS)
def test_expression_printing(source: str, printed: str) -> None:
    tree = parse_expr(source)
    assert pretty_expr(tree) == printed
    assert parse_expr(printed) == tree


TYPES = [
    ("Int", "Int"),
    ("(a -> b) -> c", "(a -> b) -> c"),
    ("a -> (b -> c)", "a -> b -> c"),
    ("List (List a)", "List (List a)"),
    ("(List a)", "List a"),
    ("Map Text (a -> b)", "Map Text (a -> b)"),
    ("List a -> Option b", "List a -> Option b"),
    ("(a, {x : Int, y : List b})", "(a, {x : Int, y : List b})"),
    ("{}", "{}"),
]


@pytest.mark.parametrize(("source", "printed"), TYPES)
def test_type_printing(source: str, printed: str) -> None:
    tree = parse_type(source)
    assert pretty_type(tree) == printed
    assert parse_type(printed) == tree


def test_module_layout() -> None:
    source = """
    import "lib/util.lam"   -- a file
    import text.split
    def id x = x
    def add (x : Int) (y : Int) : Int = x + y
    """
    expected = (
        'import "lib/util.lam"\nimport text.split\n\n'
        "def id x = x\n\n"
        "def add (x : Int) (y : Int) : Int = x + y\n"
    )
    assert pretty(parse_module(source)) == expected
    assert pretty_module(s.Module((), ())) == ""


def test_pretty_dispatches_on_node_kind() -> None:
    assert pretty(parse_type("a -> b")) == "a -> b"
    assert pretty(parse_signature("map : (a -> b) -> List a -> List b")) == (
        "map : (a -> b) -> List a -> List b")
    assert pretty(s.Import('a"b', True)) == 'import "a\\"b"'


# -------------------------------------------------------------- no concrete syntax

UNPRINTABLE = [
    s.IntLit(-3),
    s.FloatLit(-1.5),
    s.FloatLit(float("inf")),
    s.FloatLit(float("nan")),
    # text inside text inside text: a triple-quoted literal cannot hold another one
    s.TextLit((s.TextLit((s.TextLit(("x",)),)),)),
    # needs triple quotes, whose dedent would strip the leading space (no escape for a space)
    s.TextLit((" a", s.TextLit(("x",)))),
    s.TextLit((" \n", s.Var("x"), s.TextLit(("x",)))),
]


@pytest.mark.parametrize("tree", UNPRINTABLE, ids=repr)
def test_trees_without_concrete_syntax_are_refused(tree: s.Expr) -> None:
    with pytest.raises(UnprintableError):
        pretty_expr(tree)
