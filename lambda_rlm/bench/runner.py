"""The benchmark runner: takes tasks, lengths, baselines and a Config, gives scored records and a summary.

For each task × length, instances are generated with the run's tokenizer; for each baseline
(a strategy by name, `plan:FILE.lam`, or a plug-in under the entry-point group
`lambda_rlm.baselines`) every instance is run, scored with the task's scorer and reported as a
`Record`. A run that fails (any LambdaError: a leaf, a budget, a bound) scores 0 and keeps its
error; it never stops the benchmark. Calls and tokens are counted from the runtime's leaf
events, with leaves served by the cache counted at what they cost when they were made, so a
resumed run reports the same figures as an uninterrupted one.
"""

from __future__ import annotations

import json
import math
import os
import platform
import statistics
import time
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

from lambda_rlm.core.errors import ConfigError, LambdaError
from lambda_rlm.core.events import Event

if TYPE_CHECKING:
    from lambda_rlm.bench.tasks.base import Instance, Task
    from lambda_rlm.models.cache import LeafCache
    from lambda_rlm.runtime.session import Config
    from lambda_rlm.strategies.strategy import Strategy

Listener = Callable[[Event], None]
# A system under test: (task, instance, config, on_event) -> the answer. Leaf events passed to
# `on_event` are what the runner counts (the runtime emits them; other systems may emit their own).
Baseline = Callable[["Task", "Instance", "Config", Listener], Awaitable[Any]]
ENTRY_POINT_GROUP = "lambda_rlm.baselines"
PLAN_PREFIX = "plan:"
MAX_LENGTH = 16_000_000  # tokens of one generated document: 16× the largest published length, about 64 MB of text

# ---------------------------------------------------------------------- baselines


def strategy_baseline(found: Strategy) -> Baseline:
    """A strategy as a baseline: it answers the instance's question, told the task's plan."""

    async def run_strategy(task: Task, instance: Instance, config: Config, on_event: Listener) -> Any:
        answer = await found.answer(instance.question, instance.document, config, task=task.plan, on_event=on_event)
        return answer.value

    return run_strategy


def _built_in(name: str) -> Baseline:
    from lambda_rlm.strategies.strategy import strategy

    return strategy_baseline(strategy(name))


# The built-in strategies as baselines, by their names.
direct, plan, ask, search4 = (_built_in(name) for name in ("direct", "plan", "ask", "search4"))


def program_baseline(path: str | Path) -> Baseline:
    """A researcher's program as a baseline: `main` takes the document, then the question."""
    from lambda_rlm.analysis.program import compile

    program = compile(Path(path))  # checked now, so a bad program stops the bench before it starts
    if program.main is None or len(program.inputs) != 2:
        raise ConfigError(f"{path}: main must take two inputs, the document and then the question",
                          notes=["def main (doc : Text) (question : Text) = ..."])
    question_input = program.inputs[1].name

    async def run_program(task: Task, instance: Instance, config: Config, on_event: Listener) -> Any:
        from lambda_rlm.runtime.session import arun

        inputs = {question_input: instance.question}
        return (await arun(program, instance.document, config, on_event=on_event, **inputs)).value

    return run_program


def baseline(name: str) -> Baseline:
    """The baseline called `name`: a strategy (built-in or plug-in), `plan:FILE.lam`, or an installed
    baseline plug-in (an async function under `lambda_rlm.baselines`)."""
    from importlib.metadata import entry_points

    from lambda_rlm.strategies.strategy import strategy, strategy_names

    if name.startswith(PLAN_PREFIX):
        return program_baseline(name.removeprefix(PLAN_PREFIX))
    if name in strategy_names() or name.startswith("search"):
        return strategy_baseline(strategy(name))
    for ep in entry_points(group=ENTRY_POINT_GROUP):
        if ep.name == name:
            found: Baseline = ep.load()
            return found
    raise ConfigError(f"there is no baseline named '{name}'",
                      notes=[f"baselines: {', '.join(baseline_names())}, or plan:FILE.lam"])


def baseline_names() -> list[str]:
    from importlib.metadata import entry_points

    from lambda_rlm.strategies.strategy import strategy_names

    known = strategy_names()
    return [*known, *sorted(ep.name for ep in entry_points(group=ENTRY_POINT_GROUP) if ep.name not in known)]


# ---------------------------------------------------------------------- one instance


@dataclass(frozen=True)
class Record:
    """One instance run through one baseline, scored; one line of results.jsonl."""

    task: str
    length: int
    baseline: str
    id: str
    question: str
    gold: Any
    predicted: Any
    score: float
    calls: int  # leaves answered, those served by the cache included
    cached: int
    prompt_tokens: int
    completion_tokens: int
    cost_usd: float
    wall_s: float
    error: str | None

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


class Usage:
    """A leaf-event listener adding up calls, tokens and cost; cached leaves at their original cost."""

    def __init__(self, cache: LeafCache | None) -> None:
        self.cache = cache
        self.calls = self.cached = self.prompt_tokens = self.completion_tokens = 0
        self.cost_usd = 0.0

    def __call__(self, event: Event) -> None:
        if event.get("event") != "leaf_end":
            return
        self.calls += 1
        if event.get("cached"):
            self.cached += 1
            entry = self.cache.get(str(event.get("key"))) if self.cache is not None else None
            paid = (entry.prompt_tokens, entry.completion_tokens, entry.cost_usd) if entry else (0, 0, 0.0)
        else:
            paid = (event.get("prompt_tokens", 0), event.get("completion_tokens", 0), event.get("cost_usd", 0.0))
        self.prompt_tokens += int(paid[0])
        self.completion_tokens += int(paid[1])
        self.cost_usd += float(paid[2])


async def run_instance(task: Task, instance: Instance, length: int, name: str, system: Baseline,
                       config: Config, cache: LeafCache | None = None) -> Record:
    """Run one instance through one baseline and score it; a failed run scores 0 and keeps its error."""
    from lambda_rlm.core.values import to_json

    usage = Usage(cache)
    error: str | None = None
    predicted: Any = None
    start = time.perf_counter()
    try:
        predicted = to_json(await system(task, instance, config, usage))
    except LambdaError as exc:
        error = f"{exc.kind}: {exc.message}"
    except Exception as exc:  # noqa: BLE001 - a plug-in's failure is that system's score, not the bench's end
        error = f"{type(exc).__name__}: {exc}"
    wall = time.perf_counter() - start
    score = 0.0 if error is not None else float(task.score(predicted, instance))
    return Record(task.name, length, name, instance.id, instance.question, instance.answer, predicted, score,
                  usage.calls, usage.cached, usage.prompt_tokens, usage.completion_tokens,
                  round(usage.cost_usd, 8), round(wall, 4), error)


# ---------------------------------------------------------------------- the whole benchmark


@dataclass(frozen=True)
class Report:
    """Every record, in run order, and where the time went (generation and runs, per task)."""

    records: tuple[Record, ...]
    generate_s: dict[str, float]  # per task
    run_s: dict[str, float]  # per task
    total_s: float


Progress = Callable[[str, int], None]  # (what is running, records finished so far)


async def arun_bench(tasks: Sequence[Task], lengths: Sequence[int], n: int, seed: int,
                     baselines: Mapping[str, Baseline], config: Config, results: IO[str] | None = None,
                     progress: Progress | None = None) -> Report:
    """Run every task × length × baseline × instance in a fixed order; each record is written as it ends."""
    from lambda_rlm.models.cache import LeafCache
    from lambda_rlm.runtime.session import default_tokenizer

    tokenizer = config.llm.tokenizer or default_tokenizer(config.model)
    config = config.changed(tokenizer=tokenizer)  # one tokenizer object: its memo serves every run
    cache = LeafCache(config.cache_dir) if config.use_cache else None
    records: list[Record] = []
    generate_s = dict.fromkeys((t.name for t in tasks), 0.0)
    run_s = dict(generate_s)
    start = time.perf_counter()
    if too_long := [length for length in lengths if length > MAX_LENGTH]:
        raise ConfigError(f"cannot generate a {size_label(too_long[0])}-token document: "
                          f"the longest is {size_label(MAX_LENGTH)}")
    try:
        for task in tasks:
            for length in lengths:
                if progress:
                    progress(f"{task.name} {size_label(length)}: generating", len(records))
                began = time.perf_counter()
                try:
                    instances = task.generate(length, n, seed, tokenizer.count)
                except ValueError as exc:  # a task refuses sizes and counts it cannot make
                    raise ConfigError(f"{task.name} at {size_label(length)}: {exc}") from None
                generate_s[task.name] += time.perf_counter() - began
                for name, system in baselines.items():
                    for instance in instances:
                        if progress:
                            progress(f"{task.name} {size_label(length)} {name}", len(records))
                        record = await run_instance(task, instance, length, name, system, config, cache)
                        run_s[task.name] += record.wall_s
                        records.append(record)
                        if results is not None:
                            results.write(json.dumps(record.as_dict(), ensure_ascii=False, default=str) + "\n")
                            results.flush()  # a killed run keeps every record it finished
    finally:
        if cache is not None:
            cache.close()
    if progress:
        progress("done", len(records))
    return Report(tuple(records), generate_s, run_s, time.perf_counter() - start)


# ---------------------------------------------------------------------- aggregates


def percentile(values: Sequence[float], q: float) -> float:
    """The nearest-rank percentile (q in [0, 1]) of a non-empty sequence."""
    ordered = sorted(values)
    return ordered[max(0, math.ceil(q * len(ordered)) - 1)]


def groups(records: Iterable[Record]) -> list[dict[str, Any]]:
    """Per (task, length, baseline), in first-seen order: score mean and stdev, means, cost, wall p50/p95."""
    grouped: dict[tuple[str, int, str], list[Record]] = {}
    for r in records:
        grouped.setdefault((r.task, r.length, r.baseline), []).append(r)
    out = []
    for (task, length, name), rs in grouped.items():
        scores, walls = [r.score for r in rs], [r.wall_s for r in rs]
        out.append({
            "task": task, "length": length, "baseline": name, "n": len(rs),
            "score": statistics.fmean(scores), "score_stdev": statistics.stdev(scores) if len(rs) > 1 else 0.0,
            "calls": statistics.fmean(r.calls for r in rs), "cached": statistics.fmean(r.cached for r in rs),
            "prompt_tokens": statistics.fmean(r.prompt_tokens for r in rs),
            "completion_tokens": statistics.fmean(r.completion_tokens for r in rs),
            "cost_usd": sum(r.cost_usd for r in rs), "wall_p50_s": percentile(walls, 0.5),
            "wall_p95_s": percentile(walls, 0.95), "errors": sum(r.error is not None for r in rs),
        })
    return out


def summary(report: Report, config: Config, command: Sequence[str], seed: int, n: int) -> dict[str, Any]:
    """summary.json: the aggregates, how the run was made, on what machine, and where the time went."""
    from lambda_rlm.core import VERSION as __version__

    return {
        "command": list(command), "model": config.model, "window": config.window,
        "output_tokens": config.llm.output_tokens, "seed": seed, "n": n,
        "date": datetime.now(UTC).isoformat(timespec="seconds"), "version": __version__,
        "machine": {"platform": platform.platform(), "python": platform.python_version(),
                    "cpu_count": os.cpu_count(), "load_average": _load()},
        "timing": {"total_s": round(report.total_s, 3),
                   "generate_s": {k: round(v, 3) for k, v in report.generate_s.items()},
                   "run_s": {k: round(v, 3) for k, v in report.run_s.items()}},
        "groups": groups(report.records),
    }


def _load() -> list[float] | None:
    try:
        return [round(x, 2) for x in os.getloadavg()]
    except OSError:  # not available on every platform
        return None


def size_label(tokens: int) -> str:
    """8000 → 8k, 1000000 → 1m, 1500000 → 1.5m, 300 → 300."""
    for unit, scale in (("m", 1_000_000), ("k", 1_000)):
        if tokens >= scale and tokens % (scale // 10) == 0:
            return f"{tokens / scale:g}{unit}"
    return str(tokens)
