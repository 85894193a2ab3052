"""Token-exact chunking: takes a text, a size and a Tokenizer, gives pieces that join back to it.

Every function tokenizes the text once and cuts only where a token starts, preferring a
paragraph break, then a sentence end, a line break, any whitespace, and cutting hard inside
a word only when none of these is near. Each piece is then re-counted on its own: a tokenizer
may count a piece cut out of a text slightly differently from its share of the whole (cl100k
does around characters split between tokens and inside very long unbroken runs), and a piece
that came out too large is shortened a token at a time.

Guarantees, with n = tok.count(text): pieces are never empty and `"".join(pieces) == text`;
`split` makes at most `max_chunks(n, limit)` chunks and `partition` at most k pieces, always,
because the static cost analysis counts on it. Each piece's own count is at most `limit`
(resp. `max_piece(n, k)`) unless no allowed cut achieves that. Cuts fall between characters,
so where a tokenizer spreads one character over several tokens (cl100k does for rare CJK,
emoji and symbols) a piece may have to be larger; `split` then keeps its chunk-count bound
and lets that chunk exceed the limit, and `partition`'s last piece takes what is left. Text
whose tokens are whole characters (all ordinary text) always fits; so, in our measurements,
does exotic text once the boundary slack is a few tokens (limit >= ~40).
"""

from __future__ import annotations

import re
from bisect import bisect_left, bisect_right
from collections.abc import Callable

from .tokens import Tokenizer

# Whitespace runs are examined at most this far beyond the zone where a cut may go.
_MARGIN = 256

_PARAGRAPH = re.compile(r"\n[^\S\n]*\n")
_SENTENCE_END = re.compile(r"[.!?][\"'\u201d\u2019)\]]*(?=\s)")
_LINE = re.compile(r"[\r\n]")


def slack(limit: int) -> int:
    """How many tokens before a chunk's hard end `split` may move its end to reach a boundary."""
    return limit // 10


def max_chunks(n_tokens: int, limit: int) -> int:
    """The most chunks `split` makes from a text of `n_tokens` tokens: ceil(n / (limit - slack))."""
    _require_positive(limit, "limit")
    if n_tokens <= 0:
        return 0
    return -(-n_tokens // (limit - slack(limit)))


def max_piece(n_tokens: int, k: int) -> int:
    """The most tokens in one piece of `partition` of an n-token text into k: size + size // 10."""
    _require_positive(k, "k")
    size = -(-max(n_tokens, 0) // k)
    return size + size // 10


def split(text: str, limit: int, tok: Tokenizer) -> list[str]:
    """Greedy chunks of at most `limit` tokens each, ending at the best boundary near the limit."""
    _require_positive(limit, "limit")
    if not text:
        return []
    doc = _Doc(text, tok)
    budget = max_chunks(doc.n, limit)
    step = limit - slack(limit)
    chunks: list[str] = []
    s = 0
    while doc.pos(s) < len(text):
        # Every later chunk advances at least `step` tokens, so ending at or after `floor`
        # keeps the total within `budget`; ends are only shortened down to it.
        floor = max(s + 1, doc.n - (budget - len(chunks) - 1) * step)
        e = doc.n if doc.n - s <= limit else _end_near(doc, s + step, s + limit, floor)
        e = _fit(doc, tok, s, e, floor, limit)
        chunks.append(text[doc.pos(s) : doc.pos(e)])
        s = e
    return chunks


def partition(text: str, k: int, tok: Tokenizer) -> list[str]:
    """At most k contiguous pieces of near-equal token count (the λ-RLM paper's SPLIT(P, k)).

    Piece i ends near token i * ceil(n / k), moved back to a boundary within a tenth of that
    size when there is one.
    """
    _require_positive(k, "k")
    if not text:
        return []
    doc = _Doc(text, tok)
    size = -(-doc.n // k)
    bound = max_piece(doc.n, k)
    pieces: list[str] = []
    s = 0
    for target in range(size, doc.n, size):  # at most k - 1 targets, as n <= k * size
        if target <= s:
            continue  # an earlier piece already reached past this target
        lo = max(s + 1, target - slack(size))
        e = _end_near(doc, lo, target, s + 1)
        if e < lo:
            # No cut in the zone (characters split between tokens): end after the target
            # instead when that piece still fits, so later pieces do not grow.
            later = doc.after(target)
            if later < doc.n and tok.count(text[doc.pos(s) : doc.pos(later)]) <= bound:
                e = later
        if e >= doc.n:
            break
        e = _fit(doc, tok, s, e, s + 1, bound)
        pieces.append(text[doc.pos(s) : doc.pos(e)])
        s = e
    if doc.pos(s) < len(text):
        pieces.append(text[doc.pos(s) :])
    return pieces


def peek(text: str, start: int, length: int, tok: Tokenizer) -> str:
    """The text of tokens [start, start + length), clamped to the text; never raises on range.

    Like a chunk, the result is shortened if its own count exceeds `length`.
    """
    if length <= 0 or not text:
        return ""
    doc = _Doc(text, tok)
    start = max(0, start)
    if start >= doc.n or doc.pos(start) >= len(text):
        return ""
    end = doc.after(min(doc.n, start + length))
    first = doc.at_or_before(start, 0)
    s = 0 if first is None else first
    return text[doc.pos(s) : doc.pos(_fit(doc, tok, s, end, start + 1, length))]


# ------------------------------------------------------------------ token positions


class _Doc:
    """A text with its token start offsets, and the token indices where it may be cut.

    Index e means "cut before token e" (e == n: at the end). Tokens starting inside one
    character share an offset; of indices with equal offsets only the last is a cut, so that
    the tokens before a cut are exactly those whose text lies before it.
    """

    __slots__ = ("text", "offs", "n")

    def __init__(self, text: str, tok: Tokenizer) -> None:
        self.text = text
        self.offs = tok.offsets(text)
        self.n = len(self.offs)
        if self.n == 0 or self.offs[0] != 0:
            raise ValueError(f"tokenizer {tok.name!r} gave no token at offset 0 of a non-empty text")

    def pos(self, e: int) -> int:
        """The char offset of cut index e."""
        return self.offs[e] if e < self.n else len(self.text)

    def is_cut(self, e: int) -> bool:
        return e >= self.n or self.pos(e) < self.pos(e + 1)

    def at_or_before(self, e: int, lo: int) -> int | None:
        """The last cut index in [lo, e], if any."""
        if not self.is_cut(e):
            e = bisect_left(self.offs, self.offs[e], 0, e) - 1
        return e if e >= lo else None

    def before(self, e: int) -> int:
        """The last cut index whose offset is smaller than that of e (-1 if none)."""
        return bisect_left(self.offs, self.pos(e), 0, min(e, self.n)) - 1

    def after(self, e: int) -> int:
        """The first cut index at or after e."""
        if e >= self.n:
            return self.n
        e = bisect_right(self.offs, self.offs[e], e) - 1
        return e if self.is_cut(e) else self.n

    def last_cut_upto(self, char: int, lo: int, hi: int) -> int | None:
        """The last cut index in [lo, hi] whose offset is at most `char`."""
        e = bisect_right(self.offs, char, lo, hi + 1) - 1
        return None if e < lo else self.at_or_before(e, lo)


def _fit(doc: _Doc, tok: Tokenizer, s: int, e: int, floor: int, most: int) -> int:
    """e, moved back one cut at a time (not below `floor`) until text[s:e] has <= `most` tokens."""
    while tok.count(doc.text[doc.pos(s) : doc.pos(e)]) > most:
        shorter = doc.before(e)
        if shorter < floor or shorter <= s:
            break  # nothing shorter is allowed: keep the over-long piece
        e = shorter
    return e


# ------------------------------------------------------------------ boundaries


def _end_near(doc: _Doc, lo: int, hi: int, floor: int) -> int:
    """The cut in token zone [lo, hi] at the best boundary, else the last cut at or before hi
    (not below `floor`), else the first cut after hi."""
    for find in _BOUNDARY_FINDERS:
        e = find(doc, lo, hi)
        if e is not None:
            return e
    hard = doc.at_or_before(hi, floor)
    return doc.after(hi) if hard is None else hard


def _paragraph_cut(doc: _Doc, lo: int, hi: int) -> int | None:
    return _last_run_cut(doc, lo, hi, _PARAGRAPH, lambda m: (m.start(), m.end()))


def _sentence_cut(doc: _Doc, lo: int, hi: int) -> int | None:
    return _last_run_cut(doc, lo, hi, _SENTENCE_END, lambda m: (m.end(), m.end()), back=False)


def _line_cut(doc: _Doc, lo: int, hi: int) -> int | None:
    return _last_run_cut(doc, lo, hi, _LINE, lambda m: (m.start(), m.end()))


def _last_run_cut(
    doc: _Doc,
    lo: int,
    hi: int,
    pattern: re.Pattern[str],
    core: Callable[[re.Match[str]], tuple[int, int]],
    back: bool = True,
) -> int | None:
    """The last cut in [lo, hi] touching a whitespace run that contains a match's core span.

    A cut touches a run when it lies at its start, inside it or (best) at its end; the latter
    is not always a token start, since cl100k glues a space to the word after it.
    """
    text, first, last = doc.text, doc.pos(lo), doc.pos(hi)
    region_start, region_end = max(0, first - _MARGIN), min(len(text), last + _MARGIN)
    best, at = None, region_start
    while (m := pattern.search(text, at, region_end)) is not None:
        a, b = core(m)
        while back and a > region_start and text[a - 1].isspace():
            a -= 1
        while b < region_end and text[b].isspace():
            b += 1
        if a > last:
            break  # this run and all later ones start after the zone
        at = max(b, m.end())  # resume after this run: each run is walked once
        if b == a:
            continue
        e = doc.last_cut_upto(min(b, last), lo, hi)
        if e is not None and doc.pos(e) >= a:
            best = e
    return best


def _word_cut(doc: _Doc, lo: int, hi: int) -> int | None:
    """The last cut in [lo, hi] next to whitespace."""
    text = doc.text
    for e in range(hi, lo - 1, -1):
        c = doc.pos(e)
        if doc.is_cut(e) and (text[c - 1].isspace() or (c < len(text) and text[c].isspace())):
            return e
    return None


_BOUNDARY_FINDERS = (_paragraph_cut, _sentence_cut, _line_cut, _word_cut)


def _require_positive(value: int, what: str) -> None:
    if value < 1:
        raise ValueError(f"{what} must be at least 1, given {value}")
