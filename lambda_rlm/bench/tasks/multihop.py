"""Multi-hop: takes a length and a seed, gives questions answered by chains of 2–4 one-sentence facts in an essay.

Entities are people ("Orla Vance"), workplaces ("the Brackenridge depot"), towns ("Halvardby") and
provinces ("Eastmarch"), linked by functional relations: a person's mentor and manager, where a
person works, which town houses a workplace, which province a town lies in. A chain of k facts
starts at a named entity and follows k relations; each fact is one sentence at its own random
depth, and every fact names the entity the previous one led to, so a reader that collects the
sentences sharing a proper name with what it already knows finds one more link per pass (k
passes for k facts). Distractor chains use the same relations over other entities; no entity
appears in two chains, so every question has one answer. Proper names are made of words that
occur in no other entity (type words such as "depot" are lower case), and the essay filler has
no proper names at all.

Score: exact match after `base.normalise` (the issue's definition); the plans are told to reply
with the answer only, and a leading article is ignored ("Brackenridge depot" matches).
"""

from __future__ import annotations

import random
import re
from dataclasses import dataclass
from typing import Any

from .base import Count, Instance, exact_match
from .sniah import FILLER_WORDS, fit_haystack, join_sentences

RELATIONS = ("mentor", "manager", "works_at", "located", "province")  # the order a chain follows
KIND = {"mentor": "person", "manager": "person", "works_at": "place", "located": "town", "province": "province"}
START_KIND = {"mentor": "person", "manager": "person", "works_at": "person", "located": "place", "province": "town"}

# One sentence per fact, always starting with the subject's name (never with "The"), so that a
# sentence-initial word is part of a name. Two wordings per relation; the reader knows both.
TEMPLATES = {
    "mentor": ["{a}'s mentor is {b}.", "{a} was trained by {b}, a mentor of many years."],
    "manager": ["{a}'s manager is {b}.", "{a} reports to {b}, who manages the team."],
    "works_at": ["{a} works at the {b}.", "{a} is employed at the {b}."],
    "located": ["{b} is home to the {a}.", "{b} is the town where the {a} stands."],
    "province": ["{a} lies in the province of {b}.", "{a} is a town in the province of {b}."],
}
_NAME = r"[A-Z][a-z]+(?: [A-Z][a-z]+)?"
_PLACE = r"[A-Z][a-z]+ [a-z]+"
_FACTS = {
    "mentor": [rf"({_NAME})'s mentor is ({_NAME})\.", rf"({_NAME}) was trained by ({_NAME}), a mentor"],
    "manager": [rf"({_NAME})'s manager is ({_NAME})\.", rf"({_NAME}) reports to ({_NAME}), who manages"],
    "works_at": [rf"({_NAME}) works at the ({_PLACE})\.", rf"({_NAME}) is employed at the ({_PLACE})\."],
    "located": [rf"(?P<b>{_NAME}) is home to the (?P<a>{_PLACE})\.",
                rf"(?P<b>{_NAME}) is the town where the (?P<a>{_PLACE}) stands\."],
    "province": [rf"({_NAME}) lies in the province of ({_NAME})\.",
                 rf"({_NAME}) is a town in the province of ({_NAME})\."],
}
_FACT_PATTERNS = {rel: [re.compile(p) for p in ps] for rel, ps in _FACTS.items()}
_PLACE_TYPES = ["depot", "foundry", "archive", "mill", "observatory", "clinic", "boatyard", "press", "tannery",
                "brewery", "college", "warehouse"]

_ONSETS = ["br", "k", "t", "v", "m", "h", "d", "s", "l", "r", "g", "n", "p", "f", "th", "c", "w", "st", "gr", "ell"]
_VOWELS = ["a", "e", "i", "o", "u", "ae", "ea", "ia", "ou"]
_CODAS = ["n", "rk", "ll", "nd", "r", "th", "ck", "s", "m", "rn", "ld", "v", "", "x", "st", "ng"]
_ENDINGS = {"town": ["by", "mouth", "ford", "wick", "haven", "stead", "holm", "port"],
            "province": ["march", "land", "mere", "reach", "shire", "vale"]}


# ---------------------------------------------------------------------- names


class _Names:
    """Distinctive capitalised words, none used twice in one document (a set only for membership)."""

    def __init__(self, rng: random.Random) -> None:
        self.rng, self.used = rng, set(FILLER_WORDS)  # a name must not be a word the filler capitalises

    def word(self, syllables: int, ending: str = "") -> str:
        while True:
            w = "".join(self.rng.choice(_ONSETS) + self.rng.choice(_VOWELS) + self.rng.choice(_CODAS)
                        for _ in range(syllables)) + ending
            w = w.capitalize()
            if w not in self.used and 4 <= len(w) <= 14:
                self.used.add(w)
                return w

    def entity(self, kind: str) -> str:
        if kind == "person":
            return f"{self.word(self.rng.randint(1, 2))} {self.word(self.rng.randint(1, 2))}"
        if kind == "place":
            return f"{self.word(2)} {self.rng.choice(_PLACE_TYPES)}"
        return self.word(self.rng.randint(1, 2), self.rng.choice(_ENDINGS[kind]))


# ---------------------------------------------------------------------- questions


def _person_phrase(start: str, rels: list[str]) -> str:
    """Who `rels` (mentor/manager steps) lead to from `start`: "Orla Vance's mentor's manager"."""
    return start + "".join(f"'s {r}" for r in rels)


def question_for(start: str, rels: list[str], kind: str = "") -> str:
    """The question whose answer is reached from `start` by following `rels` (`kind`: "depot", ... if asked)."""
    people = [r for r in rels if r in ("mentor", "manager")]
    rest = rels[len(people):]
    who = _person_phrase(start, people[:-1] if not rest else people)
    if not rest:
        return f"Who is {who}'s {people[-1]}?"
    if rest == ["works_at"]:
        return f"Where does {who} work?"
    if rest[0] == "works_at":
        place = f"the {kind} where {who} works"  # the kind of workplace, not its name
        rest = rest[1:]
    else:
        place = f"the {start}"
    if rest == ["located"]:
        return f"In which town is {place}?"
    if rest == ["located", "province"]:
        return f"In which province is the town that is home to {place}?"
    raise ValueError(f"no question for {rels}")


_Q_PERSON = re.compile(r"Who is (.+)'s (mentor|manager)\?")
_Q_WORKS = re.compile(r"Where does (.+) work\?")
_Q_TOWN = re.compile(r"In which town is the (.+)\?")
_Q_PROVINCE = re.compile(r"In which province is the town that is home to the (.+)\?")


def _parse_person(phrase: str) -> tuple[str, list[str]]:
    rels: list[str] = []
    while True:
        m = re.fullmatch(r"(.+)'s (mentor|manager)", phrase)
        if m is None:
            return phrase, rels
        phrase, rels = m.group(1), [m.group(2), *rels]


def _parse_place(phrase: str) -> tuple[str, list[str]]:
    m = re.fullmatch(r"[a-z]+ where (.+) works", phrase)
    if m is None:
        return phrase, []
    start, rels = _parse_person(m.group(1))
    return start, [*rels, "works_at"]


def parse_question(question: str) -> tuple[str, list[str]] | None:
    """(start entity, relations) of one of this task's questions, else None."""
    q = question.strip()
    if m := _Q_PERSON.fullmatch(q):
        start, rels = _parse_person(m.group(1))
        return start, [*rels, m.group(2)]
    if m := _Q_WORKS.fullmatch(q):
        start, rels = _parse_person(m.group(1))
        return start, [*rels, "works_at"]
    if m := _Q_PROVINCE.fullmatch(q):
        start, rels = _parse_place(m.group(1))
        return start, [*rels, "located", "province"]
    if m := _Q_TOWN.fullmatch(q):
        start, rels = _parse_place(m.group(1))
        return start, [*rels, "located"]
    return None


def read_facts(text: str) -> dict[str, dict[str, str]]:
    """relation -> {subject: object} for every fact sentence in `text`."""
    facts: dict[str, dict[str, str]] = {rel: {} for rel in RELATIONS}
    for rel, patterns in _FACT_PATTERNS.items():
        for pattern in patterns:
            for m in pattern.finditer(text):
                a, b = (m.group("a"), m.group("b")) if "a" in pattern.groupindex else m.groups()
                facts[rel][a] = b
    return facts


# ---------------------------------------------------------------------- generation


@dataclass(frozen=True)
class Chain:
    """A start entity, the relations followed, the entities reached and one sentence per fact."""

    entities: tuple[str, ...]  # start first; entities[i + 1] = relations[i](entities[i])
    relations: tuple[str, ...]
    sentences: tuple[str, ...]


def _chain(rng: random.Random, names: _Names) -> Chain:
    hops = rng.choice([2, 3, 4])
    first = rng.randrange(len(RELATIONS) - hops + 1)
    rels = RELATIONS[first:first + hops]
    entities = [names.entity(START_KIND[rels[0]])] + [names.entity(KIND[r]) for r in rels]
    sentences = tuple(rng.choice(TEMPLATES[r]).format(a=entities[i], b=entities[i + 1]) for i, r in enumerate(rels))
    return Chain(tuple(entities), tuple(rels), sentences)


def _place_facts(rng: random.Random, filler: list[str], facts: list[str]) -> str:
    """The filler with each fact as a sentence at its own random position (distinct positions)."""
    slots = sorted(rng.sample(range(len(filler) + 1), len(facts)))
    out, prev = [], 0
    for slot, fact in zip(slots, facts, strict=True):
        out += filler[prev:slot]
        out.append(fact)
        prev = slot
    out += filler[prev:]
    return join_sentences(out)


@dataclass(frozen=True)
class MultiHop:
    """Chains of facts scattered through an essay; the `multihop` plan answers it."""

    name: str = "multihop"
    plan: str = "multihop"
    distractors_per_question: int = 1  # extra chains over other entities, same relations

    def generate(self, length: int, n: int, seed: int, count: Count) -> list[Instance]:
        rng = random.Random(f"{self.name}-{seed}-{length}-chains")
        names = _Names(rng)
        chains = [_chain(rng, names) for _ in range(n * (1 + self.distractors_per_question))]
        facts = [s for c in chains for s in c.sentences]
        rng.shuffle(facts)  # the order of facts in the text says nothing about chains or hops
        fact_tokens = count(" ".join(facts)) + 1
        filler = fit_haystack(random.Random(f"{self.name}-{seed}-{length}-filler"), max(1, length - fact_tokens), count)
        if len(filler) + 1 < len(facts):
            raise ValueError(f"{length} tokens is too short for {n} multihop questions ({fact_tokens} tokens of facts)")
        document = _place_facts(random.Random(f"{self.name}-{seed}-{length}-places"), filler, facts)
        out = []
        for i, chain in enumerate(chains[:n]):
            places = [e for e, r in zip(chain.entities[1:], chain.relations, strict=True) if r == "works_at"]
            question = question_for(chain.entities[0], list(chain.relations), places[0].split()[-1] if places else "")
            depths = [round(100 * document.index(s) / len(document), 1) for s in chain.sentences]
            out.append(Instance(self.name, f"{self.name}-{length}-{seed}-{i}", document, question, chain.entities[-1],
                                {"hops": len(chain.relations), "depths": depths, "facts": list(chain.sentences)}))
        return out

    def score(self, predicted: Any, instance: Instance) -> float:
        return exact_match(predicted, instance.answer)

    def read_answer(self, question: str, text: str) -> str | None:
        parsed = parse_question(question)
        if parsed is None:
            return None
        entity, rels = parsed
        facts = read_facts(text)
        for rel in rels:
            if entity not in facts[rel]:
                return None  # a link of the chain is not in the text
            entity = facts[rel][entity]
        return f"the {entity}" if KIND[rels[-1]] == "place" else entity

    def read_items(self, text: str) -> None:
        return None
