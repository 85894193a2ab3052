"""A tiny benchmark task for the bench and reference-provider tests: takes a length and seed, gives gate-code questions.

It implements the Task protocol (tasks/base.py) without depending on the built-in tasks: one
seeded document of filler sentences per (length, seed) with one access code planted per
question, and `Entry: NAME (LABEL).` lines that its item reader recognises.
"""

from __future__ import annotations

import random
import re
from collections.abc import Sequence
from typing import Any

from lambda_rlm.bench.tasks.base import Count, Instance, exact_match

WORDS = ("harbour", "ledger", "meeting", "season", "cargo", "pilot", "weather", "crane", "quay", "tide",
         "report", "budget", "vessel", "storage", "inspection", "schedule")
GATES = ("Alder", "Birch", "Cedar", "Dunmore", "Elm", "Fenwick", "Garnet", "Hollis", "Ivory", "Juniper",
         "Kestrel", "Linden", "Marlow", "Norrow", "Oakley", "Pellam")
_CODE = re.compile(r"The access code for the (\w+) gate is (\d{4})\.")
_ASKED = re.compile(r"^What is the access code for the (\w+) gate\?$")
_ENTRY = re.compile(r"^Entry: (\w+) \((\w+)\)\.$", re.MULTILINE)


def filler(rng: random.Random) -> str:
    words = [rng.choice(WORDS) for _ in range(rng.randint(6, 12))]
    return " ".join(words).capitalize() + "."


class Gates:
    """Gate codes planted in filler; one question per gate, the answer its four-digit code."""

    name = "gates"
    plan = "search"

    def generate(self, length: int, n: int, seed: int, count: Count) -> list[Instance]:
        rng = random.Random(f"gates-{length}-{seed}")
        gates = rng.sample(GATES, n)
        codes = {gate: str(rng.randint(1000, 9999)) for gate in gates}
        sentences: list[str] = []
        size = 0
        while size < length:
            sentence = filler(rng)
            sentences.append(sentence)
            size += count(sentence + " ")
        for gate in gates:
            sentences.insert(rng.randint(0, len(sentences)), f"The access code for the {gate} gate is {codes[gate]}.")
        document = "\n\n".join(" ".join(sentences[i:i + 5]) for i in range(0, len(sentences), 5))
        return [Instance(self.name, f"gates-{length}-{seed}-{i}", document,
                         f"What is the access code for the {gate} gate?", codes[gate])
                for i, gate in enumerate(gates)]

    def score(self, predicted: Any, instance: Instance) -> float:
        return exact_match(predicted, instance.answer)

    def read_answer(self, question: str, text: str) -> str | None:
        asked = _ASKED.match(question.strip())
        if asked is None:
            return None
        return next((code for gate, code in _CODE.findall(text) if gate == asked[1]), None)

    def read_items(self, text: str) -> Sequence[tuple[str, str | None]] | None:
        found = [(item, label) for item, label in _ENTRY.findall(text)]
        return found or None
