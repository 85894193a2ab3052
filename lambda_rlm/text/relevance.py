"""Relevance: takes a query and pieces of text, gives the pieces' order by BM25 relevance to the query (no model).

BM25 (Okapi, k1 = 1.5, b = 0.75) through `bm25s`, over lower-cased word tokens with English stop
words removed, indexed over the pieces themselves (so a word's rarity is its rarity in this
document). Pieces that score the same keep their order in the document, so ranking a list no
query word occurs in leaves it as it was.
"""

from __future__ import annotations

from collections.abc import Sequence


def scores(query: str, pieces: Sequence[str]) -> list[float]:
    """Each piece's BM25 score for the query (0 for a piece that shares no word with it)."""
    import bm25s  # about 0.5 s to import (numpy): loaded on first use, never at import

    if not pieces:
        return []
    corpus = bm25s.tokenize(list(pieces), stopwords="en", show_progress=False, return_ids=False)
    asked = bm25s.tokenize([query], stopwords="en", show_progress=False, return_ids=False)[0]
    known = {word for piece in corpus for word in piece}
    words = [w for w in asked if w in known]
    if not words:
        return [0.0] * len(pieces)
    retriever = bm25s.BM25()
    retriever.index(corpus, show_progress=False)
    return [float(s) for s in retriever.get_scores(words)]


def ranked(query: str, pieces: Sequence[str]) -> list[int]:
    """The pieces' indices, most relevant first; ties keep document order."""
    found = scores(query, pieces)
    return sorted(range(len(pieces)), key=lambda i: (-found[i], i))
