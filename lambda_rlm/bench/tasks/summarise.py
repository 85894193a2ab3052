"""Summarise: takes a length and a seed, gives requests to summarise essays stating key facts, scored by recall.

The document is the essay haystack of the sniah task (no names, no numbers) with KEY_FACTS
sentences planted at depths spread over it. Each states one event of a made-up place or body
with a number that occurs nowhere else ("The Orlen ferry service carried 4,118,262 passengers
in its first season."). A summary is scored by key-fact recall: the share of the facts whose
number it keeps (as a number: "4118262" and "4,118,262" both count), the way summaries are
scored against planted key facts in long-context summarisation benchmarks.

The reference reader knows the facts by their form: asked for a summary, it keeps the key-fact
sentences of the text it sees, in order, at most five (the plan's summaries hold five).
"""

from __future__ import annotations

import random
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from .base import Count, Instance
from .sniah import fit_haystack, join_sentences

KEY_FACTS = 5
QUESTION = "Summarise the document above, keeping every key fact it states: names, numbers and dates."
_QUESTION = re.compile(r"^Summarise the document above, keeping every key fact it states\b")

_PLACES = ["Orlen", "Vastry", "Quillon", "Marrow Bay", "Tessaly", "Ebbford", "Kestrel Point", "Halvard",
           "Dunmere", "Ostwick", "Pellow", "Saragin", "Brindle", "Corvath", "Fenwater", "Lusk"]
# Each fact: (template, how its number is written). The number is the fact's identity when scored.
_FACTS = [
    "The {place} ferry service carried {n:,} passengers in its first season.",
    "The {place} water board approved a budget of {n:,} crowns for the new reservoir.",
    "Archivists in {place} catalogued {n:,} letters from the old shipping office.",
    "The {place} observatory recorded {n:,} meteors during the winter survey.",
    "The {place} cooperative planted {n:,} trees along the northern ridge.",
    "The {place} museum welcomed {n:,} visitors after its reopening.",
    "Engineers in {place} laid {n:,} metres of new cable under the harbour.",
    "The {place} library lent {n:,} books in its busiest year.",
]
_FACT = re.compile(
    r"(?:The |Archivists in |Engineers in )[A-Z][a-z]+(?: [A-Z][a-z]+)? [^.]*?\b\d{1,3}(?:,\d{3})+ [^.]*\.")
_NUMBER = re.compile(r"\d[\d,.]*\d|\d")  # a number as written, thousands separators included


def _depths(k: int) -> list[float]:
    return [(i + 0.5) / k for i in range(k)]


def _plant(sentences: list[str], facts: Sequence[str]) -> list[str]:
    out = list(sentences)
    for fact, depth in sorted(zip(facts, _depths(len(facts)), strict=True), key=lambda p: -p[1]):
        out.insert(round(depth * len(out)), fact)
    return out


@dataclass(frozen=True)
class Summarise:
    """Summaries scored by key-fact recall; the `summarise` plan answers them."""

    name: str = "summarise"
    plan: str = "summarise"

    def generate(self, length: int, n: int, seed: int, count: Count) -> list[Instance]:
        out = []
        for i in range(n):
            rng = random.Random(f"{self.name}-{seed}-{length}-{i}")
            places = rng.sample(_PLACES, KEY_FACTS)
            numbers = [rng.randint(1_000_000, 9_999_999) for _ in range(KEY_FACTS)]
            facts = [rng.choice(_FACTS).format(place=p, n=n_) for p, n_ in zip(places, numbers, strict=True)]
            room = max(1, length - sum(count(f) + 1 for f in facts))
            haystack = fit_haystack(random.Random(f"{self.name}-{seed}-{length}-{i}-essay"), room, count)
            document = join_sentences(_plant(haystack, facts))
            out.append(Instance(self.name, f"{self.name}-{length}-{seed}-{i}", document, QUESTION,
                                [str(x) for x in numbers], {"facts": facts}))
        return out

    def score(self, predicted: Any, instance: Instance) -> float:
        """Key-fact recall: the share of the facts' numbers the summary keeps (digits compared)."""
        if predicted is None or not instance.answer:
            return 0.0
        kept = {re.sub(r"[,.]", "", m) for m in _NUMBER.findall(str(predicted))}
        return sum(1.0 for number in instance.answer if str(number) in kept) / len(instance.answer)

    def read_answer(self, question: str, text: str) -> str | None:
        if not _QUESTION.search(question):
            return None
        found = _FACT.findall(text)
        return " ".join(found[:KEY_FACTS]) or None

    def read_items(self, text: str) -> None:
        return None
