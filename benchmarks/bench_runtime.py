"""Runtime benchmarks: fan-out wall time, per-leaf overhead and a 10-million-token run's peak memory.

Run: python benchmarks/bench_runtime.py [--quick]
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

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))
os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")

import litellm  # noqa: E402
from providers import ScriptedProvider, SleepingProvider, registered  # noqa: E402

from lambda_rlm import compile  # noqa: E402
from lambda_rlm.runtime import Config, arun  # noqa: E402
from lambda_rlm.tokens import cl100k  # noqa: E402

FANOUT = "def main (doc : Text) : List Text = map (\\c -> llm \"{c}\") (partition doc 64)"
LEAVES = "def main (doc : Text) : List Text = map (\\c -> llm \"{c}\") (split doc 100)"
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


def overhead(n_leaves: int, cache: str) -> None:
    """Per-leaf time of the runtime itself: wall time minus the time litellm reports for its calls.

    Leaves run one at a time (concurrency 1), so wall time is the sum of our work and litellm's;
    litellm's share is measured by a litellm success callback (its own extension point), from
    the moment it starts a call to the moment the call's response is ready.
    """
    from litellm.integrations.custom_logger import CustomLogger

    class Timer(CustomLogger):  # type: ignore[misc]
        def __init__(self) -> None:
            super().__init__()
            self.total = 0.0
            self.calls = 0

        async def async_log_success_event(self, kwargs: object, response_obj: object, start_time: object,
                                          end_time: object) -> None:
            self.total += (end_time - start_time).total_seconds()  # type: ignore[operator]
            self.calls += 1

    doc = text(n_leaves * 95)
    tok = cl100k()
    prog = compile(LEAVES)
    provider = ScriptedProvider(lambda p: "ok")
    cfg = Config(model="bench/zero", window=4096, output_tokens=16, concurrency=1, cache_dir=cache, tokenizer=tok)
    timer = Timer()
    with registered(bench=provider):
        asyncio.run(arun(prog, text(200, seed=9), cfg))  # warm-up
        litellm.callbacks = [timer]
        try:
            t0 = time.perf_counter()
            cold = asyncio.run(arun(prog, doc, cfg))
            t_cold = time.perf_counter() - t0
        finally:
            litellm.callbacks = []
        t0 = time.perf_counter()
        warm = asyncio.run(arun(prog, doc, cfg))
        t_warm = time.perf_counter() - t0
    doc_s = _time(lambda: tok.offsets(doc)) + _time(lambda: tok.count(doc))  # bound + split read the document
    ours = (t_cold - timer.total - doc_s) / cold.calls * 1000
    print(f"overhead: {cold.calls} leaves one at a time in {t_cold:.2f} s; litellm reports {timer.total:.2f} s "
          f"over {timer.calls} calls, reading the document {doc_s:.2f} s -> runtime {ours:.3f} ms/leaf "
          f"(cache write, decode, budget, trace, evaluator); warm rerun from cache {t_warm:.2f} s = "
          f"{t_warm / warm.cache_hits * 1000:.3f} ms/leaf with {warm.calls} calls")


OURS = ("/lambda_rlm/", "/combinators/")
THEIRS = ("litellm", "openai", "httpx", "aiohttp", "pydantic", "asyncio", "providers.py", "concurrent")


def own_time(n_leaves: int, cache: str) -> None:
    """Per-leaf CPU time of our code, from cProfile: the own time of every function in lambda_rlm/
    and combinators/, plus what they spend in the standard library (sqlite3, json, hashlib, re,
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
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as cache:
        fanout(cache)
        overhead(1000, cache)
        own_time(1000, cache)
        if not args.quick:
            ten_million(cache)


if __name__ == "__main__":
    main()
