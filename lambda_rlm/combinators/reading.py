"""Ranked reading: takes a query and pieces, gives them most relevant first (BM25), and reads them until one answers.

`ranked question (split doc tau)` orders the chunks by how well their words match the question
(lambda_rlm.text.relevance). `scan found f pieces` applies f to the pieces in that order: the
top-ranked piece alone first (most lookups end there), then a wave at a time (a wave is as many
pieces as the model takes requests at once: one for the embedded model), and stops after the
first wave whose results hold one for which `found` holds; when none does, it reads every piece,
so it never answers less than reading everything would. Its bound is the worst case, every piece
read, exactly as `concat_map f pieces`. `Config(read_all=True)` (`--read-all`) reads every piece
even after one answers: the exhaustive reading, to compare.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from lambda_rlm.analysis import absdomain as a
from lambda_rlm.core import events
from lambda_rlm.core.registry import combinator
from lambda_rlm.runtime.evaluator import may_wait, together
from lambda_rlm.text import relevance

from .core import _each

Fn = Callable[[Any], Awaitable[Any]]


@combinator("ranked : Text -> List Text -> List Text", size=lambda query, pieces: pieces)
def ranked(query: str, pieces: tuple[str, ...]) -> tuple[str, ...]:
    """The pieces, most relevant to `query` first by BM25 (ties in document order); no model call."""
    return tuple(pieces[i] for i in relevance.ranked(query, pieces))


def _abs_scan(an: Any, found: a.AValue, f: a.AValue, xs: a.AValue) -> a.AValue:
    n, v = _each(an, f, xs)  # the worst case: every piece read
    out = a.Lst(a.mul_opt(n, v.length), v.elem) if isinstance(v, a.Lst) else a.TOP
    _each(an, found, out)
    return out


@combinator("scan : (b -> Bool) -> (a -> List b) -> List a -> List b", abstract=_abs_scan)
async def scan(found: Fn, f: Fn, xs: tuple[Any, ...], *, ctx: Any) -> tuple[Any, ...]:
    """f over xs, the first piece alone and then in waves of the model's concurrency, stopping after
    the first wave that gives a result for which `found` holds; everything the waves read gave, in order."""
    wave = max(1, int(ctx.wave or 1)) if may_wait(f) else len(xs) or 1
    out: list[Any] = []
    read = 0
    starts = [0, *range(1, len(xs), wave)] if xs else []
    for start, end in zip(starts, [*starts[1:], len(xs)], strict=True):
        part = xs[start:end]
        results = await together(f(x) for x in part) if may_wait(f) else [await f(x) for x in part]
        read += len(part)
        got = [y for ys in results for y in ys]
        out += got
        if not ctx.read_all and any([await found(y) for y in got]):
            break
    if ctx.emit is not None:  # the result reports how much of the document was read (Result.pieces_read)
        ctx.emit(events.Scan(read=read, pieces=len(xs)))
    return tuple(out)
