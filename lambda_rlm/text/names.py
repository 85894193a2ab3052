"""Names: takes a question and a text, gives the text's sentences that chain from the question's proper names,
and the sentences that state a number or a name.

A proper name here is a capitalised word that the text never writes in lower case and that is not
an English stop word ("Orla", "Brackenridge"; not "The" or "However"), without a possessive
"'s". Hop 1 is the sentences that name one of the question's names; hop k + 1 the sentences, not
yet taken, that name one of the names hop k brought in. This is how a reader follows "the
manager of Orla's mentor": who Orla's mentor is, then who manages that person. A name that many
sentences use (a book's hero) would pull in most of the text, so each hop keeps at most `per_hop`
sentences, those most relevant to the question (BM25), in document order.

A sentence that states a number (a count, an amount, a year) or a proper name is where a text
keeps its checkable facts; `stating` gives those, for plans that must keep facts verbatim. There a
name must also be written inside a sentence somewhere, so that a word that only opens sentences
("Oddly enough, …", "Later, …") does not make every sentence a fact.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from . import relevance

HOPS = 4  # links followed from the question's names
PER_HOP = 16  # sentences one hop may bring in
_SENTENCE = re.compile(r"[^.!?\n]+(?:[.!?]+[\"'\u201d\u2019)\]]*|$)")
_CAPITALISED = re.compile(r"(?<![\w'])[A-Z][\w-]*")
_LOWER = re.compile(r"(?<![\w'])[a-z][\w-]*")


def sentences(text: str) -> list[str]:
    """The text's sentences (and lines without a full stop), stripped, in order."""
    return [s.strip() for s in _SENTENCE.findall(text) if s.strip()]


def _common(text: str, strict: bool = False) -> frozenset[str]:
    """Words that are no names, in lower case: stop words and words the text writes in lower case;
    if `strict`, also capitalised words that only ever open a sentence ("Oddly", "Later", but also
    a town named only at the start of sentences)."""
    from bm25s.stopwords import STOPWORDS_EN_PLUS  # with bm25s, loaded on first use

    common = frozenset(_LOWER.findall(text)) | frozenset(STOPWORDS_EN_PLUS)
    if not strict:
        return common
    opening, inside = set(), set()
    for sentence in sentences(text):
        words = _CAPITALISED.findall(sentence)
        if words and sentence.startswith(words[0]):
            opening.add(words[0])
            words = words[1:]
        inside.update(words)
    return common | {w.lower() for w in opening - inside}


def names(text: str, common: Iterable[str]) -> set[str]:
    """The capitalised words of `text` whose lower case is not among `common` words."""
    skip = set(common)
    return {w for w in _CAPITALISED.findall(text) if w.lower() not in skip}


def linked(question: str, text: str, hops: int = HOPS, per_hop: int = PER_HOP) -> list[str]:
    """The sentences of `text` linked to the question's names in up to `hops` hops, hop by hop,
    each hop in document order; none when the question names nothing the text names."""
    found = sentences(text)
    common = _common(text)
    named = [names(s, common) for s in found]
    known = names(question, common)
    frontier, taken, out = set(known), set(), []
    for _ in range(hops):
        hits = [i for i, ns in enumerate(named) if i not in taken and ns & frontier]
        if not hits:
            break
        if len(hits) > per_hop:
            order = relevance.ranked(question, [found[i] for i in hits])
            hits = sorted(hits[j] for j in order[:per_hop])
        out += hits
        taken.update(hits)
        frontier = set().union(*(named[i] for i in hits)) - known
        known |= frontier
    return [found[i] for i in out]


_DIGIT = re.compile(r"\d")


def stating(text: str) -> list[str]:
    """The sentences of `text` that hold a digit or a proper name, in order."""
    found = sentences(text)
    common = _common(text, strict=True)
    return [s for s in found if _DIGIT.search(s) or names(s, common)]
