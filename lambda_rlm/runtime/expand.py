"""Hole expansion at run time: takes a hole the evaluator reached and the values in scope, gives the hole's
value, after the model has written its body and the body has been parsed, type-checked and bounded.

The model's reply only ever reaches our parser: nothing here (or anywhere in the package) executes
text as Python. A body that does not parse, check or fit the hole's allowance (holes.py) is
re-asked with our diagnostic, up to `hole_reasks` times, then the run fails with a HoleError.
Which hole is being expanded, and at what depth, is a context variable, so the fan-outs of `map`
inherit it and the calls made anywhere under a hole are counted for that hole and its ancestors.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
from collections import ChainMap
from collections.abc import Awaitable, Callable, Iterator, Mapping
from contextvars import ContextVar
from dataclasses import dataclass, replace
from typing import Any

from lambda_rlm.analysis import absdomain as a
from lambda_rlm.analysis import holes
from lambda_rlm.analysis.cost import Analyser, CostModel, check_window
from lambda_rlm.analysis.program import Program
from lambda_rlm.core import events
from lambda_rlm.core import types as t
from lambda_rlm.core.errors import CostError, HoleError, LambdaError
from lambda_rlm.core.events import Event
from lambda_rlm.core.values import Some
from lambda_rlm.lang import syntax as s
from lambda_rlm.lang.parser import parse_expr, parse_signature
from lambda_rlm.lang.typecheck import Checker, Typing, check_definition, scheme_of_signature

#: The writer: (prompt, hole) -> the model's reply, through the run's oracle (cache, budget, trace).
Ask = Callable[[str, s.Hole], Awaitable[str]]
Evaluate = Callable[[s.Expr, Mapping[str, Any]], Awaitable[Any]]


@dataclass(eq=False)
class Frame:
    """One expansion in progress; mutable because the calls under it are added up as they finish."""

    id: int
    name: str
    depth: int
    parent: Frame | None
    calls: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cost_usd: float = 0.0


_FRAME: ContextVar[Frame | None] = ContextVar("lambda_rlm_hole", default=None)


def charge(calls: int, prompt_tokens: int, completion_tokens: int, cost_usd: float) -> None:
    """Count a finished call for every hole being expanded around it (the runtime's oracle calls this)."""
    frame = _FRAME.get()
    while frame is not None:
        frame.calls += calls
        frame.prompt_tokens += prompt_tokens
        frame.completion_tokens += completion_tokens
        frame.cost_usd += cost_usd
        frame = frame.parent


def tagged(emit: Callable[[Event], None]) -> Callable[[Event], None]:
    """`emit`, adding to each event the hole being expanded where it happens (for the trace's tree)."""
    def tag(event: Event) -> None:
        frame = _FRAME.get()
        emit(event if frame is None or event.hole is not None else replace(event, hole=frame.id))
    return tag


@dataclass(frozen=True, slots=True)
class Body:
    """An accepted body: the model's text, its syntax, its types and its bound where it was accepted."""

    source: str
    expr: s.Expr
    typing: Typing
    calls: int


class Expander:
    """Fills the holes of one run; a body accepted for a hole at some depth is reused by its later
    evaluations (re-bounded on their own values), so a hole inside `map` is written once."""

    def __init__(self, program: Program, model: CostModel, ask: Ask,
                 emit: Callable[[Event], None] | None = None) -> None:
        self.program, self.model, self.ask = program, model, ask
        self._emit_to = emit
        ty = program.typing
        # Grown with every accepted body, so the evaluator finds the types of the body's leaves.
        self.leaf_types: dict[int, t.Type] = dict(ty.leaf_types)
        self.hole_types: dict[int, t.Type] = dict(ty.hole_types)
        self.hole_scopes: dict[int, dict[str, t.Scheme]] = dict(ty.hole_scopes)
        self.signatures = [c.signature for c in program.library.combinators.values()]
        self._bodies: dict[tuple[int, int], Body] = {}
        self._locks: dict[tuple[int, int], asyncio.Lock] = {}
        self._ids = itertools.count(1)

    async def fill(self, hole: s.Hole, env: Mapping[str, Any], globals_: Mapping[str, Any],
                   evaluate: Evaluate) -> Any:
        """The value of `hole` in `env`: write (or reuse) its body, then evaluate it there."""
        parent = _FRAME.get()
        frame = Frame(next(self._ids), hole.name, 1 if parent is None else parent.depth + 1, parent)
        self._emit(events.HoleStart(hole=frame.id, name=frame.name, depth=frame.depth,
                                    type=t.show(self.hole_types[id(hole)]),
                                    parent=None if parent is None else parent.id, at=hole.span.location()))
        token = _FRAME.set(frame)
        try:
            if frame.depth > self.model.holes.max_depth:  # the bound refuses this first; a guard
                raise HoleError(f"the hole ?{hole.name} would be written at depth {frame.depth}, deeper than "
                                f"the limit of {self.model.holes.max_depth}", hole.span)
            body = await self._body(hole, frame, env, globals_)
            value = await evaluate(body.expr, env)
        except LambdaError as err:
            self._end(frame, ok=False, error=f"{err.kind}: {err.message}")
            raise
        finally:
            _FRAME.reset(token)
        self._end(frame, ok=True)
        return value

    @contextlib.contextmanager
    def frame(self, name: str) -> Iterator[Frame]:
        """A frame for work other than a hole (a graph's node, lambda_rlm/graph.py): the calls made inside
        are counted for it and its ancestors, and the events inside are tagged with its id, as for a hole.
        It is no deeper than the frame around it, since no hole is written at its level."""
        parent = _FRAME.get()
        frame = Frame(next(self._ids), name, 0 if parent is None else parent.depth, parent)
        token = _FRAME.set(frame)
        try:
            yield frame
        finally:
            _FRAME.reset(token)

    def emit(self, event: Event) -> None:
        """Send an event to the run's trace as it is (no tag is added)."""
        if self._emit_to is not None:
            self._emit_to(event)

    # -------------------------------------------------------------- writing

    async def _body(self, hole: s.Hole, frame: Frame, env: Mapping[str, Any], globals_: Mapping[str, Any]) -> Body:
        key = (id(hole), frame.depth)
        async with self._locks.setdefault(key, asyncio.Lock()):  # held while writing, never while evaluating
            known = self._bodies.get(key)
            if known is not None:
                try:
                    calls = self._bound(hole, known.expr, known.typing, frame.depth, env, globals_)
                    self._emit(events.HoleBody(hole=frame.id, name=frame.name, depth=frame.depth,
                                               source=known.source, bound_calls=calls, reused=True))
                    return known
                except LambdaError:
                    pass  # too costly for these values: ask again (the cache answers the first ask)
            body = await self._write(hole, frame, env, globals_)
            self._bodies[key] = body
            self.leaf_types.update(body.typing.leaf_types)
            self.hole_types.update(body.typing.hole_types)
            self.hole_scopes.update(body.typing.hole_scopes)
            return body

    async def _write(self, hole: s.Hole, frame: Frame, env: Mapping[str, Any], globals_: Mapping[str, Any]) -> Body:
        ty = self.hole_types[id(hole)]
        base = holes.writer_prompt(hole, ty, self.hole_scopes[id(hole)], self.signatures, frame.depth, self.model.holes)
        prompt, last = base, None
        for attempt in range(1, holes.writer_calls(self.model.holes) + 1):
            reply = await self.ask(prompt, hole)
            try:
                body = self._accept(hole, reply, frame.depth, env, globals_)
            except LambdaError as err:
                last = err
                diagnostic = holes.cap(err.format())
                self._emit(events.HoleRetry(hole=frame.id, name=frame.name, depth=frame.depth, attempt=attempt,
                                            kind=err.kind, diagnostic=diagnostic))
                prompt = holes.reask_prompt(base, reply, diagnostic)
                continue
            self._emit(events.HoleBody(hole=frame.id, name=frame.name, depth=frame.depth, source=body.source,
                                       bound_calls=body.calls, reused=False, attempt=attempt))
            return body
        assert last is not None
        attempts = holes.writer_calls(self.model.holes)
        raise HoleError(f"the model wrote no acceptable body for ?{hole.name} in {attempts} "
                        f"attempts; the last was rejected with {last.kind}: {last.message}", hole.span,
                        ["the last diagnostic:", *last.format().splitlines()])

    def _accept(self, hole: s.Hole, reply: str, depth: int, env: Mapping[str, Any],
                globals_: Mapping[str, Any]) -> Body:
        """Parse, type-check and bound one reply; raises the project's errors, spans into the body."""
        source = holes.strip_fence(reply)
        expr = parse_expr(source, f"<hole ?{hole.name}>")
        typing = self._check(hole, expr)
        calls = self._bound(hole, expr, typing, depth, env, globals_)
        return Body(source, expr, typing, calls)

    # -------------------------------------------------------------- checking

    def _check(self, hole: s.Hole, expr: s.Expr) -> Typing:
        """Type-check a body against the hole's type, seeing exactly the library and the hole's names."""
        scope = self.hole_scopes[id(hole)]
        ck = Checker()
        # Scheme variables of the program's checker must not collide with this checker's fresh ones.
        ck.counter = max((v for sc in scope.values() for v in (*sc.vars, *t.free_vars(sc.type))), default=0)
        env: dict[str, t.Scheme] = {}
        for c in self.program.library.combinators.values():
            env[c.name] = scheme_of_signature(ck, parse_signature(c.signature, f"<combinator {c.name}>"))
        for name, sc in scope.items():
            env[name] = sc
            if not set(t.free_vars(sc.type)) - set(sc.vars):
                ck.closed.add(id(sc))
        typing = Typing()
        check_definition(ck, s.Def(f"?{hole.name}", (), hole.type, expr, expr.span), env, typing)
        return typing

    def _bound(self, hole: s.Hole, expr: s.Expr, typing: Typing, depth: int, env: Mapping[str, Any],
               globals_: Mapping[str, Any]) -> int:
        """The body's calls on these very values; a CostError unless it fits the hole's allowance."""
        m = self.model
        scopes: ChainMap[int, dict[str, t.Scheme]] = ChainMap(typing.hole_scopes, self.hole_scopes)
        an = Analyser(m, ChainMap(typing.leaf_types, self.leaf_types), self.program.library.combinators,
                      ChainMap(typing.hole_types, self.hole_types), scopes, hole_depth=depth + 1)
        scope = self.hole_scopes[id(hole)]
        aenv = self._sizes(an, scope, env, globals_)
        value, cost = an.measure(lambda: an.evaluate(expr, aenv))
        check_window(cost.leaves, m)
        limit = holes.body_calls(m.holes, depth)
        if cost.calls > limit:
            raise CostError(f"this expression may make up to {cost.calls} model calls, more than the {limit} "
                            f"a hole at depth {depth} may make", expr.span,
                            ["make fewer llm calls: read fewer or larger chunks, or use one call"])
        if cost.depth > 0:
            raise CostError("this expression recurses through divide, which a hole's body may not do", expr.span)
        reach = holes.reach(m.holes, m.output_tokens, depth, (aenv[n] for n in scope))
        if not holes.fits(value, a.of_type(self.hole_types[id(hole)], reach)):
            raise CostError(f"this expression's value may be larger than {reach} tokens, the most a hole's "
                            "value may hold (one reply, or the largest value it may use)", expr.span)
        return cost.calls

    def _sizes(self, an: Analyser, scope: Mapping[str, t.Scheme], env: Mapping[str, Any],
               globals_: Mapping[str, Any]) -> dict[str, a.AValue]:
        """The sizes a body sees: the library and definitions as the analysis has them, locals measured."""
        aenv: dict[str, a.AValue] = {n: an.primitive(c) for n, c in self.program.library.combinators.items()}
        for d in self.program.defs:
            aenv[d.name] = _definition_size(an, d, aenv)
        for name, sc in scope.items():
            if name not in env and name in aenv:  # a global: environments hold only locals
                continue
            aenv[name] = size_of(env[name] if name in env else globals_[name], sc.type, self.model.count)
        return aenv

    # -------------------------------------------------------------- trace

    def _emit(self, event: events.Event) -> None:
        if self._emit_to is not None:
            self._emit_to(event)

    def _end(self, frame: Frame, ok: bool, error: str | None = None) -> None:
        self._emit(events.HoleEnd(hole=frame.id, name=frame.name, depth=frame.depth, ok=ok, calls=frame.calls,
                                  prompt_tokens=frame.prompt_tokens, completion_tokens=frame.completion_tokens,
                                  cost_usd=frame.cost_usd, error=error))


def _definition_size(an: Analyser, d: s.Def, aenv: Mapping[str, a.AValue]) -> a.AValue:
    """A definition's size; its own cost was paid when the program started, not by the body."""
    try:
        value, _ = an.measure(lambda: an.evaluate(d.as_expr(), aenv))
    except CostError:
        return a.TOP
    return value


def size_of(v: Any, ty: t.Type, count: Callable[[str], int]) -> a.AValue:
    """The size of a run-time value of type `ty`, in the analysis' terms."""
    match ty:
        case t.TCon("Text"):
            return a.Text(count(v))
        case t.TCon("Int") | t.TCon("Float"):
            return a.Num.exactly(v)
        case t.TCon("Bool"):
            return a.Bool(bool(v))
        case t.TCon("Option", (inner,)):
            return a.Opt(size_of(v.value, inner, count) if isinstance(v, Some) else a.of_type(inner, 0))
        case t.TCon("List", (inner,)):
            elem = a.of_type(inner, 0)
            for x in v:
                elem = a.join(elem, size_of(x, inner, count))
            return a.Lst(len(v), elem)
        case t.TRecord(fields):
            return a.Rec(tuple((n, size_of(v[n], ft, count)) for n, ft in fields))
        case t.TTuple(items):
            return a.Tup(tuple(size_of(x, it, count) for x, it in zip(v, items, strict=True)))
    return a.TOP
