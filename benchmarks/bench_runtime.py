"""Runtime benchmarks: fan-out wall time, per-leaf overhead and a 10-million-token run's peak memory.

Run: python benchmarks/bench_runtime.py [--quick] [--profile]
Providers are litellm custom providers (litellm's own extension point); nothing touches the network.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import resource
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))
os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")

import litellm  # noqa: E402
from providers import ScriptedProvider, SleepingProvider, registered  # noqa: E402

from lambda_rlm import compile
from lambda_rlm.runtime.session import Config, arun
from lambda_rlm.text.tokens import cl100k

FANOUT = "def main (doc : Text) : List Text = map (\\c -> llm \"{c}\") (partition doc 64)"
LEAVES = "def main (doc : Text) : List Text = map (\\c -> llm \"{c}\") (split doc 100)"
NO_LEAVES = "def main (doc : Text) : List Text = map (\\c -> c) (split doc 100)"
SEARCH = Path(__file__).resolve().parent.parent / "examples" / "search.lam"


def text(tokens: int, seed: int = 0) -> str:
    """About `tokens` tokens of non-repeating sentences (so no two chunks share a cache entry)."""
    import random

    rng = random.Random(seed)
    words = [
        "alpha", "bravo", "charlie", "delta", "echo", "foxtrot", "golf", "hotel", "india", "juliet", "kilo",
        "lima", "mike", "november", "oscar", "papa", "quebec", "romeo", "sierra", "tango", "uniform", "victor",
        "whiskey", "xray", "yankee", "zulu",
    ]
    # a sentence of nine of these words is about 15 cl100k tokens
    return " ".join(" ".join(rng.choice(words) for _ in range(9)) + "." for _ in range(tokens // 15 + 1))


def fanout(cache: str) -> None:
    """64 leaves of 200 ms at concurrency 16: the ideal is 4 waves, 0.8 s; sequential is 12.8 s."""
    doc = text(64 * 95)
    tok = cl100k()
    prog = compile(FANOUT)
    provider = SleepingProvider(lambda p: "ok", latency_s=0.2)
    cfg = Config(
        model="bench/sleep",
        window=4096,
        output_tokens=16,
        concurrency=16,
        use_cache=False,
        tokenizer=tok,
    )
    with registered(bench=provider):
        t0 = time.perf_counter()
        result = asyncio.run(arun(prog, doc, cfg))
        wall = time.perf_counter() - t0
    print(
        f"fan-out: {result.calls} leaves x 200 ms at concurrency 16: {wall:.2f} s wall "
        f"(max in flight {provider.max_in_flight}; sequential would be {result.calls * 0.2:.1f} s)"
    )


def overhead(n_leaves: int, cache: str, repeats: int = 5) -> None:
    """Per-leaf time of the runtime itself, as what a run adds over calling litellm directly.

    A program of `n_leaves` leaves runs one leaf at a time (concurrency 1) against a zero-latency
    provider, with a fresh cache (every leaf misses and is written) and a fresh tokenizer. The
    provider records each request, and the same requests are replayed through bare
    `litellm.acompletion` calls with the same parameters, one at a time. The two alternate
    `repeats` times and the best of each is kept (the machine's noise only ever adds time).
    Less the fixed cost of a run (compile, bound, reading and splitting the document: the same
    program with the leaf taken out), the difference divided by the number of leaves is our
    overhead per leaf: evaluator, prompt, cache key and write, decode, budget, trace, retry set-up.
    """
    doc = text(n_leaves * 95)
    prog, fixed_prog = compile(LEAVES), compile(NO_LEAVES)
    provider = ScriptedProvider(lambda p: "ok")

    def config(directory: str) -> Config:
        return Config(model="bench/zero", window=4096, output_tokens=16, concurrency=1, cache_dir=directory,
                      tokenizer=cl100k())

    def timed(program: object) -> tuple[float, int]:
        with tempfile.TemporaryDirectory() as fresh:
            t0 = time.perf_counter()
            result = asyncio.run(arun(program, doc, config(fresh)))  # type: ignore[arg-type]
            return time.perf_counter() - t0, result.calls

    async def replay(sent: list[Any]) -> float:
        t0 = time.perf_counter()
        for request in sent:
            params = {k: v for k, v in request.params.items() if k in ("temperature", "max_tokens")}
            await litellm.acompletion(model=f"bench/{request.model}", messages=request.messages, num_retries=0,
                                      max_retries=0, timeout=60.0, **params)
        return time.perf_counter() - t0

    ours, bare, fixed = [], [], []
    with registered(bench=provider):
        asyncio.run(arun(prog, text(200, seed=9), config(cache)))  # warm-up: imports, litellm's first call
        for _ in range(repeats):
            del provider.sent[:]
            seconds, calls = timed(prog)
            ours.append(seconds)
            sent = list(provider.sent)
            assert len(sent) == calls, (len(sent), calls)
            bare.append(asyncio.run(replay(sent)))
            fixed.append(timed(fixed_prog)[0])
    per_leaf = (min(ours) - min(bare) - min(fixed)) / calls * 1000
    print(f"overhead: {calls} leaves one at a time, best of {repeats}: run {min(ours):.2f} s, the same requests "
          f"through bare litellm.acompletion {min(bare):.2f} s, the run without its leaves {min(fixed):.2f} s "
          f"-> runtime {per_leaf:.3f} ms/leaf (evaluator, prompt, cache key and write, decode, budget, trace)")
    with registered(bench=provider), tempfile.TemporaryDirectory() as directory:
        asyncio.run(arun(prog, doc, config(directory)))
        t0 = time.perf_counter()
        warm = asyncio.run(arun(prog, doc, config(directory)))
        t_warm = time.perf_counter() - t0 - min(fixed)
    print(f"cached: a rerun served from the cache adds {t_warm / warm.cache_hits * 1000:.3f} ms/leaf to the run "
          f"without leaves, with {warm.calls} calls")


OURS = ("/lambda_rlm/",)
THEIRS = ("litellm", "openai", "httpx", "aiohttp", "pydantic", "asyncio", "providers.py", "concurrent")


def own_time(n_leaves: int, cache: str) -> None:
    """Per-leaf CPU time of our code, from cProfile: the own time of every function in lambda_rlm/
    (combinators included), plus what they spend in the standard library (sqlite3, json, hashlib, re,
    tiktoken) — but not in litellm, its HTTP stack, pydantic models of litellm, or the test
    provider. cProfile slows everything down, so this is an upper bound."""
    import cProfile
    import pstats

    doc = text(n_leaves * 95, seed=5)
    tok = cl100k()
    prog = compile(LEAVES)
    cfg = Config(model="bench/zero", window=4096, output_tokens=16, concurrency=1, cache_dir=cache, tokenizer=tok)
    with registered(bench=ScriptedProvider(lambda p: "ok")):
        asyncio.run(arun(prog, text(200, seed=11), cfg))  # warm-up
        profiler = cProfile.Profile()
        result = profiler.runcall(lambda: asyncio.run(arun(prog, doc, cfg)))
    stats = pstats.Stats(profiler).stats  # type: ignore[attr-defined]

    def ours(func: tuple[str, int, str]) -> bool:
        return any(part in func[0] for part in OURS)

    def theirs(func: tuple[str, int, str]) -> bool:
        return any(part in func[0] for part in THEIRS) or "CoreBPE" in func[2] and False

    total = 0.0
    for func, (_, _, tottime, _, callers) in stats.items():
        if ours(func):
            total += tottime
        elif not theirs(func) and not ours(func):
            total += sum(edge[3] if "{" not in func[2] else edge[2] for caller, edge in callers.items() if ours(caller))
    doc_s = _time(lambda: tok.offsets(doc)) + _time(lambda: tok.count(doc))
    print(f"own time: {result.calls} leaves, our code {total:.2f} s under cProfile, of which reading the document "
          f"≈ {doc_s:.2f} s -> {(total - doc_s) / result.calls * 1000:.3f} ms/leaf (upper bound)")


def _time(fn: object) -> float:
    t = time.perf_counter()
    fn()  # type: ignore[operator]
    return time.perf_counter() - t


def ten_million(cache: str) -> None:
    """The search example over ~10M tokens with a zero-latency provider: wall time and peak RSS."""
    tok = cl100k()
    t0 = time.perf_counter()
    doc = text(10_000_000)
    doc = (
        doc[: len(doc) // 2]
        + " The special magic number for apple is 48213. "
        + doc[len(doc) // 2 :]
    )
    n = tok.count(doc)
    t_doc = time.perf_counter() - t0
    prog = compile(SEARCH)

    def reply(prompt: str) -> str:
        return "48213" if "magic number for apple is 48213" in prompt else "NONE"

    provider = ScriptedProvider(reply)
    cfg = Config(
        model="bench/zero",
        window=8192,
        output_tokens=32,
        concurrency=64,
        use_cache=False,
        tokenizer=tok,
    )
    with registered(bench=provider):
        t0 = time.perf_counter()
        result = asyncio.run(
            arun(prog, doc, cfg, question="What is the special magic number for apple?")
        )
        wall = time.perf_counter() - t0
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(
        f"10M tokens: document of {n:,} tokens ({len(doc) / 1e6:.0f} MB, made and counted in {t_doc:.1f} s); "
        f"run {wall:.1f} s, {result.calls} calls (bound {result.bound.calls}), answer {result.value!r}, "
        f"peak RSS {peak_mb:.0f} MB"
    )


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true", help="skip the 10M-token run")
    ap.add_argument("--profile", action="store_true", help="also break our time down under cProfile")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as cache:
        fanout(cache)
        overhead(1000, cache)
        if args.profile:
            own_time(1000, cache)
        if not args.quick:
            ten_million(cache)


if __name__ == "__main__":
    main()
