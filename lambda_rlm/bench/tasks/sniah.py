"""S-NIAH: takes a length and a seed, gives RULER single-needle questions (a magic number hidden in an essay).

The needle is RULER's "One of the special magic numbers for {key} is: {number}." placed at depths
spread evenly over 0–100% of a haystack of generated essay sentences (no proper names, so nothing
in it looks like a needle or a name). Score: RULER's `string_match_all` for niah — the fraction
of gold strings contained in the prediction, case-insensitively; with one gold number that is
1.0 if the number occurs in the answer (so "The number is 4812345." counts, as in RULER).

`essay` and `fit_haystack` are shared with the multihop task.
"""

from __future__ import annotations

import random
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from .base import Count, Instance

# ---------------------------------------------------------------------- the essay haystack

_SUBJECTS = ["a busy person", "the best teacher", "a careful reader", "every good plan", "the old library",
             "a small company", "the river town", "anyone who writes", "the night shift", "a patient gardener",
             "the committee", "our neighbour", "the youngest student", "a quiet office", "the city council",
             "a good question", "the village bakery", "an honest critic", "the research group", "a long winter"]
_VERBS = ["learns", "forgets", "changes", "depends on", "rewards", "ignores", "measures", "outlasts",
          "questions", "protects", "shapes", "borrows from", "keeps returning to", "slowly improves"]
_OBJECTS = ["the habits of a lifetime", "whatever it cannot count", "the slow work of practice",
            "a sense of proportion", "the value of boring tasks", "the first draft", "the weather",
            "its own mistakes", "the cost of waiting", "the shape of an argument", "a well-kept notebook",
            "the quiet hours before dawn", "the advice of strangers", "the small print", "old maps"]
_ADVERBIALS = ["over many years", "without anyone noticing", "more often than we admit", "in hard times",
               "after a long argument", "for better or worse", "when the budget is tight", "almost by accident",
               "in the end", "at least in principle", "on most days", "once the novelty wears off"]
_OPENERS = ["In practice", "Still", "Of course", "For a while", "Later", "Even so", "Oddly enough",
            "As a rule", "Sometimes", "Looking back"]
_ABSTRACT = ["patience", "curiosity", "attention", "routine", "kindness", "ambition", "doubt", "memory",
             "craft", "silence", "discipline", "humour"]
FILLER_WORDS = frozenset(w.capitalize() for phrases in (_SUBJECTS, _VERBS, _OBJECTS, _ADVERBIALS, _OPENERS, _ABSTRACT)
                         for p in phrases for w in p.replace(",", "").split()) | {"It", "Nobody", "What", "If"}


def _sentence(rng: random.Random) -> str:
    """One essay sentence; only the first word is capitalised, so the text holds no proper names."""
    s, v, o, a = rng.choice(_SUBJECTS), rng.choice(_VERBS), rng.choice(_OBJECTS), rng.choice(_ADVERBIALS)
    x, y = rng.sample(_ABSTRACT, 2)
    kind = rng.randrange(7)
    if kind == 0:
        text = f"{s} {v} {o} {a}."
    elif kind == 1:
        text = f"{rng.choice(_OPENERS)}, {s} {v} {o}."
    elif kind == 2:
        text = f"It is said that {x} matters more than {y}, and {s} {v} {o} {a}."
    elif kind == 3:
        text = f"Nobody expects {s} to understand {x}, yet {rng.choice(_SUBJECTS)} {v} {o} anyway."
    elif kind == 4:
        text = f"{x} without {y} is rarely enough, {a}."
    elif kind == 5:
        text = f"What {s} {v} {a} is {o}, not {rng.choice(_OBJECTS)}."
    else:
        text = f"If {s} {v} {o}, then {x} follows {a}."
    return text[0].upper() + text[1:]


def essay(rng: random.Random, sentences: int) -> list[str]:
    """`sentences` sentences; every few start a new paragraph (a sentence then begins with a blank line)."""
    out: list[str] = []
    left_in_paragraph = rng.randint(4, 9)
    for _ in range(sentences):
        text = _sentence(rng)
        left_in_paragraph -= 1
        if left_in_paragraph == 0:
            text += "\n\n"
            left_in_paragraph = rng.randint(4, 9)
        out.append(text)
    return out


def join_sentences(sentences: Sequence[str]) -> str:
    """The sentences as prose: a space between sentences, none after a paragraph break."""
    return "".join(s if s.endswith("\n") else s + " " for s in sentences).rstrip() + "\n"


def fit_haystack(rng: random.Random, tokens: int, count: Count) -> list[str]:
    """Essay sentences whose joined text is `tokens` tokens (±0.5%), counting each candidate text once.

    Tokens per sentence are calibrated on a sample, then the whole text is counted and the
    sentence count corrected (two or three counts, never one per sentence).
    """
    sample = essay(random.Random(f"calibrate-{rng.random()}"), 400)
    per_sentence = count(join_sentences(sample)) / len(sample)
    sentences = essay(rng, max(1, round(tokens / per_sentence)))
    for _ in range(6):
        got = count(join_sentences(sentences))
        if abs(got - tokens) <= max(2, tokens // 200):
            break
        want = max(1, len(sentences) + round((tokens - got) / per_sentence))
        if want > len(sentences):
            sentences += essay(rng, want - len(sentences))
        elif want < len(sentences):
            del sentences[want:]
        else:  # one sentence is too coarse (tiny lengths): stop at the closest
            break
    return sentences


# ---------------------------------------------------------------------- the task

_ADJECTIVES = ["wandering", "silent", "crimson", "hollow", "gentle", "frozen", "restless", "golden", "ancient",
               "bitter", "curious", "distant", "fragile", "hidden", "lonely", "mellow", "narrow", "patient",
               "quiet", "rusty", "shallow", "tangled", "velvet", "windy", "amber", "brave", "clumsy", "dusty"]
_NOUNS = ["lighthouse", "orchard", "teapot", "harbour", "lantern", "meadow", "compass", "violin", "glacier",
          "falcon", "pebble", "cathedral", "kettle", "canyon", "ribbon", "anchor", "thimble", "carousel",
          "quarry", "saddle", "tunnel", "windmill", "beacon", "cellar", "dune", "ferry", "garden", "harp"]

NEEDLE = "One of the special magic numbers for {key} is: {number}."
QUESTION = "What is the special magic number for {key} mentioned in the provided text?"
_QUESTION = re.compile(r"What is the special magic number for ([a-z]+-[a-z]+) mentioned in the provided text\?")
_NEEDLE = re.compile(r"special magic numbers? for ([a-z]+-[a-z]+) is:? (\d+)")


def string_match_all(predicted: Any, golds: Sequence[str]) -> float:
    """RULER's niah metric: the fraction of gold strings that occur in the prediction, ignoring case."""
    if predicted is None or not golds:
        return 0.0
    text = str(predicted).lower()
    return sum(1.0 for g in golds if g.lower() in text) / len(golds)


def _depths(n: int) -> list[float]:
    """n depths spread evenly over [0, 1], like RULER's linspace(0, 100, n)."""
    return [0.5] if n == 1 else [i / (n - 1) for i in range(n)]


def _insert_at(haystack: str, depth: float, needle: str) -> str:
    """The haystack with the needle as its own sentence at the sentence boundary nearest `depth`."""
    pos = round(depth * len(haystack))
    if pos <= 0:
        return f"{needle} {haystack}"
    if pos >= len(haystack.rstrip()):
        return f"{haystack.rstrip()} {needle}\n"
    cut = haystack.rfind(". ", 0, pos)
    cut = 0 if cut < 0 else cut + 2
    return f"{haystack[:cut]}{needle} {haystack[cut:]}"


@dataclass(frozen=True)
class SNIAH:
    """RULER single needle in a haystack; the `search` plan answers it."""

    name: str = "sniah"
    plan: str = "search"

    def generate(self, length: int, n: int, seed: int, count: Count) -> list[Instance]:
        rng = random.Random(f"{self.name}-{seed}-{length}-keys")
        pairs = [(a, b) for a in _ADJECTIVES for b in _NOUNS]
        if n > len(pairs):
            raise ValueError(f"sniah makes at most {len(pairs)} instances per (length, seed), not {n}")
        keys = [f"{a}-{b}" for a, b in rng.sample(pairs, n)]
        numbers = [rng.randint(1_000_000, 9_999_999) for _ in range(n)]
        needle_tokens = count(NEEDLE.format(key=keys[0], number=numbers[0])) + 1
        hay_rng = random.Random(f"{self.name}-{seed}-{length}-haystack")
        haystack = join_sentences(fit_haystack(hay_rng, max(1, length - needle_tokens), count))
        out = []
        for i, (key, number, depth) in enumerate(zip(keys, numbers, _depths(n), strict=True)):
            document = _insert_at(haystack, depth, NEEDLE.format(key=key, number=number))
            out.append(Instance(self.name, f"{self.name}-{length}-{seed}-{i}", document, QUESTION.format(key=key),
                                str(number), {"depth": round(depth * 100, 1), "key": key}))
        return out

    def score(self, predicted: Any, instance: Instance) -> float:
        return string_match_all(predicted, [str(instance.answer)])

    def read_answer(self, question: str, text: str) -> str | None:
        asked = _QUESTION.search(question)
        if asked is None:
            return None
        for key, number in _NEEDLE.findall(text):
            if key == asked.group(1):
                return str(number)
        return None

    def read_items(self, text: str) -> None:
        return None
