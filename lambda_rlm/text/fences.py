"""Fences: takes a prompt template's delimiters and a value put inside them, gives the value unable to close them.

A leaf prompt fences the document between tags of its own (`<document>` … `</document>`). A
document that contains `</document>`, then a question and a fake fact of its own, would close the
fence and speak to the model as the prompt. So every tag a template writes in its own text is
removed from the values interpolated into it: the data can still say anything, but never in the
prompt's voice. Removing (not escaping) keeps a value no longer than it was, so the static bound
of the prompt still holds.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterable

_TAG = re.compile(r"</?([A-Za-z][\w-]*)>")


def tags(template: Iterable[str]) -> frozenset[str]:
    """The tag names (lower case) that the literal parts of a template write as `<name>` or `</name>`."""
    return frozenset(m.group(1).lower() for part in template for m in _TAG.finditer(part))


def neutral(value: str, fenced: frozenset[str]) -> str:
    """`value` without any `<name>` or `</name>` (any case, inner spaces allowed) of the fenced names."""
    if not fenced or "<" not in value:
        return value
    return _fence_pattern(fenced).sub("", value)


@functools.lru_cache(maxsize=64)
def _fence_pattern(fenced: frozenset[str]) -> re.Pattern[str]:
    """The tags of `fenced` as one pattern, compiled once per set of names (every leaf asks)."""
    names = "|".join(re.escape(n) for n in sorted(fenced))
    return re.compile(rf"<\s*/?\s*(?:{names})\s*>", re.IGNORECASE)
