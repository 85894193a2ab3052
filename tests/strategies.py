"""Hypothesis strategies: well-formed syntax trees (types, expressions, definitions, modules).

Every tree drawn here is one some source text parses to, so `parse(pretty(tree)) == tree`
must hold for all of them. Trees no source gives are left out on purpose: negative number
literals (the parser reads `-3` as a negation), non-finite floats, records with a repeated
field, lambdas without parameters, one-item tuples, text whose pieces are not normalised
(empty or adjacent strings), text nested more than two literals deep, and text that needs
triple quotes (it holds text in an interpolation) but starts with a space (the parser's
dedent would eat it, and no escape writes a space).
"""

from __future__ import annotations

import re
from functools import cache

from hypothesis import strategies as st

from lambda_rlm.lang import syntax as s
from lambda_rlm.lang.pretty import UnprintableError, pretty_expr

KEYWORDS = ("let", "in", "if", "then", "else", "def", "import", "llm", "true", "false", "not")
# The grammar's NAME token: a keyword followed by a non-word character (`if'`) is not a name.
NAME_RE = re.compile(r"(?!(" + "|".join(KEYWORDS) + r")\b)[a-z_][A-Za-z0-9_']*")
BINOPS = ("||", "&&", "==", "!=", "<", "<=", ">", ">=", "++", "+", "-", "*", "/", "%")

# Names that look like keywords but are not: they catch a lexer that prefers keywords.
_TRICKY_NAMES = ("x", "y", "f", "_", "x'", "lettuce", "iff", "in_", "notes", "trueish",
                 "define", "imports", "llms", "then_", "elsewhere", "a1", "l'")

_LOWER, _UPPER, _DIGITS = "abcdefghijklmnopqrstuvwxyz", "ABCDEFGHIJKLMNOPQRSTUVWXYZ", "0123456789"
_REST = _LOWER + _UPPER + _DIGITS + "_"


def _word(first: str, rest: str) -> st.SearchStrategy[str]:
    # Cheaper than `st.from_regex`, which dominated the run time of these tests.
    return st.builds(str.__add__, st.sampled_from(first), st.text(rest, max_size=5))


names: st.SearchStrategy[str] = st.one_of(
    st.sampled_from(_TRICKY_NAMES), _word(_LOWER + "_", _REST + "'"),
).filter(lambda n: NAME_RE.fullmatch(n) is not None)
type_names = _word(_UPPER, _REST)

# Characters that need escapes, whitespace the dedent cares about, and some non-ASCII.
_TEXT_CHARS = st.one_of(
    st.sampled_from('\\"{}\n\t\r\0 -|ab'),
    st.characters(codec="utf-8"),  # no lone surrogates
)
text_pieces = st.text(_TEXT_CHARS, min_size=1, max_size=8)


def _unique_fields(values: st.SearchStrategy[s.Expr] | st.SearchStrategy[s.TypeExpr],
                   max_size: int) -> st.SearchStrategy[tuple[tuple[str, object], ...]]:
    # Names first, then values: `unique_by` on (name, value) pairs would retry draws of the
    # pair, and Hypothesis renders the (huge) repr of a recursive strategy for each retry.
    def fields(ns: list[str]) -> st.SearchStrategy[tuple[tuple[str, object], ...]]:
        return st.tuples(*[values] * len(ns)).map(lambda vs: tuple(zip(ns, vs, strict=True)))
    return st.lists(names, unique=True, max_size=max_size).flatmap(fields)


# ------------------------------------------------------------------------ types
# Each public strategy is a cached `deferred`: built once, and with a short repr (Hypothesis
# warns about the repr of big nested strategies).


@cache
def types(depth: int = 3) -> st.SearchStrategy[s.TypeExpr]:
    """Type expressions of at most `depth` nested constructors."""
    return st.deferred(lambda: _types(depth))


def _types(depth: int) -> st.SearchStrategy[s.TypeExpr]:
    leaves: st.SearchStrategy[s.TypeExpr] = st.one_of(
        st.builds(s.TVarE, names), st.builds(s.TCon, type_names))
    if depth <= 0:
        return leaves
    sub = types(depth - 1)
    return st.one_of(
        leaves,
        st.builds(s.TCon, type_names, st.lists(sub, min_size=1, max_size=3).map(tuple)),
        st.builds(s.TFunE, sub, sub),
        st.builds(s.TTupleE, st.lists(sub, min_size=2, max_size=3).map(tuple)),
        st.builds(s.TRecordE, _unique_fields(sub, 3)),
    )


@cache
def params(depth: int = 2) -> st.SearchStrategy[s.Param]:
    return st.deferred(lambda: _params(depth))


def _params(depth: int) -> st.SearchStrategy[s.Param]:
    return st.builds(s.Param, names, st.none() | types(depth))


# ------------------------------------------------------------------ expressions


def _leaves(texts: int) -> st.SearchStrategy[s.Expr]:
    options: list[st.SearchStrategy[s.Expr]] = [
        st.builds(s.Var, names),
        st.builds(s.IntLit, st.integers(0, 10**20)),
        st.builds(s.FloatLit, st.floats(min_value=0.0, allow_nan=False, allow_infinity=False)
                  .map(abs)),
        st.builds(s.BoolLit, st.booleans()),
        st.builds(s.Hole, names, types(1)),
    ]
    if texts > 0:
        options.append(st.builds(s.TextLit, text_pieces.map(lambda t: (t,))))
    return st.one_of(options)


def _normalise(parts: list[str | s.Expr]) -> tuple[str | s.Expr, ...]:
    """Merge adjacent strings and drop empty ones, as the parser does."""
    out: list[str | s.Expr] = []
    for p in parts:
        if isinstance(p, str) and out and isinstance(out[-1], str):
            out[-1] += p
        elif p != "":
            out.append(p)
    return tuple(out)


def _printable(e: s.TextLit) -> s.TextLit:
    """The literal, or its first piece without leading spaces if it cannot be printed as is.

    A map rather than a filter: a filter's retries make Hypothesis render the huge repr of
    this recursive strategy.
    """
    try:
        pretty_expr(e)
    except UnprintableError:
        first, *rest = e.parts
        assert isinstance(first, str), "only leading spaces make a literal unprintable"
        return s.TextLit(_normalise([first.lstrip(" "), *rest]))
    return e


@cache
def text_literals(depth: int, texts: int = 2) -> st.SearchStrategy[s.Expr]:
    """Text with interpolations; `texts` bounds how deeply literals nest (2 at the top)."""
    return st.deferred(lambda: _text_literals(depth, texts))


def _text_literals(depth: int, texts: int) -> st.SearchStrategy[s.Expr]:
    parts = st.lists(st.one_of(text_pieces, exprs(depth - 1, texts - 1)), max_size=4)
    return st.builds(s.TextLit, parts.map(_normalise)).map(_printable)


@cache
def exprs(depth: int = 3, texts: int = 2) -> st.SearchStrategy[s.Expr]:
    """Expressions of at most `depth` nested nodes, using every node type."""
    return st.deferred(lambda: _exprs(depth, texts))


def _exprs(depth: int, texts: int) -> st.SearchStrategy[s.Expr]:
    leaves = _leaves(texts)
    if depth <= 0:
        return leaves
    sub = exprs(depth - 1, texts)
    items = st.lists(sub, max_size=3).map(tuple)
    options: list[st.SearchStrategy[s.Expr]] = [
        leaves,
        st.builds(s.ListLit, items),
        st.builds(s.TupleLit, st.lists(sub, min_size=2, max_size=3).map(tuple)),
        st.builds(s.RecordLit, _unique_fields(sub, 3)),
        st.builds(s.Field, sub, names),
        st.builds(s.Lam, st.lists(params(1), min_size=1, max_size=3).map(tuple), sub),
        st.builds(s.App, sub, sub),
        st.builds(s.Let, names, sub, sub, st.none() | types(1)),
        st.builds(s.If, sub, sub, sub),
        st.builds(s.BinOp, st.sampled_from(BINOPS), sub, sub),
        st.builds(s.UnOp, st.sampled_from(("-", "not")), sub),
        st.builds(s.Annot, sub, types(2)),
        st.builds(s.Llm, sub),
    ]
    if texts > 0:
        options.append(text_literals(depth, texts))
    return st.one_of(options)


# ---------------------------------------------------------------------- modules


def imports() -> st.SearchStrategy[s.Import]:
    return st.one_of(
        st.builds(s.Import, st.text(_TEXT_CHARS, max_size=10), st.just(True)),
        st.builds(s.Import, st.lists(names, min_size=1, max_size=3).map(".".join), st.just(False)),
    )


def defs(depth: int = 3) -> st.SearchStrategy[s.Def]:
    return st.builds(s.Def, names, st.lists(params(2), max_size=3).map(tuple),
                     st.none() | types(2), exprs(depth))


def modules(depth: int = 3) -> st.SearchStrategy[s.Module]:
    return st.builds(s.Module, st.lists(imports(), max_size=3).map(tuple),
                     st.lists(defs(depth), max_size=3).map(tuple))


def signatures() -> st.SearchStrategy[s.Signature]:
    return st.builds(s.Signature, names, types(3))

