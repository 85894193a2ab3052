"""Combinators for program search: take lists of answers (with stated confidences), give the one they agree on.

Pure (no model calls), so a researcher can compose a search in the language itself: run several
leaves or sub-programs, then `majority` or `consensus` over what they say. `consensus` follows the
selection rule of `lambda-rlm ask --search` (lambda_rlm/search.py): answers are compared after
normalisation, and an abstention (NONE, NOT FOUND, …) wins only when every answer abstains.
"""

from __future__ import annotations

from typing import Any

from lambda_rlm.analysis import absdomain as a
from lambda_rlm.core.registry import combinator
from lambda_rlm.core.values import Some
from lambda_rlm.strategies.selection import abstains, group_key, normalise


def _one_of(xs: a.AValue) -> a.AValue:
    """An Option of one item: its size is an item's size (a mean of confidences stays in their range)."""
    return a.Opt(xs.elem) if isinstance(xs, a.Lst) else a.TOP


@combinator("majority : List a -> Option a", size=_one_of)
def majority(xs: tuple[Any, ...]) -> Some | None:
    """The most common item (exact equality), ties going to the one seen first; none for an empty list."""
    tally: dict[Any, int] = {}
    for x in xs:
        tally[x] = tally.get(x, 0) + 1
    return Some(max(tally, key=lambda x: tally[x])) if tally else None  # max keeps the first of equals


@combinator("consensus : List (Text, Int) -> Option (Text, Int)", size=_one_of)
def consensus(xs: tuple[tuple[str, int], ...]) -> Some | None:
    """Of (answer, confidence 0–100) pairs: the answer of the largest group of equal normalised answers,
    ties by higher mean confidence, then by first appearance; with that group's mean confidence.

    Abstentions count only when every answer abstains, so one grounded answer beats any number of NONEs.
    """
    real = [x for x in xs if not abstains(normalise(x[0]))]
    groups: dict[str, list[tuple[str, int]]] = {}
    for x in real or xs:
        groups.setdefault(group_key(normalise(x[0])), []).append(x)
    if not groups:
        return None
    best = max(groups.values(), key=lambda g: (len(g), sum(c for _, c in g) / len(g)))
    return Some((best[0][0], sum(c for _, c in best) // len(best)))
