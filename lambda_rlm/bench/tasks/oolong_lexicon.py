"""The OOLONG lexicon: takes a category, gives the templates its texts come from; reads a category back from words.

The generator and the reference reader share it: a category's keywords are the words its
templates use and no other category's do, so a reader can infer the category of a text that
never names it.
"""

from __future__ import annotations

import functools
import re
from string import Formatter

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
