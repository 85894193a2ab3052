"""Stdlib source documents: takes a length and a seed, gives whole `.py` files of the stdlib, each after a header.

Files are taken in a seeded order (no test/, tests/, idlelib/, tkinter/, site-packages/ or
__pycache__/), each after a header line `# ===== file: json/decoder.py =====`; when a file does not
fit, a few smaller ones are tried first, and the last file is cut at a line boundary. The CodeQA
task asks its questions about these documents.
"""

from __future__ import annotations

import os
import random
import sysconfig
from dataclasses import dataclass
from pathlib import Path

from .base import Count

SKIP_DIRS = frozenset({"test", "tests", "idlelib", "tkinter", "site-packages", "__pycache__"})
HEADER = "# ===== file: {path} =====\n"


def stdlib_root() -> Path:
    return Path(sysconfig.get_paths()["stdlib"])


def stdlib_files(root: Path) -> list[str]:
    """Relative paths (posix) of the stdlib's .py files, sorted, without the skipped folders."""
    out = []
    for folder, dirs, files in os.walk(root):
        dirs[:] = [d for d in dirs if d not in SKIP_DIRS]  # prune: the test suites are most of the tree
        base = Path(folder).relative_to(root)
        out += [(base / f).as_posix() for f in files if f.endswith(".py")]
    return sorted(out)


def _read(path: Path) -> str | None:
    try:
        text = path.read_text(encoding="utf-8")
    except (UnicodeDecodeError, OSError):
        return None
    return text if text.endswith("\n") else text + "\n"


@dataclass(frozen=True)
class Part:
    """One file in the document: its path, the text included (maybe cut) and where it starts."""

    path: str
    text: str
    offset: int  # of the text (after the header) in the document


def build_document(length: int, seed: int, count: Count, root: Path) -> tuple[str, list[Part]]:
    """Whole files in a seeded order until `length` tokens, the last cut at a line boundary.

    Each file is counted once on its own (no growing string is counted); the joined document is
    counted once at the end and lines are dropped if the joins made it too long.
    """
    files = stdlib_files(root)
    random.Random(f"codeqa-{seed}-{length}-files").shuffle(files)
    pieces: list[tuple[str, str]] = []
    total, skipped = 0, 0
    last: tuple[str, str] | None = None  # the first file that did not fit: cut to fill the rest
    for rel in files:
        text = _read(root / rel)
        if text is None:
            continue
        tokens = count(HEADER.format(path=rel) + text)
        if total + tokens <= length:
            pieces.append((rel, text))
            total += tokens
        else:  # try a few smaller files first, so short documents hold whole files (and questions)
            last = last or (rel, text)
            skipped += 1
        if total >= length * 0.99 or skipped > 40:
            break
    if last is not None and total < length:
        rel, text = last
        cut = _cut_lines(text, length - total - count(HEADER.format(path=rel)), count)
        if cut:
            pieces.append((rel, cut))
            total += count(HEADER.format(path=rel) + cut)
    if total < length * 0.98:
        raise ValueError(f"codeqa: the stdlib at {root} has only about {total:,} tokens of source, "
                         f"fewer than the {length:,} asked for")
    return _assemble(pieces, length, count)


def _cut_lines(text: str, tokens: int, count: Count) -> str:
    """The longest prefix of whole lines of `text` with at most `tokens` tokens (bisection)."""
    lines = text.splitlines(keepends=True)
    lo, hi = 0, len(lines)
    while lo < hi:
        mid = (lo + hi + 1) // 2
        if count("".join(lines[:mid])) <= tokens:
            lo = mid
        else:
            hi = mid - 1
    return "".join(lines[:lo])


def _assemble(pieces: list[tuple[str, str]], length: int, count: Count) -> tuple[str, list[Part]]:
    for _ in range(4):
        parts, chunks, offset = [], [], 0
        for rel, text in pieces:
            header = HEADER.format(path=rel)
            parts.append(Part(rel, text, offset + len(header)))
            chunks.append(header + text)
            offset += len(header) + len(text)
        document = "".join(chunks)
        excess = count(document) - length
        if excess <= length // 100 or len(pieces[-1][1]) == 0:
            return document, parts
        rel, text = pieces[-1]  # too long (the joins cost tokens): shorten the last file
        pieces[-1] = (rel, _cut_lines(text, max(0, count(text) - excess - length // 200), count))
    return document, parts
