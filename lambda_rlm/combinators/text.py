"""Text combinators: take texts and sizes, give pieces, counts and renderings (split, partition, peek, tokens …).

Runtime values follow lambda_rlm.core.values; each size function says what the combinator does to
the sizes of lambda_rlm.analysis.absdomain, which the bound is computed from.
"""

from __future__ import annotations

import re
from typing import Any

from lambda_rlm.analysis import absdomain as a
from lambda_rlm.core.errors import EvalError
from lambda_rlm.core.registry import combinator
from lambda_rlm.core.values import Some, render
from lambda_rlm.text import chunking

from .core import _limit

# ------------------------------------------------------------------ text


def _abs_split(an: Any, text: a.AValue, limit: a.AValue) -> a.AValue:
    if not isinstance(text, a.Text) or text.tokens is None:
        return a.Lst(None, a.Text(_limit(limit, 0)[1] or None))
    lo, hi = _limit(limit, text.tokens)
    return a.Lst(chunking.max_chunks(text.tokens, lo), a.Text(min(hi, text.tokens)))


@combinator("split : Text -> Int -> List Text", abstract=_abs_split)
def split(text: str, limit: int, *, ctx: Any) -> tuple[str, ...]:
    """Chunks of at most `limit` tokens, cut at paragraph, sentence, line or word boundaries."""
    if limit < 1:
        raise EvalError(f"split needs a chunk size of at least 1 token, given {limit}")
    return tuple(chunking.split(text, limit, ctx.tokenizer))


def _abs_partition(an: Any, text: a.AValue, k: a.AValue) -> a.AValue:
    if not isinstance(text, a.Text) or text.tokens is None:
        return a.Lst(None, a.Text(None))
    lo, hi = _limit(k, text.tokens)
    return a.Lst(min(hi, max(text.tokens, 1)), a.Text(chunking.max_piece(text.tokens, lo)))


@combinator("partition : Text -> Int -> List Text", abstract=_abs_partition)
def partition(text: str, k: int, *, ctx: Any) -> tuple[str, ...]:
    """At most k contiguous pieces of near-equal token size (the paper's SPLIT(P, k))."""
    if k < 1:
        raise EvalError(f"partition needs at least 1 piece, given {k}")
    return tuple(chunking.partition(text, k, ctx.tokenizer))


def _abs_peek(an: Any, text: a.AValue, start: a.AValue, length: a.AValue) -> a.AValue:
    _, hi = _limit(length, 0)
    if isinstance(text, a.Text) and text.tokens is not None:
        return a.Text(min(text.tokens, hi) if hi else text.tokens)
    return a.Text(hi or None)


@combinator("peek : Text -> Int -> Int -> Text", abstract=_abs_peek)
def peek(text: str, start: int, length: int, *, ctx: Any) -> str:
    """The tokens [start, start + length) of a text (clamped to the text)."""
    return chunking.peek(text, max(0, start), max(0, length), ctx.tokenizer)


def _abs_tokens(an: Any, text: a.AValue) -> a.AValue:
    return a.Num(0, text.tokens) if isinstance(text, a.Text) and text.tokens is not None else a.Num(0)


@combinator("tokens : Text -> Int", abstract=_abs_tokens)
def tokens(text: str, *, ctx: Any) -> int:
    """How many tokens a text has for the runtime's tokenizer."""
    return int(ctx.tokenizer.count(text))


def _abs_join(an: Any, sep: a.AValue, xs: a.AValue) -> a.AValue:
    if isinstance(xs, a.Lst) and isinstance(xs.elem, a.Text) and isinstance(sep, a.Text):
        n, each, s = xs.length, xs.elem.tokens, sep.tokens
        return a.Text(a.add_opt(a.mul_opt(n, a.add_opt(each, a.add_opt(s, 1))), 0))
    return a.Text(None)


@combinator("join : Text -> List Text -> Text", abstract=_abs_join)
def join(sep: str, xs: tuple[str, ...]) -> str:
    """The texts of a list with `sep` between them."""
    return sep.join(xs)


@combinator("concat : List Text -> Text", abstract=lambda an, xs: _abs_join(an, a.Text(0), xs))
def concat(xs: tuple[str, ...]) -> str:
    """The texts of a list, one after another."""
    return "".join(xs)


@combinator("lines : Text -> List Text", size=lambda t: a.Lst(t.tokens, t) if isinstance(t, a.Text) else a.TOP)
def lines(text: str) -> tuple[str, ...]:
    """The lines of a text, without their line breaks."""
    return tuple(text.splitlines())


@combinator("contains : Text -> Text -> Bool", size=lambda t, u: a.Bool())
def contains(text: str, part: str) -> bool:
    """Whether `part` occurs in `text` (case-insensitive)."""
    return part.casefold() in text.casefold()


def _part_of(t: a.AValue) -> a.AValue:
    """A piece cut out of a text: no more tokens than the text, and one more at each cut end."""
    return a.Text(t.tokens + 2) if isinstance(t, a.Text) and t.tokens is not None else a.Text(None)


def _abs_matches(an: Any, pattern: a.AValue, text: a.AValue) -> a.AValue:
    # Non-empty matches are at most as many as the text's characters, which its tokens do not
    # bound: the list's length is unknown, so a plan bounds it (`take n`) before it maps a leaf over it.
    return a.Lst(None, _part_of(text))


@combinator("matches : Text -> Text -> List Text", abstract=_abs_matches)
def matches(pattern: str, text: str) -> tuple[str, ...]:
    """`matches pattern text`: every non-empty, non-overlapping match of the regular expression (Python
    syntax) in order; the first group's text when the pattern has groups. No model call."""
    try:
        compiled = re.compile(pattern)
    except re.error as exc:
        raise EvalError(f"matches: {pattern!r} is not a regular expression ({exc})") from None
    found = (m.group(1) if compiled.groups else m.group(0) for m in compiled.finditer(text))
    return tuple(x for x in found if x)


@combinator("slice : Text -> Int -> Int -> Text", size=lambda t, i, j: _part_of(t))
def slice_(text: str, start: int, end: int) -> str:
    """The characters [start, end) of a text (counted from the end when negative, as Python does)."""
    return text[start:end]


@combinator("lower : Text -> Text", size=lambda t: t)
def lower(text: str) -> str:
    return text.lower()


@combinator("trim : Text -> Text", size=lambda t: t)
def trim(text: str) -> str:
    return text.strip()


@combinator("show : a -> Text", size=lambda v: a.Text(a.rendered_tokens(v)))
def show(value: Any) -> str:
    """A value as text: Text unchanged, anything else as JSON."""
    return render(value)


@combinator("parse_int : Text -> Option Int", size=lambda t: a.Opt(a.Num()))
def parse_int(text: str) -> Some | None:
    """The integer a text spells (ignoring spaces and commas), or none."""
    cleaned = text.strip().replace(",", "").replace("_", "")
    try:
        return Some(int(cleaned))
    except ValueError:
        return None


@combinator("float_of : Int -> Float", size=lambda n: n)
def float_of(n: int) -> float:
    return float(n)
