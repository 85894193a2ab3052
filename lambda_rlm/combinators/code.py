"""Code combinators: takes source text and a question, gives the source of the definitions the question names.

A question about code names what it is about: a function or method in backticks or as a choice
(`FoldedCase.lower`, `fixup_indent`), often the file too (`importlib/metadata/_text.py`). Those
definitions are found symbolically (`def`, `class`, `function`, `fn`, `func` lines, and the block
under them, by indentation or by braces) so that a leaf can read them whole instead of a chunk
that may cut them off. No model call: the cost is 0.
"""

from __future__ import annotations

import re

from lambda_rlm.analysis import absdomain as a
from lambda_rlm.core.registry import combinator

_TICKED = re.compile(r"`([^`\n]{1,200})`")
_CHOICE = re.compile(r"^\s*\(?[A-Da-d][).:]\s+(\S+)\s*$", re.MULTILINE)
_IDENTIFIER = re.compile(r"[A-Za-z_][\w]*(?:\.[A-Za-z_]\w*)*")
_PATH = re.compile(r"[\w.-]+(?:/[\w.-]+)*\.\w{1,5}")
_MODIFIERS = r"(?:(?:export|public|private|protected|static|pub|async)[ \t]+)*"
_DEF_LINE = r"^([ \t]*)" + _MODIFIERS + r"(?:def|class|function|fn|func)[ \t]+{name}\b"
MAX_NAMES = 8  # a question names a few things; more is a list to search, not definitions to read


def _names(question: str) -> tuple[list[str], list[str]]:
    """The identifiers and the file paths a question names (in backticks, or as whole choices)."""
    spans = _TICKED.findall(question) + _CHOICE.findall(question)
    paths = [s for s in spans if "/" in s and _PATH.fullmatch(s)]
    names = [s for s in spans if s not in paths and _IDENTIFIER.fullmatch(s)]
    return list(dict.fromkeys(names))[:MAX_NAMES], list(dict.fromkeys(paths))


def _indent(line: str) -> int:
    return len(line) - len(line.lstrip(" \t"))


def _block(lines: list[str], start: int, end: int) -> list[str]:
    """The definition starting at `lines[start]` (and ending by `end`): by braces when its header
    opens one, else by indentation (a comment as shallow as the header belongs to the block only
    when the block goes on after it)."""
    head = lines[start]
    if "{" in head and not head.rstrip().endswith(":"):
        depth, out = 0, []
        for line in lines[start:end]:
            out.append(line)
            depth += line.count("{") - line.count("}")
            if depth <= 0 and "}" in line:
                break
        return out
    out, pending = [head], []
    for line in lines[start + 1 : end]:
        shallow = line.strip() and _indent(line) <= _indent(head)
        if shallow and line.lstrip().startswith("#"):
            pending.append(line)
            continue
        if shallow and not line.lstrip().startswith((")", "]")):
            break
        out += [*pending, line]
        pending = []
    while out and not out[-1].strip():
        out.pop()
    return out


def _find(lines: list[str], name: str, lo: int, hi: int) -> list[str] | None:
    """`name`'s definition within lines[lo:hi]; `Outer.inner` is `inner` inside `Outer`, shown under its header."""
    outer, _, inner = name.rpartition(".")
    if outer:
        found = _find(lines, outer.rpartition(".")[2], lo, hi)
        if found is None:
            return None
        at = next(i for i in range(lo, hi) if lines[i] == found[0])
        body = _find(lines, inner, at + 1, at + len(found))
        return None if body is None else [found[0], *body]
    pattern = re.compile(_DEF_LINE.format(name=re.escape(inner)))
    for i in range(lo, hi):
        if pattern.match(lines[i]):
            return _block(lines, i, hi)
    return None


def _region(lines: list[str], path: str) -> tuple[int, int, str] | None:
    """The lines of the file named `path` in a bundle of files: from the first line naming it to the
    next line of the same form naming another file."""
    at = next((i for i, line in enumerate(lines) if path in line), None)
    if at is None:
        return None
    header = lines[at]
    before, _, after = header.partition(path)
    form = re.compile(re.escape(before) + r".+" + re.escape(after) + r"$")
    end = next((j for j in range(at + 1, len(lines)) if form.match(lines[j]) and path not in lines[j]), len(lines))
    return at, end, header


# Headers repeat per block, so the result may outgrow the document: its size is unknown, and a
# plan reads it through `peek … tau`, which bounds the leaf.
@combinator("definitions : Text -> Text -> Text", size=lambda doc, q: a.Text(None))
def definitions(source: str, question: str) -> str:
    """The source of every definition the question names (in its named file first, when it names
    one), each block whole and headed by the line that names its file; "" when it names none."""
    names, paths = _names(question)
    if not names:
        return ""
    lines = source.splitlines()
    regions = [r for r in (_region(lines, p) for p in paths) if r is not None] or [(0, len(lines), "")]
    out: dict[str, str] = {}  # block -> block under its file's header
    for name in names:
        for lo, hi, header in regions:
            found = _find(lines, name, lo, hi) or (_find(lines, name, 0, len(lines)) if header else None)
            if found is not None:
                block = "\n".join(found)
                out.setdefault(block, f"{header}\n{block}" if header else block)
                break
    return "\n\n".join(out.values())
