"""OOLONG-style aggregation: takes a seed and a length, gives documents of user records with unwritten categories.

Each line is `Date: Mar 04, 2023 || User: 48213 || Instance: <text>`; the text is about one of
eight categories, evident from its words but never named (as in OOLONG's trec_coarse split, where
the labels are hidden). The generator and the reference reader share one lexicon: a category's
keywords are the words its templates use and no other category's do, so "a reader can infer it".
`pairs.py` builds on the same records.
"""

from __future__ import annotations

import bisect
import functools
import itertools
import re
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from random import Random
from typing import Any

from .base import Count, Instance, exact_match
from .oolong_lexicon import CATEGORIES as CATEGORIES
from .oolong_lexicon import SLOTS, TEMPLATES, _slots_of
from .oolong_lexicon import infer_label as infer_label
from .oolong_lexicon import keywords as keywords

# ---------------------------------------------------------------------- records


@dataclass(frozen=True)
class Record:
    """One line of a document: its date, user id, text and the (unwritten) category of the text."""

    date: str
    user: str
    text: str
    label: str

    def line(self) -> str:
        return f"Date: {self.date} || User: {self.user} || Instance: {self.text}"


MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
# A whole record: the full scaffold, and a text that reaches its closing "?".
RECORD_LINE = re.compile(
    r"^Date: ([A-Z][a-z]{2} \d{2}, \d{4}) \|\| User: (\d{5}) \|\| Instance: ([^\n]*\?)[ \t]*$", re.MULTILINE
)


@functools.cache
def _dates() -> tuple[str, ...]:
    start = date(2022, 1, 1)
    days = (start + timedelta(days=i) for i in range(730))
    return tuple(f"{MONTHS[d.month - 1]} {d.day:02d}, {d.year}" for d in days)


def make_text(rng: Random, category: str) -> str:
    """A seeded text about `category`, from one of its templates."""
    template = rng.choice(TEMPLATES[category])
    return template.format_map({slot: rng.choice(SLOTS[slot]) for slot in _slots_of(template)})


def make_record(rng: Random, category: str, user: str) -> Record:
    return Record(rng.choice(_dates()), user, make_text(rng, category), category)


def read_records(text: str) -> list[tuple[str, str | None]]:
    """(user, inferred category) for every whole record line in `text`, in order."""
    return [(m.group(2), infer_label(m.group(3))) for m in RECORD_LINE.finditer(text)]


def document(records: Sequence[Record]) -> str:
    return "\n".join(r.line() for r in records)


class Stream:
    """Seeded records drawn one after another, so that a longer document extends a shorter one."""

    def __init__(self, key: str, draw: Callable[[Random], Record]) -> None:
        self.key, self.draw = key, draw
        self.rng = Random(key)
        self.made: list[Record] = []

    def take(self, n: int, variant: int = 0) -> list[Record]:
        """The first n records; variant v > 0 replaces the last one with the v-th alternative."""
        while len(self.made) < n:
            self.made.append(self.draw(self.rng))
        out = self.made[:n]
        if variant and out:
            out[-1] = self.draw(Random(f"{self.key}-tail-{variant}"))
        return out


# ---------------------------------------------------------------------- fitting a length

GUESS_TOKENS_PER_RECORD = 30
PROBE_RECORDS = 2000  # enough to estimate tokens per record within about 1%
TOLERANCE = 0.02


def fit(length: int, count: Count, build: Callable[[int, int], list[Record]]) -> list[Record]:
    """Records whose document is `length` tokens ±2% by `count`; build(n, variant) gives n stream records.

    The rate is measured on a probe, the full document is counted (once when the estimate holds,
    which it does beyond a few thousand tokens), and when whole records are too coarse for the
    tolerance (short documents) alternatives of the last record are tried in a fixed order.
    """
    probe_n = max(1, min(PROBE_RECORDS, length // GUESS_TOKENS_PER_RECORD))
    probe = build(probe_n, 0)
    rate = count(document(probe)) / len(probe)
    fixed = len(probe) - probe_n  # records that do not come from the stream (pairs' rare ones)
    n = max(1, round(length / rate) - fixed)
    seen: set[int] = set()
    while n not in seen:
        seen.add(n)
        records = build(n, 0)
        got = count(document(records))
        if abs(got - length) <= TOLERANCE * length:
            return records
        n = max(1, n + round((length - got) / rate))
    for variant, m in itertools.product(range(1, 500), (n, n - 1, n + 1)):
        records = build(max(1, m), variant)
        if abs(count(document(records)) - length) <= TOLERANCE * length:
            return records
    raise ValueError(f"cannot make a document of {length} tokens from these records")


# ---------------------------------------------------------------------- scoring and questions

_INT = re.compile(r"\d{1,3}(?:,\d{3})+(?!\d)|\d+")


def first_int(predicted: Any) -> int | None:
    """The first integer written in a prediction ("1,234" counts as 1234), or None."""
    if isinstance(predicted, bool):
        return None
    if isinstance(predicted, int):
        return predicted
    found = _INT.search(str(predicted))
    return int(found.group(0).replace(",", "")) if found else None


def oolong_score(predicted: Any, gold: Any) -> float:
    """OOLONG's score: 0.75 ** |error| for a numeric gold answer, else exact match after normalisation."""
    if isinstance(gold, int):
        got = first_int(predicted)
        return 0.0 if got is None else 0.75 ** abs(got - gold)
    return exact_match(predicted, gold)


def listed(categories: Sequence[str]) -> str:
    return ", ".join(categories)


NOTES = "Each record's text belongs to one of these categories: {}."
_LISTED = re.compile(r"categories: ([a-z, ]+)\.")
_COUNT = re.compile(r"How many records are about (\w+)\?")
_EXTREME = re.compile(r"Which category is the (most|least) common\?")
_COMPARE = re.compile(r"Which is (more|less) common, (\w+) or (\w+)\?")


@dataclass(frozen=True)
class Question:
    kind: str  # count, most, least, more or less
    ask: str
    answer: int | str


def questions(tally: Counter[str], categories: Sequence[str], rng: Random) -> list[Question]:
    """Every question the tally answers unambiguously, the kinds interleaved in a seeded order.

    A category with no record is never asked about: the plan only sees labels that occur.
    """
    present = [c for c in categories if tally[c] > 0]
    counts = [Question("count", f"How many records are about {c}?", tally[c]) for c in present]
    extremes = []
    ranked = sorted(present, key=lambda c: tally[c])
    if len(ranked) > 1 and tally[ranked[-1]] > tally[ranked[-2]]:
        extremes.append(Question("most", "Which category is the most common?", ranked[-1]))
    if len(ranked) == len(categories) and len(ranked) > 1 and tally[ranked[0]] < tally[ranked[1]]:
        extremes.append(Question("least", "Which category is the least common?", ranked[0]))
    compares = []
    for a, b in itertools.combinations(present, 2):
        if tally[a] != tally[b]:
            kind = rng.choice(("more", "less"))
            x, y = rng.sample((a, b), 2)
            winner = max((a, b), key=tally.__getitem__) if kind == "more" else min((a, b), key=tally.__getitem__)
            compares.append(Question(kind, f"Which is {kind} common, {x} or {y}?", winner))
    groups = [counts, compares, extremes]
    for group in groups:
        rng.shuffle(group)
    return [q for round_ in itertools.zip_longest(*groups) for q in round_ if q is not None]


def answer_from(question: str, labels: Sequence[str | None], categories: Sequence[str]) -> str | None:
    """The answer to one of our questions over these labels (ties go to the earlier category), or None."""
    tally = Counter(label for label in labels if label)
    if m := _COUNT.search(question):
        return str(tally[m.group(1)])
    if m := _EXTREME.search(question):
        pick = max if m.group(1) == "most" else min
        return pick(categories, key=lambda c: tally[c])
    if m := _COMPARE.search(question):
        pick = max if m.group(1) == "more" else min
        return pick((m.group(2), m.group(3)), key=lambda c: tally[c])
    return None


# ---------------------------------------------------------------------- the task

WEIGHTS = (0.28, 0.22, 0.17, 0.14, 0.11, 0.08)  # distinct, so most and least are rarely tied


def user_pool(rng: Random, length: int) -> list[str]:
    """Five-digit user ids (always two tokens), about one per four records."""
    size = min(60_000, max(10, length // (4 * GUESS_TOKENS_PER_RECORD)))
    return [str(u) for u in rng.sample(range(10_000, 100_000), size)]


@dataclass(frozen=True)
class Oolong:
    """OOLONG (trec_coarse flavour): counts, extremes and comparisons of inferred categories."""

    name: str = "oolong"
    plan: str = "aggregate"

    def generate(self, length: int, n: int, seed: int, count: Count) -> list[Instance]:
        rng = Random(f"oolong-{seed}-{length}-doc")
        categories = sorted(rng.sample(CATEGORIES, len(WEIGHTS)), key=CATEGORIES.index)
        cumulative = list(itertools.accumulate(rng.sample(WEIGHTS, len(WEIGHTS))))
        users = user_pool(rng, length)

        def draw(r: Random) -> Record:
            category = categories[bisect.bisect(cumulative, r.random() * cumulative[-1])]
            return make_record(r, category, r.choice(users))

        stream = Stream(f"oolong-{seed}-{length}-records", draw)
        records = fit(length, count, stream.take)
        doc = document(records)  # one object shared by every instance
        tally = Counter(r.label for r in records)
        notes = NOTES.format(listed(categories))
        asked = questions(tally, categories, Random(f"oolong-{seed}-{length}-questions"))
        return [
            Instance(self.name, f"{self.name}-{length}-{seed}-{i}", doc, f"{q.ask}\n{notes}", q.answer,
                     {"kind": q.kind, "records": len(records), "categories": categories})
            for i, q in zip(range(n), itertools.cycle(asked), strict=False)
        ]

    def score(self, predicted: Any, instance: Instance) -> float:
        return oolong_score(predicted, instance.answer)

    def read_answer(self, question: str, text: str) -> str | None:
        found = read_records(text)
        if not found:
            return None
        shown = _LISTED.search(question)
        categories = shown.group(1).split(", ") if shown else sorted({c for _, c in found if c})
        return answer_from(question, [c for _, c in found], categories)

    def read_items(self, text: str) -> list[tuple[str, str | None]] | None:
        return read_records(text) or None

    def read_label(self, text: str) -> str | None:
        """The category of a record's text shown alone (as label_records shows it), or None."""
        return infer_label(text)

