"""List, option and tuple combinators: decorated functions with signatures, implementations and size semantics.

Text combinators are in `text.py`, recursion and failure in `recursion.py`.
Runtime values follow lambda_rlm.core.values: lists are tuples, `Option a` is None or Some(v).
Functions passed in from programs are async callables: `await f(x)`.
Each `abstract` receives the cost analyser `an` and sizes (lambda_rlm.absdomain) and charges
the worst-case neural cost of what the combinator will do with its function arguments.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from lambda_rlm.analysis import absdomain as a
from lambda_rlm.core.errors import EvalError
from lambda_rlm.core.registry import combinator
from lambda_rlm.core.values import Some
from lambda_rlm.runtime.evaluator import may_wait, together

Fn = Callable[[Any], Awaitable[Any]]


async def _map(f: Fn, xs: tuple[Any, ...]) -> tuple[Any, ...]:
    """f over xs: concurrently when f may call the model, else one item after another (no task each)."""
    if not may_wait(f):
        return tuple([await f(x) for x in xs])
    return tuple(await together(f(x) for x in xs))


def _limit(v: a.AValue, default: int) -> tuple[int, int]:
    """(smallest, largest) value an Int argument may take, clamped to >= 1."""
    if isinstance(v, a.Num):
        lo = max(1, int(v.lo)) if v.lo is not None else 1
        hi = max(1, int(v.hi)) if v.hi is not None else default
        return lo, max(lo, hi)
    return 1, default


def _each(an: Any, f: a.AValue, xs: a.AValue) -> tuple[int | None, a.AValue]:
    """Charge `len(xs)` applications of f; give the length and the size of one result."""
    if not isinstance(xs, a.Lst):
        return None, a.TOP
    value, cost = an.call_measured(f, xs.elem)
    if cost.calls and xs.length is None:
        an.fail("this applies a model call to every item of a list whose length has no bound")
    an.charge(cost.times(xs.length or 0))
    return xs.length, value


# ------------------------------------------------------------------ lists


def _abs_map(an: Any, f: a.AValue, xs: a.AValue) -> a.AValue:
    n, v = _each(an, f, xs)
    return a.Lst(n, v)


@combinator("map : (a -> b) -> List a -> List b", abstract=_abs_map)
async def map_(f: Fn, xs: tuple[Any, ...]) -> tuple[Any, ...]:
    """f applied to every item; the applications run concurrently."""
    return await _map(f, xs)


def _abs_filter(an: Any, p: a.AValue, xs: a.AValue) -> a.AValue:
    _each(an, p, xs)
    return xs


@combinator("filter : (a -> Bool) -> List a -> List a", abstract=_abs_filter)
async def filter_(p: Fn, xs: tuple[Any, ...]) -> tuple[Any, ...]:
    """The items for which p holds, in order; p runs concurrently."""
    keep = await _map(p, xs)
    return tuple(x for x, k in zip(xs, keep, strict=True) if k)


def _abs_filter_map(an: Any, f: a.AValue, xs: a.AValue) -> a.AValue:
    n, v = _each(an, f, xs)
    return a.Lst(n, v.inner if isinstance(v, a.Opt) else a.TOP)


@combinator("filter_map : (a -> Option b) -> List a -> List b", abstract=_abs_filter_map)
async def filter_map(f: Fn, xs: tuple[Any, ...]) -> tuple[Any, ...]:
    """The present results of f over the items, in order."""
    return tuple(r.value for r in await _map(f, xs) if r is not None)


# A fold is followed exactly for this many steps; after that, sizes that still grow are widened.
EXACT_FOLD_STEPS = 64


def _abs_fold(an: Any, f: a.AValue, init: a.AValue, xs: a.AValue) -> a.AValue:
    if not isinstance(xs, a.Lst):
        return a.TOP
    acc, steps = init, xs.length
    if steps is None:
        value, cost = an.call_measured(f, init, xs.elem)
        if cost.calls:
            an.fail("this folds a model call over a list whose length has no bound")
        return a.join(init, value)
    for step in range(steps):
        nxt, cost = an.call_measured(f, acc, xs.elem)
        joined = a.join(acc, nxt)
        if step >= EXACT_FOLD_STEPS:
            joined = a.widen(acc, joined)  # give up the growing bounds, so a fixed point comes soon
        if joined == acc:  # a fixed point: every remaining step costs at most this and changes nothing
            an.charge(cost.times(steps - step))
            return acc
        an.charge(cost)
        acc = joined
    return acc


@combinator("fold : (b -> a -> b) -> b -> List a -> b", abstract=_abs_fold)
async def fold(f: Fn, init: Any, xs: tuple[Any, ...]) -> Any:
    """Left fold: f (f (f init x1) x2) x3 …"""
    acc = init
    for x in xs:
        acc = await (await f(acc))(x)
    return acc


def _abs_reduce(an: Any, f: a.AValue, xs: a.AValue) -> a.AValue:
    if not isinstance(xs, a.Lst):
        return a.TOP
    return a.Opt(_abs_fold(an, f, xs.elem, a.Lst(None if xs.length is None else max(xs.length - 1, 0), xs.elem)))


@combinator("reduce : (a -> a -> a) -> List a -> Option a", abstract=_abs_reduce)
async def reduce(f: Fn, xs: tuple[Any, ...]) -> Some | None:
    """The items combined left to right with f, or none for an empty list."""
    if not xs:
        return None
    return Some(await fold(f, xs[0], xs[1:]))


@combinator("len : List a -> Int", size=lambda xs: a.Num(0, xs.length) if isinstance(xs, a.Lst) else a.Num(0))
def len_(xs: tuple[Any, ...]) -> int:
    return len(xs)


@combinator("first : List a -> Option a", size=lambda xs: a.Opt(xs.elem) if isinstance(xs, a.Lst) else a.TOP)
def first(xs: tuple[Any, ...]) -> Some | None:
    """The first item, or none."""
    return Some(xs[0]) if xs else None


def _abs_find(an: Any, p: a.AValue, xs: a.AValue) -> a.AValue:
    _each(an, p, xs)
    return a.Opt(xs.elem) if isinstance(xs, a.Lst) else a.TOP


@combinator("find : (a -> Bool) -> List a -> Option a", abstract=_abs_find)
async def find(p: Fn, xs: tuple[Any, ...]) -> Some | None:
    """The first item for which p holds (p runs on all items concurrently)."""
    for x, ok in zip(xs, await _map(p, xs), strict=True):
        if ok:
            return Some(x)
    return None


@combinator("best : (a -> Int) -> List a -> Option a", abstract=_abs_find)
async def best(score: Fn, xs: tuple[Any, ...]) -> Some | None:
    """The item with the highest score (the first of equals), or none for an empty list."""
    if not xs:
        return None
    scores = await _map(score, xs)
    return Some(xs[max(range(len(xs)), key=lambda i: (scores[i], -i))])


@combinator("count : (a -> Bool) -> List a -> Int", abstract=lambda an, p, xs: (
    _each(an, p, xs), a.Num(0, xs.length if isinstance(xs, a.Lst) else None))[1])
async def count(p: Fn, xs: tuple[Any, ...]) -> int:
    """How many items satisfy p."""
    return sum(1 for ok in await _map(p, xs) if ok)


def _abs_cross(an: Any, xs: a.AValue, ys: a.AValue) -> a.AValue:
    if isinstance(xs, a.Lst) and isinstance(ys, a.Lst):
        return a.Lst(a.mul_opt(xs.length, ys.length), a.Tup((xs.elem, ys.elem)))
    return a.TOP


@combinator("cross : List a -> List b -> List (a, b)", abstract=_abs_cross)
def cross(xs: tuple[Any, ...], ys: tuple[Any, ...]) -> tuple[Any, ...]:
    """Every pair (x, y), x from the first list and y from the second."""
    return tuple((x, y) for x in xs for y in ys)


def _abs_pairs(an: Any, xs: a.AValue) -> a.AValue:
    if isinstance(xs, a.Lst):
        n = xs.length
        return a.Lst(None if n is None else n * (n - 1) // 2, a.Tup((xs.elem, xs.elem)))
    return a.TOP


@combinator("pairs : List a -> List (a, a)", abstract=_abs_pairs)
def pairs(xs: tuple[Any, ...]) -> tuple[Any, ...]:
    """Every unordered pair of distinct positions (i < j)."""
    return tuple((xs[i], xs[j]) for i in range(len(xs)) for j in range(i + 1, len(xs)))


def _abs_zip(an: Any, xs: a.AValue, ys: a.AValue) -> a.AValue:
    if isinstance(xs, a.Lst) and isinstance(ys, a.Lst):
        n = xs.length if ys.length is None else ys.length if xs.length is None else min(xs.length, ys.length)
        return a.Lst(n, a.Tup((xs.elem, ys.elem)))
    return a.TOP


@combinator("zip : List a -> List b -> List (a, b)", abstract=_abs_zip)
def zip_(xs: tuple[Any, ...], ys: tuple[Any, ...]) -> tuple[Any, ...]:
    return tuple(zip(xs, ys, strict=False))


@combinator("unique : List a -> List a", size=lambda xs: xs)
def unique(xs: tuple[Any, ...]) -> tuple[Any, ...]:
    """The items without repeats, first occurrences kept in order."""
    # Hashing keeps this linear (a pairwise plan dedupes tens of thousands of records); values
    # holding functions are unhashable and fall back to comparison with the few seen so far.
    hashed: set[Any] = set()
    other: list[Any] = []
    kept: list[Any] = []
    for x in xs:
        try:
            if x in hashed:
                continue
            hashed.add(x)
        except TypeError:
            if x in other:
                continue
            other.append(x)
        kept.append(x)
    return tuple(kept)


@combinator("sort : List a -> List a", size=lambda xs: xs)
def sort(xs: tuple[Any, ...]) -> tuple[Any, ...]:
    """The items in ascending order."""
    try:
        return tuple(sorted(xs, key=_sort_key))
    except TypeError as exc:
        raise EvalError(f"these values cannot be ordered: {exc}") from None


def _sort_key(v: Any) -> Any:
    if isinstance(v, Some):
        return (1, _sort_key(v.value))
    if v is None:
        return (0,)
    if isinstance(v, tuple):
        return tuple(_sort_key(x) for x in v)
    return v


def _abs_take(an: Any, n: a.AValue, xs: a.AValue) -> a.AValue:
    if not isinstance(xs, a.Lst):
        return a.TOP
    hi = int(n.hi) if isinstance(n, a.Num) and n.hi is not None else None
    return a.Lst(hi if xs.length is None else xs.length if hi is None else max(0, min(hi, xs.length)), xs.elem)


@combinator("take : Int -> List a -> List a", abstract=_abs_take)
def take(n: int, xs: tuple[Any, ...]) -> tuple[Any, ...]:
    """The first n items."""
    return xs[: max(0, n)]


def _abs_batches(an: Any, k: a.AValue, xs: a.AValue) -> a.AValue:
    lo = int(k.lo) if isinstance(k, a.Num) and k.lo is not None and k.lo >= 1 else 1
    hi = int(k.hi) if isinstance(k, a.Num) and k.hi is not None else None
    if not isinstance(xs, a.Lst):
        return a.TOP
    if xs.length is None:
        return a.Lst(None, a.Lst(hi, xs.elem))
    size = xs.length if hi is None else min(hi, xs.length)
    return a.Lst(-(-xs.length // lo), a.Lst(size, xs.elem))


@combinator("batches : Int -> List a -> List (List a)", abstract=_abs_batches)
def batches(k: int, xs: tuple[Any, ...]) -> tuple[tuple[Any, ...], ...]:
    """The items in order, in consecutive groups of k (the last may be smaller)."""
    if k < 1:
        raise EvalError(f"batches needs groups of at least 1 item, given {k}")
    return tuple(xs[i : i + k] for i in range(0, len(xs), k))


def _abs_flatten(an: Any, xss: a.AValue) -> a.AValue:
    if isinstance(xss, a.Lst) and isinstance(xss.elem, a.Lst):
        return a.Lst(a.mul_opt(xss.length, xss.elem.length), xss.elem.elem)
    return a.TOP


@combinator("flatten : List (List a) -> List a", abstract=_abs_flatten)
def flatten(xss: tuple[tuple[Any, ...], ...]) -> tuple[Any, ...]:
    return tuple(x for xs in xss for x in xs)


def _abs_counts(an: Any, xs: a.AValue) -> a.AValue:
    return a.Lst(xs.length, a.Tup((xs.elem, a.Num(1, xs.length)))) if isinstance(xs, a.Lst) else a.TOP


@combinator("counts : List a -> List (a, Int)", abstract=_abs_counts)
def counts(xs: tuple[Any, ...]) -> tuple[tuple[Any, int], ...]:
    """How often each value occurs (texts, numbers, pairs, records …: every value compares), most
    frequent first (ties in order of first occurrence)."""
    tally: dict[Any, int] = {}
    for x in xs:
        tally[x] = tally.get(x, 0) + 1
    return tuple(sorted(tally.items(), key=lambda kv: -kv[1]))


def _abs_merge_counts(an: Any, xss: a.AValue) -> a.AValue:
    if isinstance(xss, a.Lst) and isinstance(xss.elem, a.Lst):
        return a.Lst(a.mul_opt(xss.length, xss.elem.length), a.Tup((a.Text(None), a.Num(0))) if not
                     isinstance(xss.elem.elem, a.Tup) else a.Tup((xss.elem.elem.items[0], a.Num(0))))
    return a.TOP


@combinator("merge_counts : List (List (a, Int)) -> List (a, Int)", abstract=_abs_merge_counts)
def merge_counts(xss: tuple[tuple[tuple[Any, int], ...], ...]) -> tuple[tuple[Any, int], ...]:
    """Sum the counts of equal keys across lists, most frequent first."""
    tally: dict[Any, int] = {}
    for xs in xss:
        for key, n in xs:
            tally[key] = tally.get(key, 0) + n
    return tuple(sorted(tally.items(), key=lambda kv: -kv[1]))


# ------------------------------------------------------------------ options, tuples


@combinator("some : a -> Option a", size=lambda v: a.Opt(v))
def some(v: Any) -> Some:
    return Some(v)


@combinator("default : a -> Option a -> a", size=lambda d, o: a.join(d, o.inner) if isinstance(o, a.Opt) else d)
def default(d: Any, o: Some | None) -> Any:
    """The value inside an option, or `d` when it is none."""
    return d if o is None else o.value


@combinator("is_some : Option a -> Bool", size=lambda o: a.Bool())
def is_some(o: Some | None) -> bool:
    return o is not None


@combinator("fst : (a, b) -> a", size=lambda p: p.items[0] if isinstance(p, a.Tup) else a.TOP)
def fst(p: tuple[Any, Any]) -> Any:
    return p[0]


@combinator("snd : (a, b) -> b", size=lambda p: p.items[1] if isinstance(p, a.Tup) else a.TOP)
def snd(p: tuple[Any, Any]) -> Any:
    return p[1]
