"""Recursion and failure: takes leaf and combine functions, gives divide (the paper's fixed point), recover, τ and k.

`divide`'s size function charges the whole recursion tree: depth from τ's smallest value, leaf
size from its largest, and at most k pieces a level.
"""

from __future__ import annotations

from typing import Any

from lambda_rlm.analysis import absdomain as a
from lambda_rlm.analysis.cost import Analyser
from lambda_rlm.core.errors import LeafError
from lambda_rlm.core.registry import combinator
from lambda_rlm.runtime.evaluator import together
from lambda_rlm.text import chunking

from .core import Fn, _limit

# ------------------------------------------------------------------ recursion and failure


def _abs_divide(an: Analyser, tau: a.AValue, k: a.AValue, leaf: a.AValue, combine: a.AValue,
                doc: a.AValue) -> a.AValue:
    if not isinstance(doc, a.Text) or doc.tokens is None:
        an.fail("divide needs a text whose size has a bound")
    # Recursion goes on while a piece is above τ, so depth follows τ's smallest value; a leaf
    # reads a piece of at most τ's largest value; a level makes at most k pieces, and never more
    # pieces than tokens.
    tau_lo, tau_hi = _limit(tau, doc.tokens)
    k_lo, k_hi = _limit(k, doc.tokens)
    k_lo, k_hi = max(2, k_lo), max(2, k_hi)
    sizes = [doc.tokens]
    while sizes[-1] > tau_lo:
        sizes.append(chunking.max_piece(sizes[-1], k_lo))
    value, cost = an.call_measured(leaf, a.Text(min(sizes[-1], tau_hi)))
    for level in range(len(sizes) - 2, -1, -1):
        fanout = min(k_hi, sizes[level])
        total = cost.times(fanout)
        acc = value
        for done in range(fanout - 1):
            nxt, c = an.call_measured(combine, acc, value)
            joined = a.join(acc, nxt)
            if joined == acc:  # a fixed point: every later combine sees these inputs, so costs c again
                total = total + c.times(fanout - 1 - done)
                break
            total, acc = total + c, joined
        leaf_value, leaf_cost = an.call_measured(leaf, a.Text(min(sizes[level], tau_hi)))
        value, cost = a.join(acc, leaf_value), total.join(leaf_cost).deeper(1)
    an.charge(cost)
    return value


@combinator("divide : Int -> Int -> (Text -> b) -> (b -> b -> b) -> Text -> b", abstract=_abs_divide)
async def divide(tau: int, k: int, leaf: Fn, combine: Fn, doc: str, *, ctx: Any) -> Any:
    """fix(λf.λP. if |P| ≤ τ then leaf P else fold combine (map f (partition P k))).

    Terminates because every piece of a text of n > τ ≥ 1 tokens has at most
    max_piece(n, k) < n tokens (k is raised to at least 2).
    """
    k = max(2, k)
    if ctx.tokenizer.count(doc) <= max(1, tau):
        return await leaf(doc)
    pieces = chunking.partition(doc, k, ctx.tokenizer)
    if len(pieces) == 1:  # one indivisible character longer than τ tokens: nothing left to cut
        return await leaf(pieces[0])
    results = await together(divide(tau, k, leaf, combine, p, ctx=ctx) for p in pieces)
    acc = results[0]
    for r in results[1:]:
        acc = await (await combine(acc))(r)
    return acc


def _abs_recover(an: Any, f: a.AValue, fallback: a.AValue, x: a.AValue) -> a.AValue:
    value = an.call(f, x)
    return a.join(value, fallback)


@combinator("recover : (a -> b) -> b -> a -> b", abstract=_abs_recover)
async def recover(f: Fn, fallback: Any, x: Any) -> Any:
    """f x, or `fallback` when a model call inside it fails for good (the failure is still traced)."""
    try:
        return await f(x)
    except LeafError:
        return fallback


@combinator("none : Option a", size=lambda: a.Opt(a.TOP))
def none() -> None:
    """The empty option."""
    return None


# ------------------------------------------------------------------ the partition rule


@combinator("tau : Int", abstract=lambda an: a.Num.exactly(an.model.tau) if an.model.tau else a.Num(1))
def tau(*, ctx: Any) -> int:
    """The leaf size chosen by the partition rule for this run's window (see lambda_rlm/partition.py)."""
    return int(ctx.tau or 0)  # 0 only when the program never asks for it


@combinator("fanout : Int", abstract=lambda an: a.Num.exactly(an.model.k) if an.model.k else a.Num(2))
def fanout(*, ctx: Any) -> int:
    """The fan-out chosen by the partition rule: the fewest pieces of at most `tau` tokens."""
    return int(ctx.k or 0)
