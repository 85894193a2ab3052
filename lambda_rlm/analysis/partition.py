"""The partition rule: takes a program, the input size and the window, gives τ (leaf size) and k (fan-out).

The paper states three rules (k* = 2, k* = ⌈√(n·c_in/c⊕)⌉, k* = ⌈n/K⌉). We use the one whose
premises hold for this runtime:

* Leaves are where cost and risk are. With symbolic combination (⊕ costs nothing), the total
  prompt cost is n·c_in + (number of leaves)·(prompt overhead + output), so it falls as leaves
  grow; latency falls too, because all leaves of one level run concurrently. Hence
  **τ* = the largest leaf size for which every leaf prompt, as bounded by the static analysis,
  still fits the window with room for the output** (optionally capped by `max_leaf_tokens`, for
  small models whose accuracy drops on long leaves: A(n) = A₀·ρ^(n/K)).
* A second level of recursion only adds calls. Hence **k* = the smallest fan-out whose worst-case
  piece fits in τ***, i.e. min{k ≥ 2 : max_piece(n, k) ≤ τ*}: `divide` then recurses exactly
  once, and the bound counts the pieces `partition` really makes (its boundary slack included,
  which the reference code's splitter overshoots by up to 20%).

τ* is found by bisection on the static analysis itself, so it accounts for the real prompt
templates, interpolated questions and instruction overhead of the program at hand.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace

from lambda_rlm.core.errors import CostError
from lambda_rlm.text import chunking

from .cost import CostModel

MAX_BATCH = 1024  # records per labelling leaf when neither the window nor a profile says fewer


def fanout_for(n: int, tau: int) -> int:
    """The smallest k >= 2 whose worst-case piece of an n-token text has at most tau tokens."""
    if n <= tau:
        return 2
    lo, hi = 2, max(2, n)
    while lo < hi:
        mid = (lo + hi) // 2
        if chunking.max_piece(n, mid) <= tau:
            hi = mid
        else:
            lo = mid + 1
    return lo


def choose_batch(feasible: Callable[[CostModel], object], model: CostModel, cap: int | None = None) -> CostModel:
    """The cost model with the most records per labelling leaf (`batch`) whose prompt and reply still
    fit, at most `cap` (a model's profile: small models keep their place in few records)."""
    lo, hi, best = 1, cap or MAX_BATCH, 0
    last_error: CostError | None = None
    while lo <= hi:
        mid = (lo + hi) // 2
        try:
            feasible(replace(model, batch=mid))
            best, lo = mid, mid + 1
        except CostError as exc:
            last_error, hi = exc, mid - 1
    if best == 0:
        raise last_error or CostError("no batch of records fits one leaf")
    return replace(model, batch=best)


def choose(feasible: Callable[[CostModel], object], model: CostModel, n: int,
           max_leaf_tokens: int | None = None) -> CostModel:
    """The cost model with τ* and k* filled in (unchanged when the program does not use them)."""
    cap = min(model.window, max_leaf_tokens or model.window)
    lo, hi, best = 1, cap, 0
    last_error: CostError | None = None
    while lo <= hi:
        mid = (lo + hi) // 2
        try:
            feasible(replace(model, tau=mid, k=fanout_for(n, mid)))
            best, lo = mid, mid + 1
        except CostError as exc:
            last_error, hi = exc, mid - 1
    if best == 0:
        raise last_error or CostError(f"a window of {model.window} tokens leaves no room for a leaf")
    return replace(model, tau=best, k=fanout_for(n, best))

