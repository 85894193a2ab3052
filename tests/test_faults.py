"""Fault injection: at 30% injected faults every example and task plan gives the fault-free answer, and
the trace accounts for every retry and re-ask; at 100% the run stops with one error naming the cause.

The provider is a litellm custom provider (tests/providers.py), so faults travel the real litellm
path: rate limits with Retry-After, 500s, provider timeouts, dropped connections, requests that
hang past the per-request timeout, empty replies, and replies that do not decode to the leaf's
type. Which request fails is a hash of its messages, so a seed gives the same faults every run.
"""

from __future__ import annotations

import asyncio
import json
import re
import time
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from providers import FAULTS, FaultProvider, ScriptedProvider, Sent, prompt_of, raise_fault, registered

from lambda_rlm import compile
from lambda_rlm.core.errors import BudgetExceeded, LambdaError, LeafError
from lambda_rlm.runtime.session import Config, Result, run
from lambda_rlm.runtime.trace import read, summary

ROOT = Path(__file__).resolve().parent.parent
# holes.lam needs a model that writes programs and graph.lam one that proposes sub-problems, not this
# reader (tests/test_holes.py and tests/test_graph.py run them).
PROGRAMS = sorted(p for p in ROOT.glob("examples/*.lam") if p.stem not in ("holes", "graph")) + sorted(
    ROOT.glob("lambda_rlm/combinators/plans/*.lam"))
NEEDLE = re.compile(r"The special magic number for (\w+) is (\d+)\.")
RECORD = re.compile(r"user=(\w+) category=(\w+)")

TRANSIENT = ("rate_limit", "server_error", "timeout", "disconnect", "hang")
UNDECODABLE = ("empty", "garbage")
# The error each transient fault reaches the retry loop as (the `error` field of `retry` events).
RETRIED_AS = {"rate_limit": "RateLimitError", "server_error": "InternalServerError", "timeout": "Timeout",
              "disconnect": "APIConnectionError", "hang": "CallTimeout"}
# A request that hangs is cut by the per-request timeout. It must be long enough that a healthy
# request never hits it while it waits for a thread of litellm's executor (custom providers run
# there; 6 threads on 2 cores), or the provider never sees a request that the runtime counted.
HANG_TIMEOUT_S = 0.5


def FastRetries(**settings: Any) -> Config:
    """`Config` with short backoff waits."""
    return Config(**{"retry_wait_s": 0.01, **settings})


class TypedFaultProvider(FaultProvider):
    """`FaultProvider` plus requests that hang past the timeout, with undecodable replies per type.

    For a Text leaf every non-empty reply is a valid value, so the only reply that does not
    decode is blank; other types get the provider's shrug, which is no number, bool or JSON.
    """

    def __init__(self, script: Any, rate: float, seed: int = 0, faults: tuple[str, ...] = (*FAULTS, "hang")) -> None:
        super().__init__(rate=rate, seed=seed)
        self.script = script
        self.faults = faults  # FaultProvider checks its own names; "hang" is handled here
        self._pending: dict[int, str | None] = {}

    async def before_reply(self, sent: Sent) -> None:
        fault = self.fault_for(sent)
        if fault == "hang":
            with self._lock:
                self.injected.append(fault)
            await asyncio.sleep(60)  # the oracle's per-request timeout cancels this
        self._pending[id(sent)] = fault  # `self.sent` keeps `sent` alive, so its id is unique

    def respond(self, sent: Sent) -> str:
        fault = self._pending.pop(id(sent), None)
        if fault is None:
            return ScriptedProvider.respond(self, sent)
        with self._lock:
            self.injected.append(fault)
        if fault == "garbage" and "as plain text" in str(sent.messages[0]["content"]):
            return " \n\t "
        return raise_fault(fault, sent.model, self.retry_after_s)


def reader(messages: list[dict[str, Any]]) -> str:
    """Answers a leaf from its own prompt only, in the format its system message asks for."""
    system, prompt = str(messages[0]["content"]), prompt_of(messages)
    records = RECORD.findall(prompt)
    listed: list[Any] | None = None
    if "one of the offered choices" in system:  # choose: the choice the passage states, by its text
        found = NEEDLE.search(prompt)
        return json.dumps({"answer": found.group(2) if found and f"- {found.group(2)}" in prompt else "NONE"})
    if "maps the number of every item" in system:  # label_each: one label per numbered item
        items = re.findall(r"^\[(\d+)\] (.*)$", prompt, re.M)
        return json.dumps({k: next((c for _, c in RECORD.findall(line)), "sports") for k, line in items})
    if '"item"' in system:
        listed = [{"item": u, "label": c} for u, c in records]
    elif '"user"' in system:
        listed = [{"user": u, "category": c} for u, c in records]
    elif "JSON" in system:
        listed = [c for _, c in records]
    if listed is not None:
        return "NONE" if not listed and "NONE" in system else json.dumps(listed)
    found = NEEDLE.search(prompt)
    if "NONE" in system:
        return found.group(2) if found else "NONE"
    if "Notes" in prompt:
        return found.group(2) if found else "NOT FOUND"
    if "Which kind" in prompt:
        return "1"
    return " ".join(prompt.split()[:10])


def document(sentences: int = 420) -> str:
    words = ["lantern", "harbour", "quietly", "seven", "maps", "under", "a", "copper", "sky", "drifted"]
    cats = ["sports", "music", "travel"]
    out = []
    for i in range(sentences):
        if i == 300:
            out.append("The special magic number for apple is 48213.")
        if i % 9 == 4:
            out.append(f"user=u{i} category={cats[i % 3]}.")
        out.append(" ".join(words[(i * 3 + j) % 10] for j in range(8 + i % 5)).capitalize() + f" (line {i}).")
        if i % 7 == 6:
            out.append("\n\n")
    return " ".join(out)


def inputs_for(path: Path) -> dict[str, str]:
    # The choice plan answers only a question that lists lettered choices (it makes no call otherwise).
    asked = ("What is the special magic number for apple?\nA) 48213\nB) 12345" if path.stem == "choice"
             else "Which users are in category sports?")
    return {i.name: asked for i in compile(path).inputs[1:]}


def window(path: Path) -> dict[str, int]:
    """A window the whole document fits for the plan that reads it in one call, else a small one."""
    return {"window": 16_384 if path.stem == "direct" else 1024}


def config(tmp_path: Path, name: str, **kw: Any) -> FastRetries:
    fields: dict[str, Any] = {"model": "lrfault/m", "window": 1024, "output_tokens": 64,
                              "cache_dir": str(tmp_path / name / "cache"), "timeout_s": HANG_TIMEOUT_S,
                              "trace_path": str(tmp_path / name / "trace.jsonl"), **kw}
    (tmp_path / name).mkdir(parents=True, exist_ok=True)
    return FastRetries(**fields)


def fault_free(path: Path, tmp_path: Path) -> tuple[Result, int]:
    provider = ScriptedProvider(script=reader)
    with registered(lrfault=provider):
        result = run(path, document(), config(tmp_path, "clean", **window(path)), **inputs_for(path))
    return result, provider.calls


@pytest.mark.parametrize("path", PROGRAMS, ids=lambda p: f"{p.parent.name}/{p.stem}")
def test_thirty_percent_faults_change_nothing_and_every_retry_is_traced(path: Path, tmp_path: Path) -> None:
    clean, clean_requests = fault_free(path, tmp_path)
    assert clean.calls == clean_requests <= clean.bound.calls
    # A program of one or two leaves may draw no fault under one seed: take seeds until some hit.
    injected: list[str] = []
    for seed in range(11, 31):
        injected += faulty_run_matches(path, seed, tmp_path, clean, clean_requests)
        if injected:
            break
    assert injected, "twenty seeds injected no fault"


def faulty_run_matches(path: Path, seed: int, tmp_path: Path, clean: Result, clean_requests: int) -> list[str]:
    """Run `path` at 30% faults under `seed`, check it against the fault-free run, give the faults."""
    provider = TypedFaultProvider(reader, rate=0.3, seed=seed)
    # The default retry allowance: a leaf fails for good only after 8 transient faults in a row
    # (p ≈ 0.21^8) or 5 undecodable replies in a row (p ≈ 0.11^5); benchmarks/bench_faults.py
    # measures whole runs at these defaults.
    cfg = config(tmp_path, f"faulty-{seed}", **window(path))
    with registered(lrfault=provider):
        faulty = run(path, document(), cfg, **inputs_for(path))
    assert faulty.value == clean.value
    assert faulty.calls == clean.calls
    check_accounting(faulty, provider, clean_requests, cfg)
    return provider.injected


def check_accounting(result: Result, provider: TypedFaultProvider, clean_requests: int, cfg: Config) -> None:
    """Each fault cost exactly one extra request, and the trace names each one."""
    injected = Counter(provider.injected)
    transient = sum(injected[f] for f in TRANSIENT)
    undecodable = sum(injected[f] for f in UNDECODABLE)
    assert provider.calls == clean_requests + len(provider.injected)
    assert result.requests == provider.calls
    events = list(result.trace)
    retried = Counter(e["error"] for e in events if e["event"] == "retry")
    assert retried == Counter({RETRIED_AS[f]: n for f, n in injected.items() if f in TRANSIENT})
    assert sum(1 for e in events if e["event"] == "reask") == undecodable
    assert not [e for e in events if e["event"] in ("leaf_error", "run_error", "budget")]
    # The JSONL file on disk says the same as the in-memory trace.
    on_disk = summary(read(cfg.trace_path or ""))
    assert (on_disk["retries"], on_disk["reasks"], on_disk["calls"]) == (transient, undecodable, result.calls)


INT_MAP = 'def main (doc : Text) : List Int = map (\\c -> (llm "How many words? {c}" : Int)) (split doc 60)'


def test_thirty_percent_of_every_kind_of_fault_on_many_leaves(tmp_path: Path) -> None:
    doc = " ".join(f"word{i}" for i in range(3000))
    with registered(lrfault=ScriptedProvider(script=lambda messages: "7")):
        clean = run(INT_MAP, doc, config(tmp_path, "clean"))
    provider = TypedFaultProvider(lambda messages: "7", rate=0.3, seed=5)
    cfg = config(tmp_path, "faulty")
    with registered(lrfault=provider):
        faulty = run(INT_MAP, doc, cfg)
    assert faulty.value == clean.value == (7,) * clean.calls and clean.calls >= 50
    assert set(provider.injected) == {*FAULTS, "hang"}, Counter(provider.injected)
    check_accounting(faulty, provider, clean.calls, cfg)


CAUSES = {
    "rate_limit": r"still failed after 8 attempts \(RateLimitError\): slow down",
    "server_error": r"still failed after 8 attempts \(InternalServerError\): upstream exploded",
    "timeout": r"still failed after 8 attempts \(Timeout\): read timed out",
    "disconnect": r"still failed after 8 attempts \(APIConnectionError\): connection reset by peer",
    "hang": r"still failed after 8 attempts .*no reply within 0\.\d s",
    "empty": r"still did not decode after 4 re-asks: the reply was empty",
    "garbage": r"still did not decode after 4 re-asks: expected a single integer, found no number",
}


@pytest.mark.parametrize("fault", list(CAUSES))
def test_all_requests_failing_stops_with_one_error_naming_the_cause(fault: str, tmp_path: Path) -> None:
    provider = TypedFaultProvider(lambda messages: "7", rate=1.0, faults=(fault,))
    deadline = 10.0
    cfg = config(tmp_path, fault, deadline_s=deadline)
    start = time.monotonic()
    with registered(lrfault=provider), pytest.raises(LambdaError) as info:
        run(INT_MAP, " ".join(f"word{i}" for i in range(400)), cfg)
    elapsed = time.monotonic() - start
    assert elapsed < deadline
    error = info.value
    assert isinstance(error, LeafError | BudgetExceeded)
    assert re.search(CAUSES[fault], error.message), error.message
    assert "lrfault/m" in error.format()
    assert "Traceback" not in error.format() and len(error.message.splitlines()) == 1
    # One failure ends the run: the trace has one run_error, and nothing was cached as an answer.
    events = read(cfg.trace_path or "")
    assert [e["kind"] for e in events if e["event"] == "run_error"] == [error.kind]
    assert not [e for e in events if e["event"] == "leaf_end"]


@pytest.mark.parametrize("fault", ["server_error", "hang"])
def test_a_deadline_that_cuts_retries_short_still_names_the_cause(fault: str, tmp_path: Path) -> None:
    """With the default backoff (0.5 s, then 1 s, ...) the deadline ends the run before the attempts run out."""
    provider = TypedFaultProvider(lambda messages: "7", rate=1.0, faults=(fault,))
    cfg = Config(model="lrfault/m", use_cache=False, deadline_s=1.5, timeout_s=HANG_TIMEOUT_S)
    start = time.monotonic()
    with registered(lrfault=provider), pytest.raises(BudgetExceeded) as info:
        run(INT_MAP, " ".join(f"word{i}" for i in range(400)), cfg)
    assert time.monotonic() - start < 2.5
    assert re.search(r"InternalServerError|upstream exploded|no reply within|timed out", info.value.message), (
        info.value.message)
