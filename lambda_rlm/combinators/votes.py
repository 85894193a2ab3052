"""Votes: take a function, its argument and a number n, give the majority of n samples of its value (n times its calls).

One reading by a small model is a sample, not a fact: asked again at a temperature above 0 it may
say something else, and the answer most samples agree on is right more often than any one of
them. `vote n f x` evaluates `f x` n times, concurrently, each as a sample of its own (every leaf
inside gets its own request and cache key, so a rerun resumes), and returns the most common
value. Sample 0 is the leaf as it would run without a vote (temperature 0), so ties go to it and
`vote 1 f x` is `f x`. `vote_each` votes position by position over a list, for leaves that return
one answer per item (`label_each`). `votes` is how many samples a model's profile asks for on a
labelling leaf (1 for a model whose labels are reliable).

The bound: n applications of f, each with the cost of one (n at most 16, here and at run time).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from lambda_rlm.analysis import absdomain as a
from lambda_rlm.core.registry import combinator
from lambda_rlm.runtime.evaluator import samples

from .search import majority

Fn = Callable[[Any], Awaitable[Any]]
MAX_VOTES = 16  # more samples than this buys little and multiplies the bound


def _abs_vote(an: Any, n: a.AValue, f: a.AValue, x: a.AValue) -> a.AValue:
    most = n.hi if isinstance(n, a.Num) and n.hi is not None else MAX_VOTES  # the run clamps n too
    value, cost = an.call_measured(f, x)
    an.charge(cost.times(_clamp(int(most))))
    result: a.AValue = value
    return result


def _clamp(n: int) -> int:
    return max(1, min(MAX_VOTES, n))


@combinator("vote : Int -> (a -> b) -> a -> b", abstract=_abs_vote)
async def vote(n: int, f: Fn, x: Any) -> Any:
    """The most common value of n samples of `f x` (n is kept within 1–16), ties going to sample 0."""
    values = await samples(_clamp(n), lambda: f(x))
    return majority(tuple(values)).value  # never empty: at least one sample


@combinator("vote_each : Int -> (a -> List b) -> a -> List b", abstract=_abs_vote)
async def vote_each(n: int, f: Fn, x: Any) -> tuple[Any, ...]:
    """Item by item, the most common item of n samples of the list `f x`, ties going to sample 0.
    Samples whose length differs from sample 0's do not vote."""
    first, *others = await samples(_clamp(n), lambda: f(x))
    voters = [first, *(o for o in others if len(o) == len(first))]
    return tuple(majority(tuple(v[i] for v in voters)).value for i in range(len(first)))


@combinator("votes : Int", abstract=lambda an: a.Num.exactly(_clamp(an.model.votes)))
def votes(*, ctx: Any) -> int:
    """Samples per labelling leaf: the model's profile says how many (1 where one sample is reliable)."""
    return _clamp(int(ctx.votes or 1))
