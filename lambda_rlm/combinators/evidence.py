"""Evidence: takes a text and what a leaf copied from it, gives what it really holds and how well it fits a question.

Symbolic and cheap (no model call, cost 0). `grounded` keeps only the sentences of a reply that the
text holds, so a multi-hop plan builds its next hop from facts of the document, never from ones
a small model made up. `support` lets a lookup plan choose among answers that are all copied
from the document, preferring the one whose surroundings say what the question asks about,
instead of whichever chunk came first. `linked` gathers the sentences that chain from a
question's proper names (lambda_rlm.text.names), so a multi-hop plan can follow links without
asking a model which sentence comes next.
"""

from __future__ import annotations

import re

from lambda_rlm.analysis import absdomain as a
from lambda_rlm.core.registry import combinator
from lambda_rlm.core.values import Some
from lambda_rlm.text import names

NEAR_CHARS = 300  # how far around the answer its support is read, on each side
_WORD = re.compile(r"\w+", re.UNICODE)
# Words that say nothing about a subject, in the languages users ask in most often; a word of
# three letters or fewer is left out anyway.
_FUNCTION_WORDS = frozenset((
    "what", "which", "when", "where", "whom", "whose", "does", "that", "this", "these", "those", "there",
    "their", "about", "with", "from", "into", "have", "were", "been", "being", "will", "would", "could",
    "should", "than", "then", "them", "they", "your", "mentioned", "provided", "text", "document",
    "according", "said", "says", "tell", "give", "find",
))


def _terms(question: str) -> set[str]:
    return {w for w in (m.casefold() for m in _WORD.findall(question)) if len(w) > 3 and w not in _FUNCTION_WORDS}


def _flat(text: str) -> str:
    return " ".join(text.split())


@combinator("grounded : Text -> Option Text -> Option Text", size=lambda text, reply: reply)
def grounded(text: str, reply: Some | None) -> Some | None:
    """The sentences of a leaf's `reply` that occur in `text` word for word (whitespace aside), in
    order, joined by a space; none when the reply is none or `text` holds none of them."""
    if reply is None:
        return None
    within = _flat(text)
    found = (_flat(x) for x in names.sentences(str(reply.value)))  # one sentence splitter for every plan
    kept = dict.fromkeys(s for s in found if len(s) > 1 and s in within)
    return Some(" ".join(kept)) if kept else None


@combinator("support : Text -> Text -> Text -> Int", size=lambda q, t, x: a.Num(-1))
def support(question: str, text: str, answer: str) -> int:
    """How many of the question's content words occur within NEAR_CHARS of `answer`'s first
    occurrence in `text` (case-insensitive), or -1 when `text` does not contain `answer`."""
    where = text.casefold().find(answer.casefold().strip()) if answer.strip() else -1
    if where < 0:
        return -1
    around = text[max(0, where - NEAR_CHARS) : where + len(answer) + NEAR_CHARS].casefold()
    near = set(_WORD.findall(around))
    return len(_terms(question) & near)


def _abs_linked(an: object, question: a.AValue, text: a.AValue) -> a.AValue:
    most = names.HOPS * names.PER_HOP
    if not isinstance(text, a.Text) or text.tokens is None:
        return a.Lst(most, a.Text(None))
    return a.Lst(min(most, text.tokens), a.Text(text.tokens))


@combinator("linked : Text -> Text -> List Text", abstract=_abs_linked)
def linked(question: str, text: str) -> tuple[str, ...]:
    """The sentences of `text` that chain from the question's proper names, hop by hop (names.linked):
    those naming a name of the question, then those naming a name they brought in, and so on."""
    return tuple(names.linked(question, text))


@combinator("stating : Text -> List Text", abstract=lambda an, text: (
    a.Lst(text.tokens, a.Text(text.tokens)) if isinstance(text, a.Text) else a.Lst(None, a.Text(None))))
def stating(text: str) -> tuple[str, ...]:
    """The sentences of `text` that state a number or a proper name (names.stating), in order: the
    facts a summary must keep word for word."""
    return tuple(names.stating(text))
