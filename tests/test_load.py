"""Load: 10,000 leaves through the runtime against a real OpenAI-compatible server on 127.0.0.1 that
adds latency and answers bursts of requests with 429 + Retry-After.

The run happens in a child process (so its memory can be measured alone); the server runs here and
counts the requests it has in flight at once, which must never pass the concurrency limit. The
answer is checkable: each leaf adds up the numbers in its chunk, and the program adds up the leaves.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

import pytest
from openai_server import OpenAIServer, ServerState

ROOT = Path(__file__).resolve().parent.parent
LEAVES = 10_000
CONCURRENCY = 32
NUMBER = re.compile(r"\d+")
PROGRAM = """
def total (chunk : Text) : Int = llm "Add up the numbers in this text: {chunk}"
def main (doc : Text) : Int = fold (\\a b -> a + b) 0 (map total (split doc 10))
"""

# The child: a warm-up leaf (imports, first connection), then the measured run; prints JSON.
CHILD = """
import json, resource, sys, time
from lambda_rlm import Config, run
base, cache, doc_path, program, concurrency = sys.argv[1:6]
doc = open(doc_path, encoding="utf-8").read()
config = dict(model="openai/load-test", api_base=base, window=1024, output_tokens=16, timeout_s=60)
run(program, "Item 1.", Config(use_cache=False, **config))
warm_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
start = time.monotonic()
result = run(program, doc, Config(cache_dir=cache, concurrency=int(concurrency), **config))
wall = time.monotonic() - start
peak_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
events = {}
for e in result.trace:
    events[e["event"]] = events.get(e["event"], 0) + 1
retried = sorted({str(e.get("status")) for e in result.trace if e["event"] == "retry"})
print(json.dumps({"value": result.value, "calls": result.calls, "bound": result.bound.calls,
                  "requests": result.requests, "wall_s": wall, "warm_mb": warm_kb / 1024,
                  "peak_mb": peak_kb / 1024, "events": events, "retried": retried}))
"""


def add_up(messages: list[dict[str, Any]]) -> str:
    prompt = next(str(m["content"]) for m in messages if m["role"] == "user")
    return str(sum(int(n) for n in NUMBER.findall(prompt)))


def document(sentences: int = 25_000) -> tuple[str, int]:
    """A text of `sentences` numbered sentences, and the sum of its numbers."""
    numbers = [(i * 7919) % 997 for i in range(sentences)]
    return " ".join(f"Item {n}." for n in numbers), sum(numbers)


class Bursts:
    """Every `every_s` seconds, the server answers the next `size` requests with 429, while more
    than `size` requests are in flight: with fewer, a burst would be several 429s in a row for one
    leaf, which the runtime rightly gives up on after `max_attempts` (5)."""

    def __init__(self, state: ServerState, size: int, every_s: float, between: tuple[int, int]) -> None:
        self.state, self.size, self.every_s, self.between = state, size, every_s, between
        self.bursts = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True)

    def __enter__(self) -> Bursts:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()

    def _loop(self) -> None:
        while not self._stop.wait(self.every_s):
            with self.state.lock:
                if not self.between[0] <= self.state.served <= self.between[1]:
                    continue
                self.state.rate_limit_first = self.state.rate_limited + self.size
            self.bursts += 1


@pytest.mark.slow
def test_ten_thousand_leaves_under_latency_and_rate_limits(tmp_path: Path) -> None:
    doc, expected = document()
    doc_path = tmp_path / "doc.txt"
    doc_path.write_text(doc, encoding="utf-8")
    state = ServerState(reply=add_up, latency_s=0.005, retry_after="0.05")
    with OpenAIServer(state) as server, Bursts(state, 20, 1.0, (100, LEAVES - 1000)) as bursts:
        done = subprocess.run(
            [sys.executable, "-c", CHILD, server.base_url, str(tmp_path / "cache"), str(doc_path), PROGRAM,
             str(CONCURRENCY)],
            capture_output=True, text=True, timeout=900, cwd=ROOT,
            env={**os.environ, "LITELLM_LOCAL_MODEL_COST_MAP": "True"})
    assert done.returncode == 0, done.stderr[-3000:]
    out = json.loads(done.stdout.strip().splitlines()[-1])
    print(f"\n{LEAVES:,} leaves: {out['wall_s']:.1f} s, {state.rate_limited} 429s in {bursts.bursts} bursts, "
          f"max in flight {state.max_in_flight}, RSS {out['warm_mb']:.0f} -> {out['peak_mb']:.0f} MB")

    assert out["value"] == expected  # the right answer: nothing lost, nothing counted twice
    assert out["calls"] == LEAVES <= out["bound"]
    assert state.max_in_flight <= CONCURRENCY  # the server's own count
    assert state.max_in_flight >= CONCURRENCY // 2  # and the limit was really exercised
    assert state.rate_limited > 0 and out["retried"] == ["429"]
    # Every 429 was retried once, and every other request was a leaf served once (1 is the warm-up).
    assert out["events"].get("retry", 0) == state.rate_limited
    assert state.served == LEAVES + 1 and out["requests"] == LEAVES + state.rate_limited
    assert out["events"].get("leaf_error", 0) == 0
    assert out["peak_mb"] - out["warm_mb"] < 400, "memory grew by more than 400 MB over the run"
    assert out["wall_s"] < 600
