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
from string import Formatter
from typing import Any

from .base import Count, Instance, exact_match

# ---------------------------------------------------------------------- the lexicon

# Templates end with "?" and hold no other sentence end, so a record cut by `split` never looks whole.
TEMPLATES: dict[str, tuple[str, ...]] = {
    "sports": (
        "Where can I buy tickets for the {team} game on {day}?",
        "Who scored the winning goal in the {league} final last night?",
        "How many points did {athlete} score against the {team}?",
        "What time does the {sport} match start this {day}?",
        "Is the {team} coach going to change the lineup for the playoffs?",
        "Which {sport} team won the championship in {year}?",
        "How can I improve my {sport} technique before the next tournament?",
    ),
    "weather": (
        "Will it rain in {city} on {day}?",
        "How cold does it get in {city} on a typical {season} night?",
        "Is there a storm warning for {city} this weekend?",
        "What is the forecast for {city} tomorrow, sunny or cloudy?",
        "How much snow fell in {city} last {season}?",
        "Why is the humidity so high in {city} today?",
        "When will the heatwave in {city} finally end?",
    ),
    "food": (
        "What is a good recipe for {dish} with {ingredient}?",
        "How long should I bake {dish} in the oven?",
        "Which restaurant in {city} serves the best {dish}?",
        "Can I replace {ingredient} with butter in a cake?",
        "What wine goes well with {dish} for dinner?",
        "How do I keep {ingredient} fresh in the fridge?",
    ),
    "travel": (
        "How much does a flight from {city} to {destination} cost in {month}?",
        "Do I need a visa to visit {country}?",
        "Which hotel near the {city} airport has a free shuttle?",
        "What is the cheapest way to get from {city} to {destination} by train?",
        "How early should I arrive at the airport for a flight to {country}?",
        "Can I change my booking for the cruise to {country}?",
        "What are the best sights to see on a weekend trip to {destination}?",
    ),
    "finance": (
        "What is the current interest rate on a {loan} at my bank?",
        "Should I invest my savings in {asset} or {asset2}?",
        "How do I file my taxes if I earned {amount} dollars from freelance work?",
        "Why did the price of {asset} drop so much on {day}?",
        "How much should I save each month for retirement?",
        "Can my credit score affect my {loan} application?",
    ),
    "health": (
        "What are the early symptoms of {illness}?",
        "How much {supplement} should an adult take each day?",
        "Is it safe to exercise with a sprained {joint}?",
        "When should I see a doctor about a persistent {symptom}?",
        "Can {illness} be prevented with a vaccine?",
        "How many hours of sleep does a teenager need to stay healthy?",
    ),
    "music": (
        "When does {band} start their concert tour in {city}?",
        "What chords do I need to play {song} on the {instrument}?",
        "Which {genre} album won the Grammy in {year}?",
        "How do I tune a {instrument} by ear?",
        "Where can I stream the new {band} single?",
        "Who sang the lead vocals on the {band} record from {year}?",
    ),
    "technology": (
        "How do I reset my {device} to factory settings?",
        "Why does my {device} battery drain so fast after the update?",
        "Which {software} version fixes the login bug?",
        "Can I connect a second monitor to my {device}?",
        "What is the best password manager for {system}?",
        "How do I back up my photos to the cloud from my {device}?",
    ),
}
CATEGORIES = tuple(TEMPLATES)

# Slot values; the shared ones may appear under several categories and never identify one.
SHARED_SLOTS: dict[str, tuple[str, ...]] = {
    "day": ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"),
    "year": tuple(str(y) for y in range(2009, 2023)),
    "month": ("January", "March", "April", "June", "July", "August", "October", "December"),
    "city": ("Chicago", "Denver", "Seattle", "Boston", "Madrid", "Berlin", "Toronto", "Sydney", "Dublin"),
}
SLOTS: dict[str, tuple[str, ...]] = {
    **SHARED_SLOTS,
    "team": ("Lakers", "Yankees", "Celtics", "Dodgers", "Warriors", "Packers", "Arsenal", "Liverpool"),
    "league": ("NBA", "NFL", "Premier League", "World Cup", "Champions League", "Stanley Cup"),
    "athlete": ("LeBron", "Messi", "Serena", "Ronaldo", "Federer", "Curry"),
    "sport": ("tennis", "basketball", "soccer", "hockey", "baseball", "volleyball"),
    "season": ("winter", "summer", "spring", "autumn"),
    "dish": ("lasagna", "ramen", "paella", "curry", "pancakes", "risotto", "tacos"),
    "ingredient": ("garlic", "basil", "ginger", "cheese", "mushrooms", "chickpeas"),
    "destination": ("Lisbon", "Kyoto", "Marrakesh", "Reykjavik", "Havana", "Prague"),
    "country": ("Japan", "Portugal", "Kenya", "Peru", "Iceland", "Vietnam"),
    "loan": ("mortgage", "car loan", "student loan", "personal loan"),
    "asset": ("stocks", "bonds", "gold", "index funds", "bitcoin"),
    "asset2": ("real estate", "treasury bills", "mutual funds", "silver"),
    "amount": ("8,000", "12,500", "30,000", "45,000"),
    "illness": ("flu", "diabetes", "asthma", "measles", "migraine", "bronchitis"),
    "supplement": ("vitamin D", "iron", "calcium", "magnesium", "zinc"),
    "joint": ("ankle", "wrist", "knee"),
    "symptom": ("cough", "headache", "back pain", "fever", "rash"),
    "band": ("Coldplay", "Radiohead", "ABBA", "Metallica", "Beyonce", "Nirvana"),
    "song": ("Yesterday", "Hallelujah", "Wonderwall", "Imagine"),
    "instrument": ("guitar", "piano", "violin", "drums", "cello"),
    "genre": ("jazz", "rock", "blues", "hip hop", "folk"),
    "device": ("laptop", "iPhone", "tablet", "router", "smartwatch", "Android phone"),
    "software": ("Windows", "Chrome", "Excel", "Photoshop", "Firefox"),
    "system": ("Linux", "macOS", "Windows"),
}
_WORD = re.compile(r"[a-z]+")
# Words that say nothing of a topic, even when only one category's templates happen to use them.
STOPWORDS = frozenset((
    "a", "about", "after", "an", "and", "at", "be", "before", "by", "can", "d", "day", "do", "does", "each", "end",
    "for", "free", "from", "get", "goes", "has", "high", "how", "i", "in", "is", "it", "last", "my", "need", "new",
    "next", "of", "on", "or", "should", "so", "the", "their", "this", "to", "what", "when", "where", "which", "who",
    "why", "will", "with",
))


def _slots_of(template: str) -> tuple[str, ...]:
    return tuple(name for _, name, _, _ in Formatter().parse(template) if name)


def _material(category: str) -> set[str]:
    """Every word a text of `category` can hold outside the shared slots."""
    words: set[str] = set()
    for template in TEMPLATES[category]:
        words.update(_WORD.findall(re.sub(r"\{\w+\}", " ", template).lower()))
        for slot in _slots_of(template):
            if slot not in SHARED_SLOTS:
                words.update(_WORD.findall(" ".join(SLOTS[slot]).lower()))
    return words


@functools.cache
def keywords() -> dict[str, frozenset[str]]:
    """Each category's keywords: its words that no other category and no shared slot uses."""
    shared = set(_WORD.findall(" ".join(v for vs in SHARED_SLOTS.values() for v in vs).lower()))
    material = {c: _material(c) for c in CATEGORIES}
    return {
        c: frozenset(words - shared - STOPWORDS - set().union(*(material[d] for d in CATEGORIES if d != c)))
        for c, words in material.items()
    }


def infer_label(text: str) -> str | None:
    """The category a reader infers from the text's words (the most keyword hits), or None."""
    words = _WORD.findall(text.lower())
    hits = {c: sum(w in kws for w in words) for c, kws in keywords().items()}
    best = max(hits.values())
    winners = [c for c, h in hits.items() if h == best]
    return winners[0] if best > 0 and len(winners) == 1 else None


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

