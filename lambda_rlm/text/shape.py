"""Document shape: takes a document, gives whether it is a list of records, source code or prose, and its records.

A list of records is what logs, changelogs, exports, tickets and table rows look like: most of
its non-blank lines (or blank-line-separated blocks) share one structure, so the text can be cut
at record boundaries and a question can be answered by counting records. Prose states its facts
in sentences, so a count it mentions is something to look up, not to compute. Only the text's
form is read (delimiters, `key=value` fields, leading dates, bullets, labels), never its words,
so the decision does not depend on a document's language or subject.
"""

from __future__ import annotations

import re
import statistics
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

Kind = Literal["records", "code", "prose"]
MIN_RECORDS = 5  # fewer than this many entries is not a list worth counting over
RECORD_SHARE = 0.6  # the share of lines (or blocks) one record structure must cover
CODE_SHARE = 0.5
MAX_RECORD_CHARS = 600  # a median entry longer than this is a paragraph, not a record
SAMPLE_CHARS = 200_000  # the shape of a long document is read off its beginning

_DELIMITERS = (" || ", "\t", " | ", "|", ";", ",")
_KEYED = re.compile(r"(?:^|[\s,;|])[A-Za-z_][\w.-]{0,30}\s?[=:]\s?\S")
_DATED = re.compile(
    r"^\W{0,3}(?:\d{4}[-/.]\d{1,2}[-/.]\d{1,2}|\d{1,2}[-/.]\d{1,2}[-/.]\d{2,4}|\d{1,2}:\d{2}"
    r"|(?:jan|feb|mar|apr|may|jun|jul|aug|sep|oct|nov|dec)[a-z]*\.? \d{1,2}\b|\[\d)", re.IGNORECASE)
_BULLETED = re.compile(r"^\s*(?:[-*•‣◦+]|\d{1,6}[.)]|\(?[a-z]\))\s+\S")
_LABELLED = re.compile(r"^\s*[\w#@][\w .#@'/-]{0,40}?:\s+\S")
_JSON_LINE = re.compile(r"^\s*\{.*\}\s*,?\s*$")
_CODE_LINE = re.compile(
    r"^\s*(?:def |class |import |from \S+ import|return\b|if .*:$|for .*:$|while .*:$|elif |else:|try:|except"
    r"|function\b|const |let |var |public |private |static |#include|package |using |fn |impl |struct |@\w+"
    r"|[}\])];?$|//|/\*|\*/|#(?!\s*\d))")
_CODE_END = re.compile(r"[:{;(,\[]\s*$")


@dataclass(frozen=True)
class Shape:
    """What a document is: its kind, the record structure found (if any) and how much it covers."""

    kind: Kind
    pattern: str = ""  # the record structure: "fields", "keyed", "dated", "bulleted", "labelled", "json", "blocks"
    share: float = 0.0  # the share of lines or blocks that have it
    count: int = 0  # records in the part read: most lines when kind is "records", else a few among the prose

    @property
    def has_records(self) -> bool:
        """Whether there are records to count or pair (a list, or enough of them inside prose)."""
        return self.count >= MIN_RECORDS

    def describe(self) -> str:
        if self.kind == "records":
            return f"a list of {self.count:,} records ({self.pattern}, {self.share:.0%} of entries)"
        if self.has_records:
            return f"prose with {self.count:,} records in it"
        return "source code" if self.kind == "code" else "prose"


def _delimited(lines: list[str]) -> tuple[float, str]:
    """The largest share of lines with the same number (≥ 1; ≥ 2 for commas) of one delimiter."""
    best, name = 0.0, ""
    for delimiter in _DELIMITERS:
        counts = Counter(line.count(delimiter) for line in lines)
        least = 2 if delimiter == "," else 1
        common = [(n, c) for n, c in counts.most_common() if n >= least]
        if common and common[0][1] / len(lines) > best:
            best, name = common[0][1] / len(lines), f"fields ({delimiter.strip() or 'tab'!r})"
    return best, name


def _share(lines: list[str], test: Callable[[str], bool]) -> float:
    return sum(1 for line in lines if test(line)) / len(lines)


def _line_patterns(lines: list[str]) -> dict[str, float]:
    shares = {
        "keyed": _share(lines, lambda s: len(_KEYED.findall(s)) >= 2),
        "dated": _share(lines, lambda s: bool(_DATED.match(s))),
        "bulleted": _share(lines, lambda s: bool(_BULLETED.match(s))),
        "labelled": _share(lines, lambda s: bool(_LABELLED.match(s))),
        "json": _share(lines, lambda s: bool(_JSON_LINE.match(s))),
    }
    fields, name = _delimited(lines)
    shares[name or "fields"] = fields
    return shares


def _blocks(text: str) -> list[str]:
    return [b for b in re.split(r"\n\s*\n", text) if b.strip()]


def _is_code(lines: list[str]) -> bool:
    code = _share(lines, lambda s: bool(_CODE_LINE.match(s) or _CODE_END.search(s)))
    indented = _share(lines, lambda s: s.startswith(("    ", "\t")))
    return code >= CODE_SHARE or (code >= 0.3 and indented >= 0.3)


def shape(text: str) -> Shape:
    """The document's shape, read off its first SAMPLE_CHARS characters (the last line cut there is dropped)."""
    head = text if len(text) <= SAMPLE_CHARS else text[:SAMPLE_CHARS].rpartition("\n")[0]
    lines = [line for line in head.splitlines() if line.strip()]
    if len(lines) < MIN_RECORDS:
        return Shape("prose")
    if _is_code(lines):
        return Shape("code")
    blocks = _blocks(head)
    # Blocks of several labelled lines ("From: …", "Subject: …") are one record each.
    if len(blocks) >= MIN_RECORDS:
        multi = [b for b in blocks if sum(1 for x in b.splitlines() if _LABELLED.match(x)) >= 2]
        if len(multi) / len(blocks) >= RECORD_SHARE:
            return _records("blocks", len(multi) / len(blocks), blocks)
    shares = _line_patterns(lines)
    pattern, share = max(shares.items(), key=lambda kv: kv[1])
    if share >= RECORD_SHARE and statistics.median(len(line) for line in lines) <= MAX_RECORD_CHARS:
        return _records(pattern, share, lines)
    # Prose with records in it (a report quoting rows of a log) still has records to count.
    keyed = sum(1 for line in lines if is_keyed(line))
    return Shape("prose", "keyed", round(keyed / len(lines), 3), keyed) if keyed >= MIN_RECORDS else Shape("prose")


def is_keyed(line: str) -> bool:
    """Whether a line is a record of `key=value` (or `key: value`) fields, or a JSON object."""
    return len(_KEYED.findall(line)) >= 2 or bool(_JSON_LINE.match(line))


def _records(pattern: str, share: float, entries: list[str]) -> Shape:
    if len(entries) < MIN_RECORDS:
        return Shape("prose")
    return Shape("records", pattern, round(share, 3), round(len(entries) * share))
