"""Evaluation: takes a checked Program, its inputs and a leaf oracle, gives the value of main (async, call-by-value).

Only `llm` leaves await the oracle; everything else is deterministic Python. Combinators such as
`map` fan leaves out concurrently; the concurrency limit lives in the oracle, around the request
alone, so no permit is ever held while waiting for other leaves (nested fan-outs cannot deadlock).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from . import syntax as s
from . import types as t
from .errors import EvalError, LambdaError
from .program import Program
from .registry import Combinator
from .source import Span
from .values import Record, Some, render


class Tokenizer(Protocol):
    def count(self, text: str) -> int: ...


#: The leaf oracle: (prompt, declared type, leaf node) -> decoded value.
Oracle = Callable[[str, t.Type, s.Llm], Awaitable[Any]]


@dataclass(frozen=True, slots=True)
class Context:
    """What combinators may use at run time (passed as their `ctx` argument)."""

    tokenizer: Any
    tau: int | None = None
    k: int | None = None


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


class Evaluator:
    """Evaluates expressions of one program; leaf calls go to `oracle`."""

    def __init__(self, program: Program, oracle: Oracle, ctx: Context) -> None:
        self.program, self.oracle, self.ctx = program, oracle, ctx

    async def globals(self) -> dict[str, Any]:
        env: dict[str, Any] = {}
        for name, comb in self.program.library.combinators.items():
            env[name] = await invoke(comb, (), self.ctx) if comb.arity == 0 else Primitive(comb, (), self.ctx)
        for d in self.program.defs:
            env[d.name] = await self.evaluate(d.as_expr(), env)
        return env

    async def run_main(self, inputs: list[Any]) -> Any:
        env = await self.globals()
        value = env["main"]
        for x in inputs:
            value = await value(x)
        return value

    async def evaluate(self, e: s.Expr, env: Mapping[str, Any]) -> Any:
        match e:
            case s.Var(name):
                return env[name]
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
            case s.App(fn, arg):
                f = await self.evaluate(fn, env)
                x = await self.evaluate(arg, env)
                return await self.apply(f, x, e.span)
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
            case s.Llm(prompt):
                text = await self.evaluate(prompt, env)
                return await self.oracle(text, self.program.typing.leaf_types[id(e)], e)
            case s.Hole():
                raise EvalError("typed holes are not supported by this version of the runtime", e.span)
        raise AssertionError(e)

    async def apply(self, f: Any, x: Any, span: Span) -> Any:
        try:
            return await f(x)
        except LambdaError as exc:
            if exc.span is None:
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


def _equal(x: Any, y: Any, span: Span) -> bool:
    if isinstance(x, Closure | Primitive):
        raise EvalError("functions cannot be compared", span)
    if isinstance(x, Some) and isinstance(y, Some):
        return _equal(x.value, y.value, span)
    return bool(x == y)
