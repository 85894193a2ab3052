"""Program search in a few lines: ask one needle question with `search=4` and print every candidate.

Runs offline on the deterministic reference model (tasks/reference.py) with a throw-away cache:
    python examples/search_candidates.py [TOKENS]
With a real model, pass `Config(model="openai/gpt-4o-mini", ...)` instead; nothing else changes.
"""

from __future__ import annotations

import sys
import tempfile

import lambda_rlm
from lambda_rlm.bench.tasks import load, reference
from lambda_rlm.runtime.session import Config, default_tokenizer
from lambda_rlm.strategies.search import explain_candidates, explain_outcomes

MODEL = "reference/32k"


def main(tokens: int) -> None:
    task = load("sniah")
    reference.register(MODEL, tasks=[task])
    tokenizer = default_tokenizer(MODEL)
    (instance,) = task.generate(tokens, 1, 0, tokenizer.count)
    with tempfile.TemporaryDirectory() as cache:
        config = Config(model=MODEL, window=32 * 1024, cache_dir=cache, tokenizer=tokenizer)
        found = lambda_rlm.ask(instance.question, instance.document, config, task="search", direct=False, search=4)
    print(explain_candidates(tuple(o.candidate for o in found.outcomes)))
    print(explain_outcomes(found))
    print(f"answer: {found.value} (gold {instance.answer}), {found.calls} model calls in all")


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 64_000)
