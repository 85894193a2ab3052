"""OOLONG-Pairs style: takes a seed and a length, gives questions answered by every pair of users meeting a condition.

The documents are OOLONG's records (`oolong.py`). Three categories are common and five are rare:
only a few users (2 to 12, by length) have a record about each rare category, so the gold sets
stay in the tens to hundreds of pairs at any length. A question names one or two rare categories
("List every pair of users who both have a record about travel."), which is what the pairwise
plan answers: it pairs the items whose inferred label the question names.
"""

from __future__ import annotations

import itertools
import json
import math
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from random import Random
from typing import Any

from .base import Count, Instance, normalise
from .oolong import CATEGORIES, Record, Stream, document, fit, infer_label, listed, make_record, read_records, user_pool

COMMON = 3  # categories held by many users; the other five are rare
NOTES = "In each record the item is the user id and the label is the category its text belongs to, one of: {}."
_BOTH = re.compile(r"List every pair of users who both have a record about (\w+)\.")
_EITHER = re.compile(r"List every pair of users who each have a record about (\w+) or (\w+)\.")
_PAREN_PAIR = re.compile(r"\(\s*['\"]?([^,()'\"]+?)['\"]?\s*,\s*['\"]?([^,()'\"]+?)['\"]?\s*\)")
_LINE_PAIR = re.compile(r"^\s*(?:[-*]\s+)?(\S+)\s*(?:-|–|,|and)\s*(\S+)\s*$", re.MULTILINE)
_EMPTY = {"", "none", "no pairs", "[]", "nothing"}

Pair = tuple[str, str]


def gold_pairs(records: Iterable[tuple[str, str | None]], wanted: set[str]) -> list[list[str]]:
    """Every pair [a, b] (a < b) of distinct users who have a record labelled with a wanted category."""
    users = sorted({user for user, label in records if label in wanted})
    return [[a, b] for a, b in itertools.combinations(users, 2)]


def _pair_of(item: Any) -> Pair | None:
    if isinstance(item, dict):
        item = list(item.values())
    if isinstance(item, (list, tuple)) and len(item) == 2 and all(isinstance(x, (str, int)) for x in item):
        a, b = (normalise(x) for x in item)
        return (a, b) if a <= b else (b, a)
    return None


def parse_pairs(predicted: Any) -> set[Pair] | None:
    """The unordered pairs of a prediction (a list of pairs, JSON text, "(a, b)" or "a - b" lines), or None."""
    if isinstance(predicted, str):
        text = predicted.strip()
        if normalise(text) in _EMPTY:
            return set()
        try:
            predicted = json.loads(text)
        except ValueError:
            found = _PAREN_PAIR.findall(text) or _LINE_PAIR.findall(text)
            return {p for p in map(_pair_of, found) if p is not None} or None
    if not isinstance(predicted, (list, tuple)):
        return None
    pairs = [_pair_of(item) for item in predicted]
    return None if None in pairs else {p for p in pairs if p is not None}  # one malformed item spoils it


def pair_f1(predicted: Any, gold: Sequence[Sequence[str]]) -> float:
    """F1 over unordered pairs; 1.0 when both sets are empty, 0.0 when the prediction is malformed."""
    got = parse_pairs(predicted)
    want = {p for p in map(_pair_of, gold) if p is not None}
    if got is None:
        return 0.0
    if not got and not want:
        return 1.0
    hits = len(got & want)
    return 0.0 if hits == 0 else 2 * hits / (len(got) + len(want))


@dataclass(frozen=True)
class Ask:
    wanted: tuple[str, ...]

    @property
    def text(self) -> str:
        if len(self.wanted) == 1:
            return f"List every pair of users who both have a record about {self.wanted[0]}."
        return f"List every pair of users who each have a record about {self.wanted[0]} or {self.wanted[1]}."


def wanted_in(question: str) -> set[str] | None:
    """The categories one of our questions names, or None for another task's question."""
    if m := _BOTH.search(question):
        return {m.group(1)}
    if m := _EITHER.search(question):
        return {m.group(1), m.group(2)}
    return None


def rare_records(rng: Random, rare: Sequence[str], users: Sequence[str], length: int) -> list[Record]:
    """The records of the rare categories: a few users each, one to three records per user."""
    per_category = min(12, max(2, round(1.3 * math.sqrt(length / 1000))))  # 2 at 1k, 4 at 8k, 12 from 85k
    most = 3 if length >= 15_000 else 1  # keeps the rare records a minority of a short document
    out = []
    for category in rare:
        for user in rng.sample(users, per_category):
            out += [make_record(rng, category, user) for _ in range(1 + rng.randrange(most))]
    return out


def interleave(common: list[Record], rare: list[Record], rng: Random) -> list[Record]:
    """The rare records placed among the common ones at seeded positions, the common order kept."""
    slots = sorted(rng.randrange(len(common) + 1) for _ in rare)
    out, start = [], 0
    for slot, record in zip(slots, rng.sample(rare, len(rare)), strict=True):
        out += common[start:slot]
        out.append(record)
        start = slot
    return out + common[start:]


@dataclass(frozen=True)
class Pairs:
    """OOLONG-Pairs style: pairs of users who both have a record about a named (rare) category."""

    name: str = "pairs"
    plan: str = "pairwise"

    def generate(self, length: int, n: int, seed: int, count: Count) -> list[Instance]:
        rng = Random(f"pairs-{seed}-{length}-doc")
        order = rng.sample(CATEGORIES, len(CATEGORIES))
        common, rare = order[:COMMON], sorted(order[COMMON:], key=CATEGORIES.index)
        users = user_pool(rng, length)
        fixed = rare_records(rng, rare, users, length)
        stream = Stream(f"pairs-{seed}-{length}-records", lambda r: make_record(r, r.choice(common), r.choice(users)))

        def build(k: int, variant: int) -> list[Record]:
            return interleave(stream.take(k, variant), fixed, Random(f"pairs-{seed}-{length}-places-{k}"))

        records = fit(length, count, build)
        doc = document(records)
        truth = [(r.user, r.label) for r in records]
        notes = NOTES.format(listed(CATEGORIES))
        asks = [Ask((c,)) for c in rare] + [Ask(p) for p in itertools.combinations(rare, 2)]
        Random(f"pairs-{seed}-{length}-questions").shuffle(asks)
        return [
            Instance(self.name, f"{self.name}-{length}-{seed}-{i}", doc, f"{a.text}\n{notes}",
                     gold_pairs(truth, set(a.wanted)), {"wanted": list(a.wanted), "records": len(records)})
            for i, a in zip(range(n), itertools.cycle(asks), strict=False)
        ]

    def score(self, predicted: Any, instance: Instance) -> float:
        return pair_f1(predicted, instance.answer)

    def read_answer(self, question: str, text: str) -> str | None:
        wanted, found = wanted_in(question), read_records(text)
        if wanted is None or not found:
            return None
        pairs = gold_pairs(found, wanted)
        return "\n".join(f"({a}, {b})" for a, b in pairs) if pairs else "NONE"

    def read_items(self, text: str) -> list[tuple[str, str | None]] | None:
        return read_records(text) or None

    def read_label(self, text: str) -> str | None:
        """The category of a record's text shown alone (as label_records shows it), or None."""
        return infer_label(text)
