"""The parser: tables of (source, tree) for every construct, error reports, and a fuzz test."""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import REPO_ROOT
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from strategies import modules

from lambda_rlm.core.errors import ParseError
from lambda_rlm.lang import syntax as s
from lambda_rlm.lang.parser import parse_expr, parse_module, parse_signature, parse_type
from lambda_rlm.lang.pretty import pretty_module

V, N, T = s.Var, s.IntLit, s.TextLit
INT, TEXT, A, B = s.TCon("Int"), s.TCon("Text"), s.TVarE("a"), s.TVarE("b")


def app(f: s.Expr, *args: s.Expr) -> s.Expr:
    for a in args:
        f = s.App(f, a)
    return f


def op(o: str, left: s.Expr, right: s.Expr) -> s.BinOp:
    return s.BinOp(o, left, right)


def lam(names: str, body: s.Expr) -> s.Lam:
    return s.Lam(tuple(s.Param(n) for n in names.split()), body)


# --------------------------------------------------------------------- expressions

EXPRESSIONS: list[tuple[str, s.Expr]] = [
    # atoms
    ("x", V("x")),
    ("x'", V("x'")),
    ("_", V("_")),
    ("lettuce", V("lettuce")),
    ("iff", V("iff")),
    ("in_", V("in_")),
    ("42", N(42)),
    ("1_000_000", N(1_000_000)),
    ("3.25", s.FloatLit(3.25)),
    ("1_0.5e3", s.FloatLit(10_500.0)),
    ("2.5E-3", s.FloatLit(0.0025)),
    ("true", s.BoolLit(True)),
    ("false", s.BoolLit(False)),
    ("[]", s.ListLit(())),
    ("[1, x]", s.ListLit((N(1), V("x")))),
    ("{}", s.RecordLit(())),
    ("{a = 1, b = x}", s.RecordLit((("a", N(1)), ("b", V("x"))))),
    ("(1, x, y)", s.TupleLit((N(1), V("x"), V("y")))),
    ("((x))", V("x")),
    ("(x : Int)", s.Annot(V("x"), INT)),
    ("(llm p : Text)", s.Annot(s.Llm(V("p")), TEXT)),
    ("?summary : Text", s.Hole("summary", TEXT)),
    ("?f : (a -> b)", s.Hole("f", s.TFunE(A, B))),
    # postfix, application, llm
    ("r.a.b", s.Field(s.Field(V("r"), "a"), "b")),
    ("3.x", s.Field(N(3), "x")),
    ("f x y", app(V("f"), V("x"), V("y"))),
    ("f x.y", app(V("f"), s.Field(V("x"), "y"))),
    ("(f x).y", s.Field(app(V("f"), V("x")), "y")),
    ("llm p", s.Llm(V("p"))),
    ("llm p x", app(s.Llm(V("p")), V("x"))),
    ("llm r.prompt", s.Llm(s.Field(V("r"), "prompt"))),
    # pipes are application
    ("x |> f", app(V("f"), V("x"))),
    ("x |> f |> g", app(V("g"), app(V("f"), V("x")))),
    ("x |> f a", app(V("f"), V("a"), V("x"))),
    ("a + b |> f", app(V("f"), op("+", V("a"), V("b")))),
    # unary
    ("-3", s.UnOp("-", N(3))),
    ("-f x", s.UnOp("-", app(V("f"), V("x")))),
    ("not not b", s.UnOp("not", s.UnOp("not", V("b")))),
    ("f -x", op("-", V("f"), V("x"))),
    ("a - -b", op("-", V("a"), s.UnOp("-", V("b")))),
    # binary operators and their precedence
    ("a || b || c", op("||", op("||", V("a"), V("b")), V("c"))),
    ("a || b && c", op("||", V("a"), op("&&", V("b"), V("c")))),
    ("a && b == c", op("&&", V("a"), op("==", V("b"), V("c")))),
    *[(f"a {o} b", op(o, V("a"), V("b"))) for o in ("==", "!=", "<", "<=", ">", ">=")],
    ("a < b ++ c", op("<", V("a"), op("++", V("b"), V("c")))),
    ("a ++ b ++ c", op("++", V("a"), op("++", V("b"), V("c")))),
    ("a + b ++ c", op("++", op("+", V("a"), V("b")), V("c"))),
    ("a - b + c", op("+", op("-", V("a"), V("b")), V("c"))),
    ("a + b * c", op("+", V("a"), op("*", V("b"), V("c")))),
    ("a / b % c * d", op("*", op("%", op("/", V("a"), V("b")), V("c")), V("d"))),
    ("-a * b", op("*", s.UnOp("-", V("a")), V("b"))),
    # binders
    ("\\x -> x", lam("x", V("x"))),
    ("\\x y -> x", lam("x y", V("x"))),
    ("\\(x : Int) y -> x", s.Lam((s.Param("x", INT), s.Param("y")), V("x"))),
    ("\\x -> \\y -> x + y", lam("x", lam("y", op("+", V("x"), V("y"))))),
    ("let x = 1 in x", s.Let("x", N(1), V("x"))),
    ("let x : Int = 1 in x", s.Let("x", N(1), V("x"), INT)),
    ("let f x y = x in f", s.Let("f", lam("x y", V("x")), V("f"))),
    ("let f (x : Int) : Text = g x in f",
     s.Let("f", s.Lam((s.Param("x", INT),), s.Annot(app(V("g"), V("x")), TEXT)), V("f"))),
    ("let x = let y = 1 in y in x", s.Let("x", s.Let("y", N(1), V("y")), V("x"))),
    ("if c then a else b", s.If(V("c"), V("a"), V("b"))),
    ("if a then if b then c else d else e",
     s.If(V("a"), s.If(V("b"), V("c"), V("d")), V("e"))),
    ("\\x -> if x then 1 else 2 + 3", lam("x", s.If(V("x"), N(1), op("+", N(2), N(3))))),
    # comments and layout
    ("f -- a comment\n  x", app(V("f"), V("x"))),
    ("-- leading\nx -- trailing", V("x")),
    ("a\n+\nb", op("+", V("a"), V("b"))),
    # text
    ('""', T(())),
    ('"hi"', T(("hi",))),
    ('"a\\"b\\\\c\\{d\\}\\n\\t\\r\\0"', T(('a"b\\c{d}\n\t\r\0',))),
    ('"-- not a comment"', T(("-- not a comment",))),
    ('"hi {name}!"', T(("hi ", V("name"), "!"))),
    ('"{x}{y}"', T((V("x"), V("y")))),
    ('"{ {a = 1}.a }"', T((s.Field(s.RecordLit((("a", N(1)),)), "a"),))),
    ('"{\\x -> x}"', T((lam("x", V("x")),))),
    ('"""a "quoted" word"""', T(('a "quoted" word',))),
    ('"""{f "in{x}ner"}"""', T((app(V("f"), T(("in", V("x"), "ner"))),))),
    ('"""\n    Hello {name},\n      indented\n    bye\n    """',
     T(("Hello ", V("name"), ",\n  indented\nbye"))),
    ('"""\n  keep\n\n  blank lines\n"""', T(("keep\n\nblank lines",))),
    ('"""  first\n  second"""', T(("first\nsecond",))),
    ('"""{x}\n  a\n    b"""', T((V("x"), "\na\n  b"))),
]


@pytest.mark.parametrize(("source", "tree"), EXPRESSIONS)
def test_expression(source: str, tree: s.Expr) -> None:
    assert parse_expr(source) == tree


TYPES: list[tuple[str, s.TypeExpr]] = [
    ("Int", INT),
    ("a", A),
    ("List a", s.TCon("List", (A,))),
    ("Map Text (List a)", s.TCon("Map", (TEXT, s.TCon("List", (A,))))),
    ("a -> b -> a", s.TFunE(A, s.TFunE(B, A))),
    ("(a -> b) -> a", s.TFunE(s.TFunE(A, B), A)),
    ("List a -> b", s.TFunE(s.TCon("List", (A,)), B)),
    ("(a, b)", s.TTupleE((A, B))),
    ("{}", s.TRecordE(())),
    ("{x : Int, f : a -> b}", s.TRecordE((("x", INT), ("f", s.TFunE(A, B))))),
]


@pytest.mark.parametrize(("source", "tree"), TYPES)
def test_type(source: str, tree: s.TypeExpr) -> None:
    assert parse_type(source) == tree


def test_signature() -> None:
    assert parse_signature("map : (a -> b) -> List a -> List b") == s.Signature(
        "map", s.TFunE(s.TFunE(A, B), s.TFunE(s.TCon("List", (A,)), s.TCon("List", (B,)))))


MODULE = """\
-- A module: imports first, then definitions.
import "lib/util.lam"   -- a file, escapes allowed: "a\\"b"
import text.split
import io

def greeting (name : Text) : Text =
  \"\"\"
  Hello {name}!
  \"\"\"

def twice f x = f (f x)

def answer = 42
"""


def test_module() -> None:
    assert parse_module(MODULE) == s.Module(
        (s.Import("lib/util.lam", True), s.Import("text.split", False), s.Import("io", False)),
        (s.Def("greeting", (s.Param("name", TEXT),), TEXT, T(("Hello ", V("name"), "!"))),
         s.Def("twice", (s.Param("f"), s.Param("x")), None, app(V("f"), app(V("f"), V("x")))),
         s.Def("answer", (), None, N(42))),
    )


@pytest.mark.parametrize("source", ["", "   \n", "-- only a comment\n"])
def test_empty_module(source: str) -> None:
    assert parse_module(source) == s.Module((), ())


def test_import_file_escapes() -> None:
    assert parse_module('import "a\\"b\\\\c{d}"').imports == (s.Import('a"b\\c{d}', True),)


def test_spans_point_into_the_source() -> None:
    source = "def f x =\n  let y = x + 1 in\n  \"n = {y * 2}\""
    body = parse_module(source).defs[0].body
    assert isinstance(body, s.Let)
    assert (body.span.line, body.span.column) == (2, 3)
    assert body.value.span.text() == "x + 1"
    text = body.body
    assert isinstance(text, s.TextLit) and isinstance(text.parts[1], s.BinOp)
    assert text.parts[1].span.text() == "y * 2"
    assert text.parts[1].span.location() == "<string>:3:9"


# ------------------------------------------------------------------------ errors

# (source, report): the source is a module if it starts with `def`, else an expression. A
# report ending in "expected " checks only the start of a long list of expected tokens.
ERRORS: list[tuple[str, str]] = [
    ("1 +", """\
t.lam:1:4: syntax error: unexpected end of input
    1 +
       ^
  note: expected """),
    ("x $ y", """\
t.lam:1:3: syntax error: unexpected character '$'
    x $ y
      ^"""),
    ("def f x =\n  let y = x in\n  y +\n\ndef g = 1\n", """\
t.lam:5:1: syntax error: unexpected 'def'
    def g = 1
    ^
  note: expected """),
    ("let in = 1 in 2", """\
t.lam:1:5: syntax error: unexpected 'in'
    let in = 1 in 2
        ^
  note: expected a name"""),
    ("f (g x", """\
t.lam:1:7: syntax error: unexpected end of input
    f (g x
          ^
  note: expected ')', ',', ':'"""),
    ("if a then b", """\
t.lam:1:12: syntax error: unexpected end of input
    if a then b
               ^
  note: expected 'else'"""),
    ('"a\\qb"', """\
t.lam:1:3: syntax error: unknown escape '\\q'
    "a\\qb"
      ^^
  note: known escapes: \\n \\t \\r \\" \\\\ \\{ \\}"""),
    ('"a{b"', """\
t.lam:1:3: syntax error: unclosed '{' in text
    "a{b"
      ^
  note: write \\{ for a literal brace"""),
    ('"a}b"', """\
t.lam:1:3: syntax error: unmatched '}' in text
    "a}b"
      ^
  note: write \\} for a literal brace"""),
    ('"a{ }b"', """\
t.lam:1:3: syntax error: empty interpolation '{}'
    "a{ }b"
      ^^^"""),
    ("{a = 1, a = 2}", """\
t.lam:1:9: syntax error: field 'a' is given twice
    {a = 1, a = 2}
            ^"""),
]


@pytest.mark.parametrize(("source", "report"), ERRORS)
def test_error_report(source: str, report: str) -> None:
    with pytest.raises(ParseError) as info:
        (parse_module if source.startswith("def") else parse_expr)(source, "t.lam")
    text = info.value.format()
    assert text == report or (report.endswith("expected ") and text.startswith(report))


@pytest.mark.parametrize(("source", "message", "line_col"), [
    ('def f = "x\ny"', "unexpected character '\"'", (1, 9)),
    ("import 3", "unexpected '3'", (1, 8)),
    ('import "a\\qb"', "unknown escape '\\q'", (1, 8)),
    ("def f : Int -> = 1", "unexpected '='", (1, 16)),
    ("def = 1", "unexpected '='", (1, 5)),
    ("def f = 1\nimport x", "unexpected 'import'", (2, 1)),
    ("def f = \\ -> x", "unexpected '->'", (1, 11)),
    ("def f = {a : Int}", "unexpected ':'", (1, 12)),
    ("def f = (1, 2", "unexpected end of input", (1, 14)),
    ("def f = [1 2", "unexpected end of input", (1, 13)),
    ("def f = \"{x}\" \"{y\"", "unclosed '{' in text", (1, 16)),
])
def test_module_error(source: str, message: str, line_col: tuple[int, int]) -> None:
    with pytest.raises(ParseError) as info:
        parse_module(source, "m.lam")
    err = info.value
    assert err.message == message
    assert err.span is not None and (err.span.line, err.span.column) == line_col
    assert err.format().startswith(f"m.lam:{line_col[0]}:{line_col[1]}: syntax error: {message}")


def test_type_record_field_twice() -> None:
    with pytest.raises(ParseError, match="field 'a' is declared twice"):
        parse_type("{a : Int, a : Int}")


# -------------------------------------------------------- regressions (found by fuzzing)


@pytest.mark.parametrize("source", ["def x = 1 )", "def x = a == b == c", "def x = ?h : List Int"])
def test_end_of_input_among_expected_tokens(source: str) -> None:
    with pytest.raises(ParseError):
        parse_module(source)


def test_error_inside_interpolation_is_located_there() -> None:
    with pytest.raises(ParseError) as info:
        parse_module('def a = "x{1 +}y"\ndef b = 2\n', "m.lam")
    assert info.value.format().splitlines()[:3] == [
        "m.lam:1:15: syntax error: unexpected end of input",
        '    def a = "x{1 +}y"',
        "                  ^",
    ]


def test_huge_integer_literal() -> None:
    with pytest.raises(ParseError, match="too long"):
        parse_expr("1" * 5000)


@pytest.mark.parametrize("source", [
    "[" * 1000 + "]" * 1000,
    "- " * 1000 + "x",
    "f " + "(f " * 1000 + "x" + ")" * 1000,
])
def test_deep_nesting_is_a_parse_error(source: str) -> None:
    with contextlib.suppress(ParseError):
        parse_expr(source)


@pytest.mark.parametrize(("source", "tree"), [
    ('"""\\n  x{y}"""', T(("\n  x", V("y")))),
    ('"""\\n  a\n  b"""', T(("\n  a\n  b",))),  # the first line has no indentation
    ('"""a\\n\n  """', T(("a\n",))),
])
def test_escapes_take_no_part_in_dedent(source: str, tree: s.Expr) -> None:
    assert parse_expr(source) == tree


# --------------------------------------------------------------------------- fuzz

_TOKENS = (
    "let", "in", "if", "then", "else", "def", "import", "llm", "true", "false", "not",
    "x", "f", "x'", "lettuce", "Int", "List", "0", "12", "1_0", "3.5", "1.0e9", "1e5",
    '"a"', '""', '"{x}"', '"{"', '"\\q"', '"}"', '"""', '"""a{f "b"}"""', '"""\n  a\n  """',
    "(", ")", "[", "]", "{", "}", ",", ":", "=", ".", "?", "\\", "->", "|>", "||", "&&",
    "==", "!=", "<", "<=", ">", ">=", "++", "+", "-", "*", "/", "%", "--", "-- c\n",
    " ", "\n", "\t", "$", "'", "é",
)
FUZZ = settings(max_examples=1500, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def _parse_quietly(text: str) -> None:
    with contextlib.suppress(ParseError):
        parse_module(text)


@FUZZ
@given(st.text(max_size=60))
def test_fuzz_unicode(text: str) -> None:
    _parse_quietly(text)


@FUZZ
@given(st.lists(st.sampled_from(_TOKENS), max_size=30), st.sampled_from([" ", ""]))
def test_fuzz_token_soup(tokens: list[str], sep: str) -> None:
    _parse_quietly(sep.join(tokens))


# Real programs (the shipped examples and prelude) and printed random modules, mutated a little.
_SHIPPED = [p.read_text(encoding="utf-8") for p in sorted(
            [*(REPO_ROOT / "examples").glob("*.lam"), *(REPO_ROOT / "combinators").glob("*.lam")])]
_PROGRAMS = st.one_of(st.sampled_from(_SHIPPED or [""]), modules(2).map(pretty_module))


@settings(FUZZ, max_examples=300)
@given(_PROGRAMS, st.data())
def test_fuzz_mutated_programs(text: str, data: st.DataObject) -> None:
    for _ in range(data.draw(st.integers(1, 3))):
        at = data.draw(st.integers(0, len(text)))
        cut = data.draw(st.integers(0, 3))
        text = text[:at] + data.draw(st.sampled_from(("", *_TOKENS))) + text[at + cut:]
    _parse_quietly(text)


def test_the_grammar_is_strict_lalr() -> None:
    """No shift/reduce conflict and no terminal collision (the command builds it without the check)."""
    from lambda_rlm.lang.parser import build_lark

    build_lark(strict=True)


def _check_in(cache_dir: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "LAMBDA_RLM_CACHE_DIR": cache_dir, "LITELLM_LOCAL_MODEL_COST_MAP": "True"}
    return subprocess.run([sys.executable, "-m", "lambda_rlm", "check", "examples/search.lam"], capture_output=True,
                          text=True, env=env, cwd=REPO_ROOT, timeout=120)


def test_the_built_parser_is_kept_between_runs_and_a_bad_copy_is_rebuilt(tmp_path: Path) -> None:
    first = _check_in(str(tmp_path))
    kept = list(tmp_path.glob("parser-tables-lark-*.cache"))
    assert first.returncode == 0 and len(kept) == 1 and kept[0].stat().st_size > 0
    second = _check_in(str(tmp_path))  # served by the kept tables: the same analysis, word for word
    assert (second.returncode, second.stdout, second.stderr) == (0, first.stdout, first.stderr)
    kept[0].write_bytes(b"not tables at all")  # damaged: rebuilt, silently
    third = _check_in(str(tmp_path))
    assert (third.returncode, third.stdout, third.stderr) == (0, first.stdout, "")


def test_a_cache_folder_that_cannot_be_made_costs_only_the_build(tmp_path: Path) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("in the way")
    done = _check_in(str(blocker / "cache"))  # its parent is a file: no folder, no tables kept
    assert done.returncode == 0 and done.stderr == "" and "calls ≤" in done.stdout
