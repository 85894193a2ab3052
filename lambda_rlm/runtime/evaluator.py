"""Evaluation: takes a checked Program, its inputs and a leaf oracle, gives the value of main (async, call-by-value).

Only `llm` leaves, holes and combinators that call the model themselves (`graph`, through
`Context.ask`) await the oracle; everything else is deterministic Python. Combinators such as
`map` fan leaves out concurrently; the concurrency limit lives in the oracle, around the request
alone, so no permit is ever held while waiting for other leaves (nested fan-outs cannot deadlock).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Iterable, Mapping
from contextvars import ContextVar
from dataclasses import dataclass, replace
from typing import Any, Protocol

from lambda_rlm.analysis.cost import CostModel
from lambda_rlm.analysis.program import Program, free_vars
from lambda_rlm.core import types as t
from lambda_rlm.core.errors import ConfigError, EvalError, LambdaError
from lambda_rlm.core.events import Event
from lambda_rlm.core.registry import Combinator
from lambda_rlm.core.source import Span
from lambda_rlm.core.values import Record, Some, render
from lambda_rlm.lang import syntax as s
from lambda_rlm.text import fences

from .expand import Expander


class Tokenizer(Protocol):
    def count(self, text: str) -> int: ...


#: What answers a leaf (the run session builds one over `models.llm.Oracle`):
#: (prompt, declared type, leaf or hole node; None for a combinator's call) -> decoded value.
AnswerLeaf = Callable[[str, t.Type, s.Llm | s.Hole | None], Awaitable[Any]]
#: A model call made by a combinator itself (graph): (prompt, declared type) -> decoded value.
Ask = Callable[[str, t.Type], Awaitable[Any]]


@dataclass(frozen=True, slots=True)
class Context:
    """What combinators may use at run time (passed as their `ctx` argument)."""

    tokenizer: Any
    tau: int | None = None
    k: int | None = None
    batch: int | None = None  # records per labelling leaf, chosen with the bound
    votes: int = 1  # samples per labelling leaf (a model's profile)
    wave: int = 1  # pieces `scan` reads at once: the requests the model takes at once
    read_all: bool = False  # `scan` reads every piece, even after one answers
    ask: Ask | None = None  # the run's oracle, for combinators that call the model themselves
    expander: Expander | None = None  # frames (call accounting, trace tags) for their nested work
    emit: Callable[[Event], None] | None = None  # the run's trace, for what combinators report


class Closure:
    """A function value of the program: parameters still to receive, a body and its environment."""

    __slots__ = ("params", "body", "env", "ev")

    def __init__(self, params: tuple[str, ...], body: s.Expr, env: Mapping[str, Any], ev: Evaluator) -> None:
        self.params, self.body, self.env, self.ev = params, body, env, ev

    async def __call__(self, arg: Any) -> Any:
        env = {**self.env, self.params[0]: arg}
        if len(self.params) > 1:
            return Closure(self.params[1:], self.body, env, self.ev)
        return await self.ev.evaluate(self.body, env)


class Primitive:
    """A combinator, partially applied to the arguments it has received so far."""

    __slots__ = ("comb", "args", "ctx")

    def __init__(self, comb: Combinator, args: tuple[Any, ...], ctx: Context) -> None:
        self.comb, self.args, self.ctx = comb, args, ctx

    async def __call__(self, arg: Any) -> Any:
        args = (*self.args, arg)
        if len(args) < self.comb.arity:
            return Primitive(self.comb, args, self.ctx)
        return await invoke(self.comb, args, self.ctx)


async def invoke(comb: Combinator, args: tuple[Any, ...], ctx: Context) -> Any:
    kwargs = {"ctx": ctx} if comb.wants_ctx else {}
    result = comb.impl(*args, **kwargs)
    return await result if comb.is_async else result


_GLOBAL = object()  # "not a local name": look in the globals

#: Which sample of a `vote` is being evaluated: () outside any vote, (i,) in its i-th sample, (i, j)
#: in a vote nested in that one. Leaves read it, so each sample has its own request and cache key.
_SAMPLE: ContextVar[tuple[int, ...]] = ContextVar("lambda_rlm_sample", default=())


def sample() -> tuple[int, ...]:
    """The sample the current evaluation belongs to (see `_SAMPLE`)."""
    return _SAMPLE.get()


async def samples(n: int, make: Callable[[], Awaitable[Any]]) -> list[Any]:
    """`make()` evaluated n times concurrently, the i-th time as sample i (each in its own task, so
    the mark never leaks into the caller)."""

    async def one(i: int) -> Any:
        _SAMPLE.set((*_SAMPLE.get(), i))
        return await make()

    return await together(one(i) for i in range(n))


async def together(aws: Iterable[Awaitable[Any]]) -> list[Any]:
    """The results of `aws`, run concurrently; on the first failure the others are cancelled and
    have stopped before it is raised, so a failed `map` leaves no leaf running (and paying) behind
    it. Leaves that had finished are in the cache, so a rerun pays only for the rest."""
    tasks = [asyncio.ensure_future(a) for a in aws]
    try:
        return await asyncio.gather(*tasks)
    except BaseException:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        raise


def may_wait(f: Any) -> bool:
    """Whether applying the function value `f` may wait for the model (True when unsure).

    A combinator such as `map` applies a function that cannot wait one item after another,
    which is much cheaper than a task per item and gives the same values; one that may wait
    is applied to all items concurrently. Wrongly saying "cannot wait" would only serialise
    model calls, never change a value, so unknown values count as "may wait".
    """
    if isinstance(f, Closure):
        return f.ev.closure_may_wait(f)
    if isinstance(f, Primitive):
        if f.comb.is_async and f.comb.wants_ctx:  # may call the model through its context (graph)
            return True
        return any(may_wait(x) for x in f.args if isinstance(x, Closure | Primitive))
    return True


class Evaluator:
    """Evaluates expressions of one program; leaf calls go to `oracle`."""

    def __init__(self, program: Program, oracle: AnswerLeaf, ctx: Context, holes: Expander | None = None) -> None:
        self.program, self.oracle = program, oracle
        self.holes = holes or Expander(program, CostModel(count=ctx.tokenizer.count, tau=ctx.tau, k=ctx.k),
                                       self._write)
        self.ctx = replace(ctx, ask=self._ask, expander=self.holes)
        self.global_env: dict[str, Any] = {}
        self._shapes: dict[tuple[int, tuple[str, ...]], tuple[bool, tuple[str, ...]]] = {}
        self._global_waits: dict[str, bool] = {}

    async def _write(self, prompt: str, hole: s.Hole) -> str:
        """A hole's writer is a Text leaf: the same oracle, cache, budget and trace as any other."""
        return str(await self.oracle(prompt, t.TEXT, hole))

    async def _ask(self, prompt: str, ty: t.Type) -> Any:
        """A combinator's own model call: the same oracle, cache, budget, bound guard and trace as a leaf."""
        return await self.oracle(prompt, ty, None)

    def closure_may_wait(self, f: Closure) -> bool:
        """A closure may wait if its body has a leaf or a hole, or uses a function that may wait."""
        key = (id(f.body), f.params)
        shape = self._shapes.get(key)
        if shape is None:
            free = tuple(sorted({v.name for v in free_vars(f.body, frozenset(f.params))}))
            shape = self._shapes[key] = (_has_leaf(f.body), free)
        has_leaf, free = shape
        if has_leaf:
            return True
        for name in free:
            value = f.env.get(name, _GLOBAL)
            if value is _GLOBAL:
                if self._global_may_wait(name):
                    return True
            elif isinstance(value, Closure | Primitive) and may_wait(value):
                return True
        return False

    def _global_may_wait(self, name: str) -> bool:
        known = self._global_waits.get(name)
        if known is None:
            value = self.global_env.get(name)
            # Definitions form a DAG (the termination check), so this recursion ends.
            known = self._global_waits[name] = isinstance(value, Closure | Primitive) and may_wait(value)
        return known

    async def globals(self) -> dict[str, Any]:
        # Environments hold local names only; a name not found there is a global (see `_var`), so
        # a call or a `let` copies a few locals rather than the whole library.
        env: dict[str, Any] = self.global_env
        for name, comb in self.program.library.combinators.items():
            env[name] = await invoke(comb, (), self.ctx) if comb.arity == 0 else Primitive(comb, (), self.ctx)
        for d in self.program.defs:
            env[d.name] = await self.evaluate(d.as_expr(), {})
        return env

    async def run_main(self, inputs: list[Any]) -> Any:
        env = await self.globals()
        value = env["main"]
        for x in inputs:
            value = await value(x)
        return value

    async def evaluate(self, e: s.Expr, env: Mapping[str, Any]) -> Any:
        # The commonest nodes first: `match` tries its cases in order.
        match e:
            case s.Var(name):
                value = env.get(name, _GLOBAL)
                return self.global_env[name] if value is _GLOBAL else value
            case s.App(fn, arg):
                f = await self.evaluate(fn, env)
                x = await self.evaluate(arg, env)
                return await self.apply(f, x, e.span)
            case s.IntLit(v) | s.FloatLit(v) | s.BoolLit(v):
                return v
            case s.TextLit(parts):
                out = []
                for p in parts:
                    out.append(p if isinstance(p, str) else render(await self.evaluate(p, env)))
                return "".join(out)
            case s.ListLit(items) | s.TupleLit(items):
                return tuple([await self.evaluate(x, env) for x in items])
            case s.RecordLit(fields):
                return Record({n: await self.evaluate(v, env) for n, v in fields})
            case s.Field(record, name):
                return (await self.evaluate(record, env))[name]
            case s.Lam(params, body):
                return Closure(tuple(p.name for p in params), body, env, self)
            case s.Let(name, value, body):
                return await self.evaluate(body, {**env, name: await self.evaluate(value, env)})
            case s.If(cond, then, else_):
                return await self.evaluate(then if await self.evaluate(cond, env) else else_, env)
            case s.BinOp(op, left, right):
                return await self.binop(op, left, right, env, e.span)
            case s.UnOp(op, operand):
                v = await self.evaluate(operand, env)
                return (not v) if op == "not" else -v
            case s.Annot(inner, _):
                return await self.evaluate(inner, env)
            case s.Llm(s.TextLit(parts)):
                # A value put into the prompt cannot write the prompt's own delimiters (text.fences).
                fenced = fences.tags(p for p in parts if isinstance(p, str))
                out = [p if isinstance(p, str) else fences.neutral(render(await self.evaluate(p, env)), fenced)
                       for p in parts]
                return await self.leaf("".join(out), e)
            case s.Llm(prompt):
                return await self.leaf(await self.evaluate(prompt, env), e)
            case s.Hole():
                return await self.holes.fill(e, env, self.global_env, self.evaluate)
        raise AssertionError(e)

    async def leaf(self, prompt: str, e: s.Llm) -> Any:
        """The model's decoded answer to one `llm` expression; its failure is located at that expression."""
        try:
            return await self.oracle(prompt, self.holes.leaf_types[id(e)], e)
        except LambdaError as exc:
            if exc.span is None and not isinstance(exc, ConfigError):
                exc.span = e.span
            raise

    async def apply(self, f: Any, x: Any, span: Span) -> Any:
        try:
            return await f(x)
        except LambdaError as exc:
            if isinstance(exc, ConfigError):  # a model or a key is no line of the program
                raise
            if exc.span is None:
                exc.span = span
            elif _in_library(exc.span) and not _in_library(span):  # point at the user's own call, and
                exc.notes = (f"inside {exc.span.location()}", *exc.notes)  # say where in the library
                exc.span = span
            raise
        except RecursionError:
            raise EvalError("the evaluation nests too deeply", span) from None

    async def binop(self, op: str, left: s.Expr, right: s.Expr, env: Mapping[str, Any], span: Span) -> Any:
        x = await self.evaluate(left, env)
        if op == "&&":
            return x and await self.evaluate(right, env)
        if op == "||":
            return x or await self.evaluate(right, env)
        y = await self.evaluate(right, env)
        match op:
            case "+":
                return x + y
            case "-":
                return x - y
            case "*":
                return x * y
            case "/" | "%":
                if y == 0:
                    raise EvalError("division by zero", span)
                if op == "%":
                    return x % y
                return x // y if isinstance(x, int) and isinstance(y, int) else x / y
            case "++":
                return x + y
            case "==":
                return _equal(x, y, span)
            case "!=":
                return not _equal(x, y, span)
            case "<":
                return x < y
            case "<=":
                return x <= y
            case ">":
                return x > y
            case ">=":
                return x >= y
        raise AssertionError(op)


def _in_library(span: Span) -> bool:
    """A span in a module the program imports from the library (`<lib>/prelude.lam`, …)."""
    return span.source.name.startswith("<lib>/")


def _equal(x: Any, y: Any, span: Span) -> bool:
    if isinstance(x, Closure | Primitive):
        raise EvalError("functions cannot be compared", span)
    if isinstance(x, Some) and isinstance(y, Some):
        return _equal(x.value, y.value, span)
    return bool(x == y)


def _has_leaf(e: s.Expr) -> bool:
    """Whether `e` contains an `llm` leaf or a hole (inside lambdas too)."""
    match e:
        case s.Llm() | s.Hole():
            return True
        case s.TextLit(parts):
            return any(_has_leaf(p) for p in parts if not isinstance(p, str))
        case s.ListLit(items) | s.TupleLit(items):
            return any(_has_leaf(x) for x in items)
        case s.RecordLit(fields):
            return any(_has_leaf(v) for _, v in fields)
        case s.Field(record):
            return _has_leaf(record)
        case s.Lam(_, body):
            return _has_leaf(body)
        case s.App(fn, arg):
            return _has_leaf(fn) or _has_leaf(arg)
        case s.Let(_, value, body):
            return _has_leaf(value) or _has_leaf(body)
        case s.If(c, th, el):
            return _has_leaf(c) or _has_leaf(th) or _has_leaf(el)
        case s.BinOp(_, left, right):
            return _has_leaf(left) or _has_leaf(right)
        case s.UnOp(_, x) | s.Annot(x):
            return _has_leaf(x)
        case _:  # names and literals
            return False
