"""Split speed: takes a token count, gives the time and peak memory to split that much prose.

Run `python benchmarks/bench_split.py [--tokens N] [--limit L] [--tokenizer cl100k|whitespace]`.
The text is deterministic pseudo-English (a fixed vocabulary, sentences, line breaks and
paragraphs drawn from a seeded generator), grown until it has about N cl100k tokens. The
script times `tok.offsets` alone (one tokenization), then the whole `chunking.split`, which
tokenizes once and then re-counts every chunk, and prints tokens/s and the peak resident
memory of the process (ru_maxrss, a high-water mark that includes the text itself);
`--tracemalloc` adds the peak of Python allocations during each step, at some cost in speed.
"""

from __future__ import annotations

import argparse
import random
import resource
import time
import tracemalloc
from collections.abc import Callable

from lambda_rlm.text import chunking
from lambda_rlm.text.tokens import Tokenizer, WhitespaceTokenizer, cl100k

_WORDS = (
    "the of and to in a is that for it as was with be by on not he this are or his from at "
    "which but have an had they you were their one all we can her has there been if more when "
    "will would who so no model language recursive context window document token chunk answer "
    "question evidence summary section paragraph system result method analysis however because "
    "between through during without within although government information development"
)
VOCABULARY = _WORDS.split()


def prose(n_words: int, seed: int = 0) -> str:
    """About 1.45 cl100k tokens per word: words, commas, sentence ends, lines and paragraphs."""
    rng = random.Random(seed)
    blocks = []
    for start in range(0, n_words, 100_000):  # in blocks, so generating costs little memory
        k = min(100_000, n_words - start)
        words = rng.choices(VOCABULARY, k=k)
        ends = rng.choices([" ", " ", " ", " ", " ", ", ", ". ", ".\n", ".\n\n"], k=k)
        blocks.append("".join(w + e for w, e in zip(words, ends, strict=True)))
    return "".join(blocks)


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def timed(label: str, n_tokens: int, run: Callable[[], object], trace: bool) -> None:
    """Run once; print seconds, tokens/s, peak RSS and (with `trace`) the traced Python peak."""
    if trace:
        tracemalloc.start()
    start = time.perf_counter()
    run()
    seconds = time.perf_counter() - start
    traced = ""
    if trace:
        traced = f"  traced peak {tracemalloc.get_traced_memory()[1] / 2**20:6.0f} MB"
        tracemalloc.stop()
    rate = n_tokens / seconds / 1e6
    print(f"{label:<28} {seconds:6.2f} s  {rate:5.2f} M tokens/s  peak RSS {peak_rss_mb():5.0f} MB{traced}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tokens", type=int, default=10_000_000)
    parser.add_argument("--limit", type=int, default=2000)
    parser.add_argument("--tokenizer", choices=["cl100k", "whitespace"], default="cl100k")
    parser.add_argument(
        "--tracemalloc",
        action="store_true",
        help="also report the traced peak of Python allocations (slower)",
    )
    args = parser.parse_args()

    tok: Tokenizer = cl100k() if args.tokenizer == "cl100k" else WhitespaceTokenizer()
    text = prose(int(args.tokens / 1.45))
    n = tok.count(text)
    print(
        f"text: {len(text) / 1e6:.1f} M chars, {n / 1e6:.2f} M {tok.name} tokens, "
        f"limit {args.limit}; peak RSS so far {peak_rss_mb():.0f} MB"
    )
    timed("offsets (one tokenization)", n, lambda: tok.offsets(text), args.tracemalloc)
    chunks: list[str] = []
    run_split = lambda: chunks.extend(chunking.split(text, args.limit, tok))  # noqa: E731
    timed("split", n, run_split, args.tracemalloc)
    bound = chunking.max_chunks(n, args.limit)
    sizes = [tok.count(c) for c in chunks[:200]]
    print(
        f"chunks: {len(chunks)} (bound {bound}); first 200: min {min(sizes)} max {max(sizes)} "
        f"tokens; ends: {sum(c.endswith(chr(10) * 2) for c in chunks)} at paragraphs"
    )
    assert "".join(chunks) == text and len(chunks) <= bound


if __name__ == "__main__":
    main()
