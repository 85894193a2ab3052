"""Running programs: takes a program, a document and inputs, gives a Result (value, usage, bound, trace).

`run` is the one sync wrapper over `arun`. Before the first call the static bound is computed
for the real input sizes and compared with the budget; during the run the oracle enforces the
budget and this module checks that the calls made never exceed the bound (a bug if they do).
"""

from __future__ import annotations

import asyncio
import functools
import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from lambda_rlm.analysis.cost import Bound, CostModel
from lambda_rlm.analysis.program import Program, compile
from lambda_rlm.core import events, formats
from lambda_rlm.core import types as t
from lambda_rlm.core.errors import BudgetExceeded, ConfigError, LambdaError, UnboundNameError
from lambda_rlm.core.events import Event
from lambda_rlm.lang import syntax as s
from lambda_rlm.models import providers
from lambda_rlm.models.backend import run_sync
from lambda_rlm.models.budget import Budget, Counters
from lambda_rlm.models.model_files import DEFAULT_MODEL as DEFAULT_MODEL
from lambda_rlm.text import records

from .config import FALLBACK_WINDOW as FALLBACK_WINDOW
from .config import Config as Config
from .evaluator import Context, Evaluator, sample
from .expand import Expander, charge, tagged
from .trace import Trace


@dataclass(frozen=True)
class Result:
    """The value of main and what it took to compute it."""

    value: Any
    calls: int
    cache_hits: int
    requests: int
    prompt_tokens: int
    completion_tokens: int
    cost_usd: float
    wall_s: float
    bound: Bound
    trace: tuple[Event, ...] = field(repr=False, default=())

    @property
    def pieces_read(self) -> dict[str, int] | None:
        """How many of the pieces its ranked reading (`scan`) could read the run read, summed over
        its scans; None for a run that reads no ranked pieces."""
        scans = [e for e in self.trace if e.get("event") == "scan"]
        if not scans:
            return None
        return {"read": sum(int(e["read"]) for e in scans), "of": sum(int(e["pieces"]) for e in scans)}

    @property
    def json_value(self) -> Any:
        """The value as plain JSON data (`json.dumps` takes it): an option is its value or None,
        a record a dict, a tuple or list a list."""
        from lambda_rlm.core.values import to_json

        return to_json(self.value)

    def __repr__(self) -> str:  # the trace and the bound's leaves would fill a screen
        return (f"<Result value={self.json_value!r:.80} calls={self.calls} bound={self.bound.calls} "
                f"cost=${self.cost_usd:.4f} wall={self.wall_s:.1f}s>")

    def stats(self) -> dict[str, Any]:
        return {
            "calls": self.calls, "cache_hits": self.cache_hits, "requests": self.requests,
            "prompt_tokens": self.prompt_tokens, "completion_tokens": self.completion_tokens,
            "cost_usd": self.cost_usd, "wall_s": round(self.wall_s, 3), "bound": self.bound.as_dict(),
            "pieces_read": self.pieces_read,
        }


def run(program: Program | str | Path, context: str, config: Config | None = None,
        on_event: Callable[[Event], None] | None = None, **inputs: Any) -> Result:
    """Run `program` on the document `context`; keyword arguments fill main's other inputs."""
    return run_sync(arun(program, context, config=config, on_event=on_event, **inputs))


async def arun(program: Program | str | Path, context: str, config: Config | None = None,
               on_event: Callable[[Event], None] | None = None, **inputs: Any) -> Result:
    """The async form of `run`: one run in a session of its own."""
    planned = prepare(program, context, config, **inputs)
    with Session(planned.config, on_event) as session:
        return await session.arun(planned)


@dataclass(frozen=True)
class Planned:
    """A run decided before any call: the program, its inputs, the configuration, the tokenizer and
    the bound for exactly these inputs (computed once, here, and never again for this run)."""

    program: Program
    args: tuple[Any, ...]
    config: Config
    tokenizer: Any = field(repr=False)
    bound: Bound


def prepare(program: Program | str | Path, context: str, config: Config | None = None,
            **inputs: Any) -> Planned:
    """Compile, check the inputs, fit the config to the model and bound the run; makes no call."""
    prog = program if isinstance(program, Program) else compile(program)
    if prog.main is None:
        raise UnboundNameError("the program has no 'main' definition to run")
    args = _inputs(prog, context, inputs)  # the user's own mistakes first, before the model is looked up
    config = fit_to_model(config or Config())
    tokenizer = config.llm.tokenizer or default_tokenizer(config.model)
    return Planned(prog, tuple(args), config, tokenizer, plan(prog, config, tokenizer, args))


class Session:
    """Runs that share one budget, one leaf cache connection and one trace.

    The limits of the session's config (calls, tokens, dollars, deadline) hold for all its runs
    together: a run whose bound exceeds what the earlier runs left is refused before it starts,
    and the deadline counts from the moment the first run is ready to send (its model client
    loaded: litellm's import takes seconds). Each run keeps its own model settings.
    """

    def __init__(self, config: Config | None = None,
                 on_event: Callable[[Event], None] | None = None) -> None:
        _refuse_async(on_event)
        self.config = config or Config()
        limits = self.config.limits  # the deadline is set by the first run
        self.budget = Budget(limits.max_calls, limits.max_tokens, limits.max_usd)
        self.trace = Trace(self.config.trace_path, on_event)
        self._caches: dict[str | None, Any] = {}

    def __enter__(self) -> Session:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        for cache in self._caches.values():
            cache.close()
        self._caches.clear()
        self.trace.close()

    def cache(self, config: Config) -> Any:
        """The session's connection to the leaf cache of `config` (None when it does not cache)."""
        if not config.use_cache:
            return None
        if config.cache_dir not in self._caches:
            from lambda_rlm.models.cache import LeafCache

            self._caches[config.cache_dir] = LeafCache(config.cache_dir)
        return self._caches[config.cache_dir]

    async def arun(self, planned: Planned,
                   on_event: Callable[[Event], None] | None = None) -> Result:
        """Run a planned program within what is left of the session's budget."""
        from lambda_rlm.models.llm import Oracle

        prog, config, bound = planned.program, planned.config, planned.bound
        _refuse_async(on_event)
        self._refuse_over_budget(bound)
        emit = self.trace.emit if on_event is None else _both(self.trace.emit, on_event)
        oracle = Oracle(config.llm, self.budget, tagged(emit), planned.tokenizer.count, self.cache(config))
        made, first_event, before = 0, len(self.trace.events), self.budget.snapshot()
        if bound.calls:
            oracle.prepare()  # load the model client before the clock starts, not inside the first leaf
        deadline_s = self.config.limits.deadline_s
        if deadline_s is not None and self.budget.deadline is None:
            self.budget.deadline = time.monotonic() + deadline_s

        async def leaf(prompt: str, ty: t.Type, node: s.Llm | s.Hole | None) -> Any:
            nonlocal made
            result = await oracle.leaf(prompt, ty, sample())
            if not result.cached:
                made += 1
                charge(1, result.prompt_tokens, result.completion_tokens, result.cost_usd)
                if made > bound.calls:  # the static bound is a theorem; this is the dynamic guard
                    raise LambdaError(f"internal error: {made} calls exceed the static bound of {bound.calls}",
                                      None if node is None else node.span, ["please report this program as a bug"])
            return result.value

        emit(events.RunStart(program=prog.name, bound=bound.as_dict(), model=config.model))
        start = time.monotonic()
        model = replace(cost_model(config, planned.tokenizer), tau=bound.tau, k=bound.k, batch=bound.batch)
        context = Context(planned.tokenizer, bound.tau, bound.k, batch=bound.batch, votes=model.votes,
                          wave=config.llm.concurrency, read_all=config.leaves.read_all, emit=emit)
        expander = Expander(prog, model, lambda prompt, hole: _text(leaf(prompt, t.TEXT, hole)), emit)
        evaluator = Evaluator(prog, leaf, context, expander)
        left = self.budget.remaining_s()
        try:
            coro = evaluator.run_main(list(planned.args))
            value = await (asyncio.wait_for(coro, max(left, 1e-3)) if left is not None else coro)
            c = _spent(before, self.budget.snapshot())
            result = Result(value, made, c.cache_hits, c.requests, c.prompt_tokens, c.completion_tokens,
                            c.cost_usd, time.monotonic() - start, bound, tuple(self.trace.events[first_event:]))
            emit(events.RunEnd(**result.stats()))
            return result
        except TimeoutError:
            emit(events.RunError(kind="deadline"))
            raise BudgetExceeded(f"the run passed its deadline of {self.config.limits.deadline_s:g} s",
                                 notes=["completed leaves are cached; rerun to resume"]) from None
        except LambdaError as exc:
            emit(events.RunError(kind=exc.kind, message=exc.message))
            raise
        except (KeyboardInterrupt, asyncio.CancelledError):
            emit(events.RunError(kind="interrupted"))
            raise

    def _refuse_over_budget(self, bound: Bound) -> None:
        """BudgetExceeded, before any call, when the bound exceeds what the session has left."""
        spent = self.budget.snapshot()
        limits = self.budget
        ran = spent.requests > 0  # an earlier run of this session has spent part of the limit
        whose = " of what this session has left" if ran else ""
        if limits.max_calls is not None and bound.calls > limits.max_calls - spent.requests:
            left = limits.max_calls - spent.requests
            raise BudgetExceeded(
                f"the program may make up to {bound.calls} calls on this input, more than --max-calls "
                f"{left if ran else limits.max_calls}{whose}",
                notes=["nothing was run; raise the limit or shrink the input"])
        worst = bound.total_prompt_tokens + bound.total_output_tokens
        if limits.max_tokens is not None and worst > limits.max_tokens - spent.tokens:
            left = limits.max_tokens - spent.tokens
            raise BudgetExceeded(
                f"the program may use up to {worst:,} tokens on this input, more than --max-tokens "
                f"{left if ran else limits.max_tokens:,}{whose}",
                notes=["nothing was run; raise the limit or shrink the input"])


def refuse_dearer_than(bound: Bound, config: Config, what: str = "the program") -> float:
    """The run's worst cost (`worst_cost_usd`); BudgetExceeded, before any call, when it is more than
    `config.limits.max_usd`. The command line checks this before every run; in Python, `max_usd` caps what
    a run spends as it goes (a run stops before a request that could pass it)."""
    dollars = worst_cost_usd(bound, config)
    limit = config.limits.max_usd
    if limit is not None and dollars > limit:
        raise BudgetExceeded(f"{what} may cost up to ${dollars:,.4f} on this input (litellm's prices for "
                             f"{config.model}), more than --max-usd {limit:g}",
                             notes=["nothing was run; raise the limit or shrink the input"])
    return dollars


def worst_cost_usd(bound: Bound, config: Config) -> float:
    """The most a run with this bound may cost, at litellm's prices for the model (the dearest
    deployment of a Router config); 0 for a local or unpriced model. Loads litellm."""
    from lambda_rlm.models.backend import Backend

    return Backend.make(config.llm).cost(bound.total_prompt_tokens, bound.total_output_tokens)


def _refuse_async(on_event: Callable[[Event], None] | None) -> None:
    """ConfigError for an async listener: it would be called and its coroutine never awaited."""
    if on_event is not None and asyncio.iscoroutinefunction(on_event):
        raise ConfigError("on_event must be a plain function: it is called for every event and never awaited",
                          notes=["pass `lambda event: queue.put_nowait(event)` to hand events to async code"])


def _both(first: Callable[[Event], None],
          second: Callable[[Event], None]) -> Callable[[Event], None]:
    def emit(event: Event) -> None:
        first(event)
        second(event)
    return emit


def _spent(before: Counters, after: Counters) -> Counters:
    """What was spent between two snapshots of one budget."""
    return Counters(*(getattr(after, f) - getattr(before, f) for f in Counters.__dataclass_fields__))


def plan(prog: Program, config: Config, tokenizer: Any, args: list[Any]) -> Bound:
    """The static bound for these very inputs (sizes measured with the run's tokenizer)."""
    names = [i.name for i in prog.inputs]
    values = {n: v for n, v in zip(names, args, strict=True) if isinstance(v, int | float)}
    arg_tokens = {n: tokenizer.count(v) for n, v in zip(names[1:], args[1:], strict=True) if isinstance(v, str)}
    doc = args[0]
    shape = records.extent(doc) if prog.uses("records") else None  # measured only when a bound can use it
    return prog.bound(cost_model(config, tokenizer), tokenizer.count(doc), arg_tokens, values,
                      config.leaves.max_tokens, shape, config.leaves.max_records)


def cost_model(config: Config, tokenizer: Any) -> CostModel:
    """What the analysis must assume to bound what this runtime really sends.

    Each leaf's system message is its type's format instruction; a re-ask sends the original
    messages plus the latest bad reply and a correction (formats.instruction_budget).
    """
    llm = config.resolved().llm
    instruction_tokens = formats.instruction_counter(tokenizer.count, llm.output_tokens, bool(llm.reasks))
    return CostModel(llm.window or FALLBACK_WINDOW, llm.output_tokens, tokenizer.count, instruction_tokens,
                     votes=config.leaves.votes or 1, holes=config.holes)


async def _text(reply: Any) -> str:
    return str(await reply)


def _inputs(prog: Program, context: str, given: dict[str, Any]) -> list[Any]:
    if not isinstance(context, str):
        raise ConfigError(f"the document must be text, not {type(context).__name__}")
    try:
        context.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise ConfigError(f"the document is not valid Unicode (a lone surrogate at character {exc.start})") from None
    params = prog.inputs
    unknown = set(given) - {p.name for p in params[1:]}
    if unknown:
        raise ConfigError(f"main has no input named {', '.join(sorted(unknown))}",
                          notes=[f"its inputs are: {', '.join(p.name for p in params)}"])
    args: list[Any] = [context]
    for p in params[1:]:
        if p.name not in given:
            raise ConfigError(f"main needs the input '{p.name}' ({t.show(p.type)})",
                              notes=[f"pass it as --arg {p.name}=VALUE, or {p.name}=… in Python"])
        args.append(coerce(given[p.name], p.type, p.name))
    return args


def coerce(value: Any, ty: t.Type, name: str) -> Any:
    """An input given as Python value or command-line text, checked against its declared type."""
    try:
        match ty:
            case t.TCon("Text") | t.TVar():
                if isinstance(value, str):
                    value.encode("utf-8")  # a lone surrogate raises here, not deep in the cache key
                    return value
            case t.TCon("Int"):
                if isinstance(value, int) and not isinstance(value, bool):
                    return value
                if isinstance(value, str):
                    return int(value)
            case t.TCon("Float"):
                if isinstance(value, int | float) and not isinstance(value, bool):
                    return float(value)
                if isinstance(value, str):
                    return float(value)
            case t.TCon("Bool"):
                if isinstance(value, bool):
                    return value
                if isinstance(value, str) and value.lower() in ("true", "false"):
                    return value.lower() == "true"
            case t.TCon("List", (inner,)):
                items = json.loads(value) if isinstance(value, str) else value
                if isinstance(items, list | tuple):
                    return tuple(coerce(x, inner, name) for x in items)
    except (ValueError, json.JSONDecodeError):  # UnicodeEncodeError is a ValueError
        pass
    raise ConfigError(f"the input '{name}' must be {t.show(ty)}, not {value!r:.60}")


def fit_to_model(config: Config) -> Config:
    """The config within what an in-process model can take: the embedded model is CPU-bound, so one
    call at a time (a queue would only eat into the per-call timeouts), and never a window larger
    than the one it is loaded with."""
    config = config.resolved()
    llm = config.llm
    found = providers.find(llm.model)
    if found is None:
        return config
    concurrency = min(llm.concurrency, found.concurrency or llm.concurrency)
    window = min(llm.window or 0, found.window(llm.model))
    return replace(config, llm=replace(llm, concurrency=concurrency, window=window))


@functools.cache
def default_tokenizer(model: str) -> Any:
    """The model's own tokenizer when its provider has one (the embedded model), else cl100k_base
    (counts for other models are estimates).

    Wrapped in a `Memo` and kept per model, so the runs of one process tokenize a document once.
    """
    from lambda_rlm.text.tokens import Memo, cl100k

    found = providers.find(model)
    return Memo(found.tokenizer(model) if found is not None and found.tokenizer is not None else cl100k())
