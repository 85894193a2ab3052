"""Static cost bound: takes a checked program and input sizes, gives a Bound or a CostError.

The analysis is an abstract interpretation over sizes (absdomain.py): every value is replaced by
an upper bound on its size, every function by a function over sizes, and every `llm` leaf adds
one call whose prompt is bounded by the size of its text. There is no general recursion in the
language (typecheck + termination check), so the analysis itself always terminates.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, NoReturn

from lambda_rlm.core import types as t
from lambda_rlm.core.errors import ConfigError, CostError
from lambda_rlm.core.registry import Combinator
from lambda_rlm.core.source import Span
from lambda_rlm.lang import syntax as s

from . import absdomain as a
from . import holes

# Tokens the chat format adds around a prompt (role markers, separators), counted generously.
MESSAGE_OVERHEAD = 16
# Applications one analysis may follow before it gives up with a clear error: the shipped examples and
# plans take at most a few hundred (aggregate: 423), and a program whose calls double at each of 24 levels
# would take 2^24.
MAX_STEPS = 50_000


@dataclass(frozen=True, slots=True)
class Leaves:
    """Which leaves a run asks: how large a leaf may be and how many samples it takes, below what
    merely fits the window (a model's profile or the user sets them; None: as fits, and the
    profile's votes, else 1), and whether ranked reading may stop at the first piece that answers."""

    max_tokens: int | None = None  # tokens of document per leaf
    max_records: int | None = None  # records per labelling leaf
    votes: int | None = None  # samples per labelling leaf, majority per record
    read_all: bool = False  # `scan` reads every piece even after one answers (the exhaustive reading)

    def __post_init__(self) -> None:
        if self.votes is not None and not 1 <= self.votes <= 16:
            raise ConfigError(f"label_votes must be from 1 to 16, not {self.votes}")


@dataclass(frozen=True, slots=True)
class CostModel:
    """What the analysis assumes about the model: window, output limit and how prompts are framed."""

    window: int = 8192
    output_tokens: int = 512
    count: Callable[[str], int] = field(default=lambda text: len(text.encode("utf-8")), compare=False)
    instruction_tokens: Callable[[t.Type], int] = field(default=lambda ty: 64, compare=False)
    tau: int | None = None
    k: int | None = None
    batch: int | None = None  # records per labelling leaf (partition.choose_batch)
    votes: int = 1  # samples per labelling leaf (a model's profile)
    holes: holes.HoleLimits = holes.HoleLimits()  # holes in programs are at depth 1, in their bodies at 2, ...


@dataclass(frozen=True, slots=True)
class Bound:
    """The worst case of one run, computed before any call."""

    calls: int
    depth: int
    max_prompt_tokens: int
    total_prompt_tokens: int
    max_output_tokens: int
    window: int
    input_tokens: int
    leaves: tuple[a.Leaf, ...] = ()
    tau: int | None = None
    k: int | None = None
    batch: int | None = None

    @property
    def total_output_tokens(self) -> int:
        return self.calls * self.max_output_tokens

    def as_dict(self) -> dict[str, Any]:
        return {
            "calls": self.calls, "depth": self.depth, "max_prompt_tokens": self.max_prompt_tokens,
            "total_prompt_tokens": self.total_prompt_tokens, "max_output_tokens": self.max_output_tokens,
            "window": self.window, "input_tokens": self.input_tokens, "tau": self.tau, "k": self.k, "batch": self.batch,
        }


class Analyser:
    """Abstract evaluation over sizes with a running account of neural cost."""

    def __init__(self, model: CostModel, leaf_types: Mapping[int, t.Type],
                 combinators: Mapping[str, Combinator], hole_types: Mapping[int, t.Type] | None = None,
                 hole_scopes: Mapping[int, Mapping[str, t.Scheme]] | None = None, hole_depth: int = 1) -> None:
        self.model = model
        self.leaf_types = leaf_types
        self.combinators = combinators
        self.hole_types = hole_types or {}
        self.hole_scopes = hole_scopes or {}
        self.hole_depth = hole_depth  # the depth at which the holes this analysis meets are expanded
        self.account = a.Cost()
        self.where: Span | None = None
        self._writer_tokens: dict[int, int] = {}
        self.steps = 0  # applications analysed so far: see MAX_STEPS

    def fail(self, message: str) -> NoReturn:
        """Reject the program at the application being analysed."""
        raise CostError(message, self.where)

    # -------------------------------------------------------------- accounting
    def charge(self, c: a.Cost) -> None:
        self.account = self.account + c

    def measure(self, thunk: Callable[[], a.AValue]) -> tuple[a.AValue, a.Cost]:
        """Evaluate `thunk` on a fresh account; return its value and cost (not charged)."""
        saved, self.account = self.account, a.Cost()
        try:
            value = thunk()
            return value, self.account
        finally:
            self.account = saved

    def branch(self, left: Callable[[], a.AValue], right: Callable[[], a.AValue]) -> tuple[a.AValue, a.Cost]:
        lv, lc = self.measure(left)
        rv, rc = self.measure(right)
        return a.join(lv, rv), lc.join(rc)

    def call(self, f: a.AValue, *args: a.AValue) -> a.AValue:
        """Apply a function over sizes to arguments, charging the current account."""
        self.steps += 1
        if self.steps > MAX_STEPS:
            self.fail(f"the bound's analysis gave up after {MAX_STEPS:,} applications: this program's calls "
                      "branch too much to be followed (a function that calls another twice, nested deeply?)")
        for arg in args:
            if not isinstance(f, a.Fun):
                # Sound by refusal: a function the analysis lost track of could call the model.
                self.fail("the cost of this call cannot be bounded: which function it calls is not known")
            assert isinstance(f, a.Fun)
            f = f.apply(self, arg)
        return f

    def call_measured(self, f: a.AValue, *args: a.AValue) -> tuple[a.AValue, a.Cost]:
        return self.measure(lambda: self.call(f, *args))

    # -------------------------------------------------------------- evaluation
    def evaluate(self, e: s.Expr, env: Mapping[str, a.AValue]) -> a.AValue:
        match e:
            case s.Var(name):
                return env[name]
            case s.IntLit(v):
                return a.Num.exactly(v)
            case s.FloatLit(v):
                return a.Num.exactly(v)
            case s.BoolLit(v):
                return a.Bool(v)
            case s.TextLit(parts):
                return self.text(parts, env)
            case s.ListLit(items):
                elem: a.AValue | None = None
                for item in items:
                    size = self.evaluate(item, env)
                    elem = size if elem is None else a.join(elem, size)
                return a.Lst(len(items), a.TOP if elem is None else elem)
            case s.RecordLit(fields):
                return a.Rec(tuple(sorted((n, self.evaluate(fe, env)) for n, fe in fields)))
            case s.TupleLit(items):
                return a.Tup(tuple(self.evaluate(x, env) for x in items))
            case s.Field(record, name):
                r = self.evaluate(record, env)
                return r.get(name) if isinstance(r, a.Rec) else a.TOP
            case s.Lam(params, body):
                return self.closure([p.name for p in params], body, env)
            case s.App(fn, arg):
                f, x = self.evaluate(fn, env), self.evaluate(arg, env)
                saved, self.where = self.where, e.span
                try:
                    return self.call(f, x)
                finally:
                    self.where = saved
            case s.Let(name, value, body):
                return self.evaluate(body, {**env, name: self.evaluate(value, env)})
            case s.If(cond, then, else_):
                c = self.evaluate(cond, env)
                if isinstance(c, a.Bool) and c.value is not None:
                    return self.evaluate(then if c.value else else_, env)
                joined, cost = self.branch(lambda: self.evaluate(then, env), lambda: self.evaluate(else_, env))
                self.charge(cost)
                return joined
            case s.BinOp(op, left, right):
                return self.binop(op, self.evaluate(left, env), self.evaluate(right, env))
            case s.UnOp(op, operand):
                o = self.evaluate(operand, env)
                if op == "not":
                    return a.Bool(None if not isinstance(o, a.Bool) or o.value is None else not o.value)
                if isinstance(o, a.Num):
                    return a.Num(None if o.hi is None else -o.hi, None if o.lo is None else -o.lo)
                return a.TOP
            case s.Annot(inner, _):
                return self.evaluate(inner, env)
            case s.Llm(prompt):
                return self.leaf(e, self.evaluate(prompt, env))
            case s.Hole():
                return self.hole(e, env)
        raise AssertionError(e)

    def closure(self, params: list[str], body: s.Expr, env: Mapping[str, a.AValue]) -> a.AValue:
        def apply(an: Analyser, arg: a.AValue) -> a.AValue:
            inner = {**env, params[0]: arg}
            return an.evaluate(body, inner) if len(params) == 1 else self.closure(params[1:], body, inner)
        return a.Fun(apply)

    def text(self, parts: tuple[str | s.Expr, ...], env: Mapping[str, a.AValue]) -> a.AValue:
        total: int | None = 0
        for part in parts:
            if isinstance(part, str):
                total = a.add_opt(total, self.model.count(part))
            else:
                total = a.add_opt(total, a.rendered_tokens(self.evaluate(part, env)))
                total = a.add_opt(total, 1)  # a boundary may split one token into two
        return a.Text(total)

    def binop(self, op: str, x: a.AValue, y: a.AValue) -> a.AValue:
        if op == "++":
            if isinstance(x, a.Text) and isinstance(y, a.Text):
                return a.Text(a.add_opt(a.add_opt(x.tokens, y.tokens), 1))
            if isinstance(x, a.Lst) and isinstance(y, a.Lst):
                return a.Lst(a.add_opt(x.length, y.length), a.join(x.elem, y.elem))
            return a.TOP
        if isinstance(x, a.Num) and isinstance(y, a.Num):
            return _num_op(op, x, y)
        if op in ("&&", "||") and isinstance(x, a.Bool) and isinstance(y, a.Bool):
            if x.value is not None and y.value is not None:
                return a.Bool(x.value and y.value if op == "&&" else x.value or y.value)
            if op == "&&" and False in (x.value, y.value):
                return a.Bool(False)
            if op == "||" and True in (x.value, y.value):
                return a.Bool(True)
        return a.Bool() if op in ("==", "!=", "<", "<=", ">", ">=", "&&", "||") else a.TOP

    def leaf(self, node: s.Llm, prompt: a.AValue) -> a.AValue:
        ty = self.leaf_types[id(node)]
        if not isinstance(prompt, a.Text) or prompt.tokens is None:
            raise CostError("the prompt of this llm call has no size bound", node.span,
                            ["its text depends on a value of unknown size; bound it with split, peek or take"])
        tokens = prompt.tokens + self.model.instruction_tokens(ty) + MESSAGE_OVERHEAD
        out = self.model.output_tokens
        leaf = a.Leaf(node.span, tokens, out, t.show(ty))
        self.charge(a.Cost(1, tokens, tokens, 0, (leaf,)))
        return a.of_type(ty, out)

    def hole(self, node: s.Hole, env: Mapping[str, a.AValue]) -> a.AValue:
        """A hole costs its allowance (holes.py) wherever it is evaluated; its value is no larger than
        one reply or the largest value it may use (expand.py refuses a body that would make it larger)."""
        m, depth = self.model, self.hole_depth
        if depth > m.holes.max_depth:
            raise CostError(f"this hole would be written at depth {depth}, deeper than the limit of "
                            f"{m.holes.max_depth}", node.span,
                            ["write the expression instead of a further hole"] if depth > 1 else
                            ["holes are turned off (max_hole_depth = 0)"])
        scope = self.hole_scopes.get(id(node), {})
        ty = self.hole_types[id(node)]
        writer = self.writer_tokens(node, ty, scope)
        w, b = holes.writer_calls(m.holes), holes.body_calls(m.holes, depth)
        body_prompt = m.window - m.output_tokens  # the most any leaf of a checked body can be sent
        leaf = a.Leaf(node.span, writer, m.output_tokens, f"writer of ?{node.name}")
        self.charge(a.Cost(w + b, w * writer + b * body_prompt, max(writer, body_prompt if b else 0), 0, (leaf,)))
        return a.of_type(ty, holes.reach(m.holes, m.output_tokens, depth, (env[n] for n in scope if n in env)))

    def writer_tokens(self, node: s.Hole, ty: t.Type, scope: Mapping[str, t.Scheme]) -> int:
        """The largest prompt the writer of this hole is sent: the ask, one rejected body (at most one
        reply) and its diagnostic (capped), with the Text leaf's instruction and the chat framing."""
        if id(node) not in self._writer_tokens:
            m = self.model
            signatures = [c.signature for c in self.combinators.values()]
            base = m.count(holes.writer_prompt(node, ty, scope, signatures, self.hole_depth, m.holes))
            reask = m.count(holes.reask_overhead()) + m.output_tokens + holes.DIAGNOSTIC_BYTES + 3
            reask = reask if m.holes.reasks else 0
            self._writer_tokens[id(node)] = base + reask + m.instruction_tokens(t.TEXT) + MESSAGE_OVERHEAD
        return self._writer_tokens[id(node)]

    # -------------------------------------------------------------- primitives
    def primitive(self, c: Combinator) -> a.AValue:
        """The size semantics of a combinator, curried like the combinator itself."""
        def run(args: list[a.AValue]) -> a.AValue:
            if c.abstract is not None:
                return c.abstract(self, *args)  # type: ignore[no-any-return]
            if c.size is not None:
                return c.size(*args)  # type: ignore[no-any-return]
            return a.TOP

        def curry(args: list[a.AValue]) -> a.AValue:
            if len(args) == c.arity:
                return run(args)
            return a.Fun(lambda an, x: curry([*args, x]), c.name)
        return curry([])


def _num_op(op: str, x: a.Num, y: a.Num) -> a.AValue:
    xv, yv = x.value, y.value
    if op in ("==", "!=", "<", "<=", ">", ">="):
        return a.Bool(_compare(op, x, y))
    if xv is not None and yv is not None:
        try:
            v = {"+": xv + yv, "-": xv - yv, "*": xv * yv,
                 "/": (xv // yv if isinstance(xv, int) and isinstance(yv, int) else xv / yv) if yv else None,
                 "%": xv % yv if yv else None}[op]
        except (OverflowError, ZeroDivisionError):
            v = None
        return a.Num.exactly(v) if v is not None else a.Num()
    if op == "+" and None not in (x.lo, y.lo, x.hi, y.hi):
        return a.Num(x.lo + y.lo, x.hi + y.hi)  # type: ignore[operator]
    if op == "-" and None not in (x.lo, y.lo, x.hi, y.hi):
        return a.Num(x.lo - y.hi, x.hi - y.lo)  # type: ignore[operator]
    if op in ("*", "/") and None not in (x.lo, x.hi) and yv is not None and yv > 0 and x.lo >= 0:  # type: ignore[operator]
        hi = x.hi * yv if op == "*" else x.hi / yv  # type: ignore[operator]
        lo = x.lo * yv if op == "*" else x.lo / yv  # type: ignore[operator]
        return a.Num(lo if op == "*" else int(lo), hi if op == "*" else -(-hi // 1))
    return a.Num()


def _compare(op: str, x: a.Num, y: a.Num) -> bool | None:
    """Decide a comparison from intervals when every value in them agrees."""
    def lt(p: a.Num, q: a.Num) -> bool | None:  # p < q ?
        if p.hi is not None and q.lo is not None and p.hi < q.lo:
            return True
        if p.lo is not None and q.hi is not None and p.lo >= q.hi:
            return False
        return None

    def le(p: a.Num, q: a.Num) -> bool | None:
        if p.hi is not None and q.lo is not None and p.hi <= q.lo:
            return True
        if p.lo is not None and q.hi is not None and p.lo > q.hi:
            return False
        return None

    match op:
        case "<":
            return lt(x, y)
        case "<=":
            return le(x, y)
        case ">":
            return lt(y, x)
        case ">=":
            return le(y, x)
        case "==":
            if x.value is not None and x.value == y.value:
                return True
            return False if lt(x, y) or lt(y, x) else None
        case "!=":
            eq = _compare("==", x, y)
            return None if eq is None else not eq
    return None


def check_window(bound_leaves: tuple[a.Leaf, ...], model: CostModel) -> None:
    """Reject a program where some leaf could exceed the window."""
    for leaf in sorted(bound_leaves, key=lambda lf: (lf.span.source.name, lf.span.start)):
        if leaf.prompt_tokens + leaf.output_tokens > model.window:
            raise CostError(
                f"this llm call can receive up to {leaf.prompt_tokens:,} prompt tokens plus "
                f"{leaf.output_tokens:,} output tokens, more than the window of {model.window:,}",
                leaf.span,
                ["split the text it reads into smaller chunks (split, peek, take) or use a larger window"])

