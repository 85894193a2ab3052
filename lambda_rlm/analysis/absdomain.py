"""The abstract domain of the cost analysis: sizes of values (token bounds, list lengths, intervals) and costs."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from lambda_rlm.core import types as t
from lambda_rlm.core.source import Span


@dataclass(frozen=True, slots=True)
class Num:
    """An Int or Float known to lie in [lo, hi]; None is unbounded."""

    lo: float | None = None
    hi: float | None = None

    @staticmethod
    def exactly(v: float) -> Num:
        return Num(v, v)

    @property
    def value(self) -> float | None:
        return self.lo if self.lo is not None and self.lo == self.hi else None


@dataclass(frozen=True, slots=True)
class Bool:
    value: bool | None = None


@dataclass(frozen=True, slots=True)
class Text:
    """A Text of at most `tokens` tokens (None: no bound known). For a document given to the run, also
    its number of `records` and the most bytes in one (`widest`) when known (text.records.extent)."""

    tokens: int | None
    records: int | None = None
    widest: int | None = None


@dataclass(frozen=True, slots=True)
class Lst:
    length: int | None
    elem: AValue


@dataclass(frozen=True, slots=True)
class Opt:
    inner: AValue


@dataclass(frozen=True, slots=True)
class Rec:
    fields: tuple[tuple[str, AValue], ...]

    def get(self, name: str) -> AValue:
        for n, v in self.fields:
            if n == name:
                return v
        return TOP


@dataclass(frozen=True, slots=True)
class Tup:
    items: tuple[AValue, ...]


@dataclass(frozen=True, slots=True)
class Top:
    """Nothing known (also the size of values the analysis does not track)."""


@dataclass(frozen=True, slots=True, eq=False)
class Fun:
    """A function over sizes; applying it adds its cost to the analyser's current account."""

    apply: Callable[[Any, AValue], AValue]
    name: str = "<function>"


AValue = Num | Bool | Text | Lst | Opt | Rec | Tup | Top | Fun
TOP = Top()


@dataclass(frozen=True, slots=True)
class Leaf:
    """One leaf site with its worst-case prompt."""

    span: Span
    prompt_tokens: int
    output_tokens: int
    type: str


@dataclass(frozen=True, slots=True)
class Cost:
    """Worst-case neural cost of evaluating something."""

    calls: int = 0
    prompt_tokens: int = 0
    max_prompt: int = 0
    depth: int = 0
    leaves: tuple[Leaf, ...] = field(default=(), compare=False)

    def __add__(self, o: Cost) -> Cost:
        return Cost(self.calls + o.calls, self.prompt_tokens + o.prompt_tokens,
                    max(self.max_prompt, o.max_prompt), max(self.depth, o.depth), _merge(self.leaves, o.leaves))

    def times(self, n: int) -> Cost:
        if n <= 0:
            return Cost(leaves=self.leaves)
        return Cost(self.calls * n, self.prompt_tokens * n, self.max_prompt, self.depth, self.leaves)

    def join(self, o: Cost) -> Cost:
        """Either one or the other happens: the componentwise maximum."""
        return Cost(max(self.calls, o.calls), max(self.prompt_tokens, o.prompt_tokens),
                    max(self.max_prompt, o.max_prompt), max(self.depth, o.depth), _merge(self.leaves, o.leaves))

    def deeper(self, levels: int) -> Cost:
        return Cost(self.calls, self.prompt_tokens, self.max_prompt, self.depth + levels, self.leaves)


def _merge(a: tuple[Leaf, ...], b: tuple[Leaf, ...]) -> tuple[Leaf, ...]:
    if not b:
        return a
    if not a:
        return b
    best: dict[tuple[str, int], Leaf] = {}
    for leaf in (*a, *b):
        key = (leaf.span.source.name, leaf.span.start)
        if key not in best or leaf.prompt_tokens > best[key].prompt_tokens:
            best[key] = leaf
    return tuple(best.values())


def add_opt(a: int | None, b: int | None) -> int | None:
    return None if a is None or b is None else a + b


def mul_opt(a: int | None, b: int | None) -> int | None:
    return None if a is None or b is None else a * b


def max_opt(a: int | None, b: int | None) -> int | None:
    return None if a is None or b is None else max(a, b)


def join(a: AValue, b: AValue) -> AValue:
    """The least size that covers both (used where either branch may be taken)."""
    match a, b:
        case Num(l1, h1), Num(l2, h2):
            lo = None if l1 is None or l2 is None else min(l1, l2)
            return Num(lo, None if h1 is None or h2 is None else max(h1, h2))
        case Bool(v1), Bool(v2):
            return Bool(v1 if v1 == v2 else None)
        case Text(t1), Text(t2):
            return Text(max_opt(t1, t2))
        case Lst(l1, e1), Lst(l2, e2):
            return Lst(max_opt(l1, l2), join(e1, e2))
        case Opt(i1), Opt(i2):
            return Opt(join(i1, i2))
        case Rec(f1), Rec(f2) if [n for n, _ in f1] == [n for n, _ in f2]:
            return Rec(tuple((n, join(x, y)) for (n, x), (_, y) in zip(f1, f2, strict=True)))
        case Tup(i1), Tup(i2) if len(i1) == len(i2):
            return Tup(tuple(join(x, y) for x, y in zip(i1, i2, strict=True)))
        case Fun(), Fun():
            return a if a is b else Fun(_either(a, b), "<either>")
    return TOP


def widen(old: AValue, new: AValue) -> AValue:
    """`new`, with every bound that grew since `old` dropped (the analysis then reaches a fixed point)."""
    match old, new:
        case Num(l1, h1), Num(l2, h2):
            lo = l2 if l1 is not None and l2 is not None and l2 >= l1 else None
            hi = h2 if h1 is not None and h2 is not None and h2 <= h1 else None
            return Num(lo, hi)
        case Text(t1), Text(t2):
            return new if t1 is not None and t2 is not None and t2 <= t1 else Text(None)
        case Lst(l1, e1), Lst(l2, e2):
            return Lst(l2 if l1 is not None and l2 is not None and l2 <= l1 else None, widen(e1, e2))
        case Opt(i1), Opt(i2):
            return Opt(widen(i1, i2))
        case Rec(f1), Rec(f2) if [n for n, _ in f1] == [n for n, _ in f2]:
            return Rec(tuple((n, widen(x, y)) for (n, x), (_, y) in zip(f1, f2, strict=True)))
        case Tup(i1), Tup(i2) if len(i1) == len(i2):
            return Tup(tuple(widen(x, y) for x, y in zip(i1, i2, strict=True)))
    return new


def _either(f: Fun, g: Fun) -> Callable[[Any, AValue], AValue]:
    """Apply whichever of two functions is the worse: charge the larger cost, give the joined size."""
    def apply(an: Any, x: AValue) -> AValue:
        value, cost = an.branch(lambda: f.apply(an, x), lambda: g.apply(an, x))
        an.charge(cost)
        joined: AValue = value
        return joined
    return apply


def of_type(ty: t.Type, text_tokens: int | None) -> AValue:
    """The size of any value of a type whose texts are at most `text_tokens` (and lists no longer)."""
    match ty:
        case t.TCon("Text"):
            return Text(text_tokens)
        case t.TCon("Int") | t.TCon("Float"):
            return Num()
        case t.TCon("Bool"):
            return Bool()
        case t.TCon("Option", (inner,)):
            return Opt(of_type(inner, text_tokens))
        case t.TCon("List", (inner,)):
            return Lst(text_tokens, of_type(inner, text_tokens))
        case t.TRecord(fields):
            return Rec(tuple((n, of_type(f, text_tokens)) for n, f in fields))
        case t.TTuple(items):
            return Tup(tuple(of_type(x, text_tokens) for x in items))
    return TOP


# Worst-case tokens of a number or boolean rendered into text (cl100k groups digits by three).
NUMBER_TOKENS, BOOL_TOKENS = 12, 1


def rendered_tokens(v: AValue, nested: bool = False) -> int | None:
    """Upper bound on the tokens of a value rendered into a prompt (values.render), None if unbounded.

    Text stands for itself at the top; inside a list, record or tuple it is a JSON string,
    whose quotes and escapes (of quotes, backslashes and line breaks) are counted as doubling it.
    Texts full of other control characters (JSON writes them as \\u00XX) can exceed this; a
    provider then refuses the prompt as too long and the leaf fails: it is never truncated.
    """
    match v:
        case Text(n):
            return None if n is None else (2 * n + 2 if nested else n)
        case Num():
            return NUMBER_TOKENS
        case Bool():
            return BOOL_TOKENS
        case Opt(inner):
            r = rendered_tokens(inner, nested)
            return None if r is None else max(r, 1)
        case Lst(n, elem):
            r = rendered_tokens(elem, True)
            return None if n is None or r is None else 2 + n * (r + 3)
        case Rec(fields):
            total = 2
            for name, f in fields:
                r = rendered_tokens(f, True)
                if r is None:
                    return None
                total += r + len(name) + 4
            return total
        case Tup(items):
            total = 2
            for x in items:
                r = rendered_tokens(x, True)
                if r is None:
                    return None
                total += r + 3
            return total
    return None
