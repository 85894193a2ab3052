"""Writes examples/data/harbour_report.txt: a long, varied, made-up operations report with one planted fact.

Run: python examples/make_document.py  (deterministic: the same bytes every time)
The document is longer than a 4k-token window, so a model cannot read it in one prompt; the
fact sits about 60% of the way through.

`python examples/make_document.py --tokens 32000 --out report32k.txt` writes a longer version
of the same kind (more paragraphs, the fact still about 60% of the way through; cl100k tokens).
"""

from __future__ import annotations

import argparse
import random
from collections.abc import Callable
from pathlib import Path

OUT = Path(__file__).resolve().parent / "data" / "harbour_report.txt"
FACT = "For the winter season, the access code for the north gate is 7342."

TEAMS = ["the pilotage office", "the dredging crew", "the customs desk", "the fuel depot", "the tug fleet",
         "the crane operators", "the safety committee", "the harbour master's office", "the rail yard",
         "the cold-storage warehouse", "the ferry terminal", "the maintenance shop"]
VERBS = ["reviewed", "reported on", "postponed", "completed", "audited", "reorganised", "expanded", "inspected",
         "budgeted for", "scheduled"]
OBJECTS = ["the berth schedule", "the fender replacements", "the night-shift rota", "the channel survey",
           "the bollard load tests", "the oil-spill drill", "the crane rail alignment", "the ballast water checks",
           "the container stacking plan", "the lighting upgrade", "the quay wall repairs", "the radio procedures"]
DETAILS = ["after two storms in the second quarter", "within the approved budget", "with help from the city",
           "ahead of the spring tides", "despite a shortage of spare parts", "following the insurer's visit",
           "as recommended by the external auditors", "while traffic was diverted to berth six"]
MONTHS = ["January", "February", "March", "April", "May", "June", "July", "August", "September", "October",
          "November", "December"]


def sentence(rng: random.Random) -> str:
    n = rng.randint(2, 480)
    kinds = [
        f"In {rng.choice(MONTHS)}, {rng.choice(TEAMS)} {rng.choice(VERBS)} {rng.choice(OBJECTS)} "
        f"{rng.choice(DETAILS)}.",
        f"{rng.choice(TEAMS).capitalize()} handled {n} vessel calls, {rng.randint(1, 40)} more than planned.",
        f"The cost of {rng.choice(OBJECTS)} came to {rng.randint(3, 900)} thousand crowns.",
        f"Staff from {rng.choice(TEAMS)} logged {rng.randint(10, 2000)} hours of overtime {rng.choice(DETAILS)}.",
        f"A review of {rng.choice(OBJECTS)} found {rng.randint(0, 12)} open issues, none of them urgent.",
    ]
    return rng.choice(kinds)


def document(paragraphs: int = 70, seed: int = 7) -> str:
    rng = random.Random(seed)
    out = ["Port of Vellmar — Annual Operations Report", ""]
    for p in range(paragraphs):
        if p % 15 == 0:
            out.append(f"Section {p // 15 + 1}: {rng.choice(OBJECTS).capitalize()}")
            out.append("")
        sentences = [sentence(rng) for _ in range(rng.randint(3, 6))]
        if p == int(paragraphs * 0.6):
            sentences.insert(len(sentences) // 2, FACT)
        out.append(" ".join(sentences))
        out.append("")
    return "\n".join(out)


def of_length(tokens: int, count: Callable[[str], int]) -> str:
    """The report with as many paragraphs as make it at least `tokens` tokens long by `count`."""
    paragraphs = 70
    while (size := count(document(paragraphs))) < tokens:
        paragraphs = max(paragraphs + 1, int(paragraphs * tokens / max(1, size)))
    return document(paragraphs)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tokens", type=int, default=None, help="at least this many tokens (default: the bundled one)")
    parser.add_argument("--out", type=Path, default=OUT, help=f"where to write it (default {OUT})")
    args = parser.parse_args()
    if args.tokens is None:
        text = document()
    else:
        from lambda_rlm.text.tokens import cl100k

        text = of_length(args.tokens, cl100k().count)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(text, encoding="utf-8")
    print(f"wrote {args.out} ({len(text):,} characters)")
