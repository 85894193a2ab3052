"""Source text and spans: takes a program's text and name, gives line/column positions and caret excerpts."""

from __future__ import annotations

import re
from bisect import bisect_right
from dataclasses import dataclass, field

EXCERPT_CHARS = 120  # the most of one source line an error shows


@dataclass(frozen=True, slots=True)
class Source:
    """A program text with the name it is reported under (a path or `<string>`)."""

    text: str
    name: str = "<string>"
    _line_starts: tuple[int, ...] = field(default=(), compare=False, repr=False)

    def __post_init__(self) -> None:
        starts = [0, *(m.end() for m in re.finditer("\n", self.text))]
        object.__setattr__(self, "_line_starts", tuple(starts))

    def position(self, offset: int) -> tuple[int, int]:
        """1-based (line, column) of a character offset."""
        offset = max(0, min(offset, len(self.text)))
        line = bisect_right(self._line_starts, offset)
        return line, offset - self._line_starts[line - 1] + 1

    def line_text(self, line: int) -> str:
        start = self._line_starts[line - 1]
        end = self.text.find("\n", start)
        return self.text[start:] if end < 0 else self.text[start:end]


@dataclass(frozen=True, slots=True)
class Span:
    """A half-open range [start, end) of character offsets in one Source."""

    source: Source = field(compare=False, repr=False)
    start: int
    end: int

    @property
    def line(self) -> int:
        return self.source.position(self.start)[0]

    @property
    def column(self) -> int:
        return self.source.position(self.start)[1]

    def location(self) -> str:
        line, col = self.source.position(self.start)
        return f"{self.source.name}:{line}:{col}"

    def excerpt(self) -> str:
        """The span's first line followed by a caret line under the span. A line longer than
        EXCERPT_CHARS is shown only around the span, between "…" marks, and characters that are
        not printable show as "?": an error never echoes a whole file that is one long line, nor
        drives the terminal."""
        line, col = self.source.position(self.start)
        text = self.source.line_text(line)
        end_line, end_col = self.source.position(self.end)
        width = (end_col - col) if end_line == line and self.end > self.start else 1
        lo = max(0, min(col - 1 - EXCERPT_CHARS // 2, len(text) - EXCERPT_CHARS))
        shown = text[lo : lo + EXCERPT_CHARS]
        col -= lo
        width = max(1, min(width, len(shown) - col + 1))
        before, after = ("…" if lo > 0 else ""), ("…" if lo + EXCERPT_CHARS < len(text) else "")
        shown = "".join(c if c.isprintable() or c == "\t" else "?" for c in shown)
        return f"    {before}{shown}{after}\n    {' ' * (col - 1 + len(before))}{'^' * width}"

    def text(self) -> str:
        return self.source.text[self.start : self.end]


def nowhere(name: str = "<builtin>") -> Span:
    """A span for things that have no source text (builtins, synthesised nodes)."""
    return Span(Source("", name), 0, 0)
