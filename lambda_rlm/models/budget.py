"""Run budgets: takes limits on requests, tokens, dollars and time, gives reservations within them.

Every provider request first reserves its worst case (one request, the prompt estimate plus the
output cap in tokens, the matching cost) and settles with the actual usage afterwards. A
reservation that would take any total past its limit is refused with `BudgetRefusal`, so the
limits hold even while many requests are in flight. All methods are synchronous and guarded by
a lock, which makes a `Budget` safe to share between tasks of one event loop and between threads.
"""

from __future__ import annotations

import itertools
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, replace

from lambda_rlm.core.errors import BudgetRefusal as BudgetRefusal

# Float sums of dollar figures drift; a reservation that lands within this of the limit fits.
_USD_SLACK = 1e-12


@dataclass(frozen=True, slots=True)
class Counters:
    """A snapshot of what a run has spent.

    `calls` counts leaves answered (from the provider or the cache), `requests` counts provider
    requests sent (every retry and re-ask included); `max_calls` limits `requests`.
    """

    calls: int = 0
    requests: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cost_usd: float = 0.0
    cache_hits: int = 0
    retries: int = 0
    reasks: int = 0

    @property
    def tokens(self) -> int:
        return self.prompt_tokens + self.completion_tokens


@dataclass(frozen=True, slots=True)
class Reservation:
    """The worst case held for one request until it is settled."""

    id: int
    tokens: int
    cost_usd: float


class Budget:
    """Limits (None = unlimited) and the running totals checked against them.

    `deadline` is an absolute `time.monotonic()` value; `Budget.within(seconds)` builds one.
    """

    def __init__(
        self,
        max_calls: int | None = None,
        max_tokens: int | None = None,
        max_usd: float | None = None,
        deadline: float | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.max_calls = max_calls
        self.max_tokens = max_tokens
        self.max_usd = max_usd
        self.deadline = deadline
        self._clock = clock
        self._lock = threading.Lock()
        self._ids = itertools.count(1)
        self._open: dict[int, Reservation] = {}
        self._counters = Counters()
        self._held_requests = 0
        self._held_tokens = 0
        self._held_usd = 0.0

    @classmethod
    def within(
        cls,
        seconds: float,
        max_calls: int | None = None,
        max_tokens: int | None = None,
        max_usd: float | None = None,
    ) -> Budget:
        """A budget whose deadline is `seconds` from now."""
        return cls(max_calls, max_tokens, max_usd, deadline=time.monotonic() + seconds)

    def remaining_s(self) -> float | None:
        """Seconds left before the deadline (negative once passed), or None without one."""
        return None if self.deadline is None else self.deadline - self._clock()

    def reserve(self, tokens: int, cost_usd: float) -> Reservation:
        """Hold one request, `tokens` tokens and `cost_usd` dollars, or raise `BudgetRefusal`."""
        with self._lock:
            self._check(tokens, cost_usd)
            reservation = Reservation(next(self._ids), tokens, cost_usd)
            self._open[reservation.id] = reservation
            self._held_requests += 1
            self._held_tokens += tokens
            self._held_usd += cost_usd
            return reservation

    def settle(
        self,
        reservation: Reservation,
        prompt_tokens: int,
        completion_tokens: int,
        cost_usd: float,
    ) -> None:
        """Replace a reservation by what the request actually used (the request itself counts)."""
        with self._lock:
            if self._open.pop(reservation.id, None) is None:
                raise ValueError(f"reservation {reservation.id} was already settled")
            self._held_requests -= 1
            self._held_tokens -= reservation.tokens
            self._held_usd -= reservation.cost_usd
            c = self._counters
            self._counters = replace(
                c,
                requests=c.requests + 1,
                prompt_tokens=c.prompt_tokens + prompt_tokens,
                completion_tokens=c.completion_tokens + completion_tokens,
                cost_usd=c.cost_usd + cost_usd,
            )

    def count(self, name: str, n: int = 1) -> None:
        """Add to a counter that no limit reads: calls, cache_hits, retries or reasks."""
        if name not in ("calls", "cache_hits", "retries", "reasks"):
            raise ValueError(f"no counter {name!r}")
        with self._lock:
            self._counters = replace(self._counters, **{name: getattr(self._counters, name) + n})

    def snapshot(self) -> Counters:
        with self._lock:
            return self._counters

    def _check(self, tokens: int, cost_usd: float) -> None:
        c = self._counters
        if self.deadline is not None and self._clock() >= self.deadline:
            late = self._clock() - self.deadline
            raise BudgetRefusal(
                "deadline", late, 0, 0, f"the deadline passed {late:.2f} s ago; no new LLM request"
            )
        if self.max_calls is not None and c.requests + self._held_requests + 1 > self.max_calls:
            used = c.requests + self._held_requests
            raise BudgetRefusal(
                "max_calls",
                used,
                1,
                self.max_calls,
                f"max_calls = {self.max_calls}: {used} LLM requests made or in flight, "
                "no room for one more",
            )
        if self.max_tokens is not None and c.tokens + self._held_tokens + tokens > self.max_tokens:
            used = c.tokens + self._held_tokens
            raise BudgetRefusal(
                "max_tokens",
                used,
                tokens,
                self.max_tokens,
                f"max_tokens = {self.max_tokens}: {used} tokens used or reserved, "
                f"the next request may need {tokens}",
            )
        if self.max_usd is not None and c.cost_usd + self._held_usd + cost_usd > (
            self.max_usd + _USD_SLACK
        ):
            used_usd = c.cost_usd + self._held_usd
            raise BudgetRefusal(
                "max_usd",
                used_usd,
                cost_usd,
                self.max_usd,
                f"max_usd = ${self.max_usd:.4f}: ${used_usd:.4f} spent or reserved, "
                f"the next request may cost up to ${cost_usd:.4f}",
            )
