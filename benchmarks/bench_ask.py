"""`ask` against truncated direct prompting on the embedded 0.5B model, planted-fact documents of 2k, 8k and 32k tokens.

Run: python benchmarks/bench_ask.py [--lengths 2000,8000,32000] [--n 3] [--model local/qwen2.5-coder-0.5b]
Direct prompting reads the document cut to what fits the 4,096-token window (as the papers do);
`ask` answers directly when the document fits and runs the search plan otherwise. Each document
plants one fact at a different depth; a run scores 1 when the answer contains the planted value.
Needs the `local-small` extra. Prints one table row per (system, length): accuracy, calls, wall.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "examples"))

from make_document import sentence  # noqa: E402

from lambda_rlm.core.errors import CostError
from lambda_rlm.runtime.session import Config, default_tokenizer
from lambda_rlm.strategies.ask import aask
from lambda_rlm.text import chunking

QUESTION = "What is the access code for the {gate} gate?"
GATES = ["north", "south", "east", "west", "harbour", "river", "market", "garden"]


def planted(tokens: int, seed: int) -> tuple[str, str, str]:
    """(document, question, answer): report sentences with one access code at a seeded depth."""
    rng = random.Random(seed)
    gate, code = rng.choice(GATES), str(rng.randint(1000, 9999))
    paragraphs, size = [], 0
    while size < tokens:
        paragraph = " ".join(sentence(rng) for _ in range(rng.randint(3, 6)))
        paragraphs.append(paragraph)
        size += len(paragraph) // 4
    at = rng.randint(0, len(paragraphs) - 1)
    paragraphs[at] += f" For the winter season, the access code for the {gate} gate is {code}."
    return "\n\n".join(paragraphs), QUESTION.format(gate=gate), code


async def one(system: str, document: str, question: str, config: Config) -> tuple[str, int, float]:
    start = time.perf_counter()
    if system == "direct":  # the document cut to what fits the window, as the papers do
        tok = default_tokenizer(config.model)
        keep = tok.count(document)
        while True:
            try:
                answer = await aask(question, chunking.peek(document, 0, keep, tok), config, task="search",
                                    direct=True)
                break
            except CostError:
                keep = int(keep * 0.9)
    else:
        answer = await aask(question, document, config, task="search")
    return str(answer.value), answer.calls, time.perf_counter() - start


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--lengths", default="2000,8000,32000")
    ap.add_argument("--n", type=int, default=3)
    ap.add_argument("--model", default="local/qwen2.5-coder-0.5b")
    args = ap.parse_args()
    print(f"model {args.model}, window 4096, {args.n} documents per length")
    print(f"{'system':<8}{'tokens':>8}{'accuracy':>10}{'calls p50':>11}{'wall p50':>10}{'wall p95':>10}")
    with tempfile.TemporaryDirectory() as cache:
        config = Config(model=args.model, window=4096, output_tokens=64, cache_dir=cache)
        for tokens in (int(x) for x in args.lengths.split(",")):
            cases = [planted(tokens, seed) for seed in range(args.n)]
            for system in ("direct", "ask"):
                scores, calls, walls = [], [], []
                for document, question, code in cases:
                    value, n_calls, wall = asyncio.run(one(system, document, question, config))
                    scores.append(1.0 if code in value else 0.0)
                    calls.append(n_calls)
                    walls.append(wall)
                walls.sort()
                p95 = walls[min(len(walls) - 1, round(0.95 * (len(walls) - 1)))]
                print(f"{system:<8}{tokens:>8}{statistics.mean(scores):>10.2f}{statistics.median(calls):>11}"
                      f"{statistics.median(walls):>9.1f}s{p95:>9.1f}s", flush=True)


if __name__ == "__main__":
    main()
