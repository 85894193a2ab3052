"""LLM leaves: takes a prompt and a declared result type, gives a decoded value through litellm.

Each leaf is a frozen `LeafRequest` (system message = the type's format rule, user message = the
prompt) whose hash keys the on-disk cache. On a miss the `Oracle` sends it with litellm (any
model string, or a litellm Router config file), retrying transient failures with tenacity and
re-asking replies that do not decode. Only the provider request holds a concurrency slot (never
a backoff sleep), and it reserves its worst case in the `Budget` before it leaves. litellm is
imported on the first request (by `backend`), never at import, and none of its exceptions
leaves this module.
"""

from __future__ import annotations

import asyncio
import functools
import random
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import tenacity

from lambda_rlm.core import events, values
from lambda_rlm.core import types as t
from lambda_rlm.core.errors import LambdaError, LeafError
from lambda_rlm.core.events import Event

from . import decode
from .backend import (
    Backend,
    CallTimeout,
    cached_tokens,
    from_provider,
    is_transient,
    redact,
    retry_after,
    scrub,
    status,
    translate,
    unpack,
)
from .budget import Budget, BudgetRefusal
from .cache import Entry, LeafCache
from .leaves import PROMPT_VERSION as PROMPT_VERSION
from .leaves import LeafRequest as LeafRequest
from .leaves import LeafResult as LeafResult
from .leaves import Param
from .settings import ModelSettings

MESSAGE_OVERHEAD_TOKENS = 4

Count = Callable[[str], int]


def estimate_tokens(text: str) -> int:
    """A cheap upper-leaning token estimate: one token per three bytes of UTF-8."""
    return len(text.encode()) // 3 + 1


@dataclass(frozen=True, slots=True)
class _Reply:
    text: str
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cost_usd: float = 0.0
    cached_tokens: int = 0  # of prompt_tokens, served from the provider's prompt cache

    def __add__(self, later: _Reply) -> _Reply:
        """The later reply's text with both replies' usage."""
        return _Reply(
            later.text,
            self.prompt_tokens + later.prompt_tokens,
            self.completion_tokens + later.completion_tokens,
            self.cost_usd + later.cost_usd,
            self.cached_tokens + later.cached_tokens,
        )


class Oracle:
    """Answers leaves for one run: cache, budget, retries, re-asks, concurrency and events."""

    def __init__(
        self,
        config: ModelSettings,
        budget: Budget | None = None,
        on_event: Callable[[Event], None] | None = None,
        count: Count = estimate_tokens,
        cache: LeafCache | None = None,
    ) -> None:
        self.config = config
        self.budget = budget if budget is not None else Budget()
        self._on_event = on_event
        # Each prompt is counted for the leaf_start event and again for the budget, and each
        # system message is one of a handful of constants: remember recent counts.
        self._count = functools.lru_cache(maxsize=256)(count)
        self._cache = cache
        self._backend: Backend | None = None
        self._slots: tuple[asyncio.AbstractEventLoop, asyncio.Semaphore] | None = None

    async def leaf(self, prompt: str, result_type: t.Type, sample: tuple[int, ...] = ()) -> LeafResult:
        """The value of type `result_type` that the model gives for `prompt`; `sample` marks one
        sample of a vote (see `request`)."""
        if not t.is_decodable(result_type):
            raise LeafError(f"a leaf cannot return {t.show(result_type)}")
        request = self.request(prompt, result_type, sample)
        key = request.key()
        self._emit(events.LeafStart(key=key, prompt_chars=sum(len(text) for _, text in request.messages)))
        start = time.monotonic()
        result = self._lookup(key, result_type, start)
        if result is None:
            try:
                result = await self._answer(request, key, start)
            except BudgetRefusal as err:
                self._emit(events.BudgetStop(key=key, limit=err.limit, used=err.used, asked=err.asked,
                                             allowed=err.allowed, message=err.message))
                raise
            except LambdaError as err:
                self._emit(events.LeafError(key=key, kind=err.kind, message=err.message))
                raise
            self._store(key, result_type, result)
        self.budget.count("calls")
        r = result
        self._emit(events.LeafEnd(key=key, prompt_tokens=r.prompt_tokens, completion_tokens=r.completion_tokens,
                                  latency_s=r.latency_s, cost_usd=r.cost_usd, cached=r.cached, attempts=r.attempts,
                                  reasks=r.reasks, cached_tokens=r.cached_tokens))
        return result

    def request(self, prompt: str, result_type: t.Type, sample: tuple[int, ...] = ()) -> LeafRequest:
        """The frozen request a leaf sends (loads litellm to ask about structured output).

        Sample 0 of a vote is the leaf itself (the same request, so it shares the cache with runs
        that do not vote); every other sample is drawn at `vote_temperature` and keyed by its
        number, so each one is a request of its own and a rerun finds it in the cache."""
        backend = self._get_backend()
        drawn = any(sample)
        params: dict[str, Param] = {
            "max_tokens": self.config.output_tokens,
            "temperature": self.config.vote_temperature if drawn else self.config.temperature,
            "structured": decode.is_json_type(result_type) and backend.structured,
        }
        if drawn:
            params["sample"] = ".".join(map(str, sample))
        if self.config.api_base:
            params["api_base"] = self.config.api_base
        return LeafRequest(
            model=backend.identity,
            messages=(("system", decode.instruction(result_type)), ("user", prompt)),
            params=tuple(sorted(params.items())),
            result_type=result_type,
        )

    def close(self) -> None:
        if self._cache is not None:
            self._cache.close()

    # -- one leaf ------------------------------------------------------------------------------

    def _lookup(self, key: str, result_type: t.Type, start: float) -> LeafResult | None:
        entry = self._cache.get(key) if self._cache is not None else None
        if entry is None:
            return None
        try:
            value = values.from_json(entry.value, result_type)
        except ValueError:
            return None  # stored under a type printing the same but decoding differently: re-ask
        self.budget.count("cache_hits")
        return LeafResult(value, entry.text, 0, 0, 0.0, True, 0, 0, time.monotonic() - start, key)

    def _store(self, key: str, result_type: t.Type, r: LeafResult) -> None:
        if self._cache is not None:
            value = values.to_json(r.value)
            usage = (r.prompt_tokens, r.completion_tokens, r.cost_usd)
            self._cache.put(key, Entry(t.show(result_type), value, r.text, *usage))

    async def _answer(self, request: LeafRequest, key: str, start: float) -> LeafResult:
        messages = request.message_dicts()
        params = dict(request.params)
        structured, temperature = bool(params["structured"]), float(params["temperature"] or 0.0)
        total, attempts = _Reply(""), 0
        for reask in range(self.config.reasks + 1):
            reply, tries = await self._request(messages, request.result_type, structured, temperature, key)
            total, attempts = total + reply, attempts + tries
            try:
                value = decode.decode(reply.text, request.result_type)
            except decode.DecodeError as err:
                if reask == self.config.reasks:
                    raise LeafError(
                        f"the reply to a {t.show(request.result_type)} leaf still did not decode "
                        f"after {reask} re-asks: {err}",
                        notes=[f"model: {self.config.model}"],
                    ) from None
                self.budget.count("reasks")
                self._emit(events.Reask(key=key, error=str(err), reask=reask + 1))
                # Only the latest bad reply is shown again, stripped, so a re-ask's prompt is
                # bounded by the original, one reply and one correction (the static bound keeps
                # that room; a Text leaf fails only on a blank reply, which shows as nothing).
                messages = [
                    *request.message_dicts(),
                    {"role": "assistant", "content": reply.text.strip()},
                    {"role": "user", "content": decode.reask(err, request.result_type)},
                ]
                continue
            usage = (total.prompt_tokens, total.completion_tokens, total.cost_usd)
            latency = time.monotonic() - start
            return LeafResult(value, reply.text, *usage, False, attempts, reask, latency, key, total.cached_tokens)
        raise AssertionError("unreachable")

    async def _request(
        self, messages: list[dict[str, str]], result_type: t.Type, structured: bool, temperature: float, key: str
    ) -> tuple[_Reply, int]:
        """One reply, retrying transient failures; returns it with the number of attempts."""
        try:
            return await self._attempt(messages, result_type, structured, temperature), 1
        except Exception as err:
            if not is_transient(err) or self.config.max_attempts <= 1:
                if not from_provider(err):
                    raise  # our own errors, and our bugs, stay as they are
                raise translate(err, 1, self.config.model, self.config.api_key, self._secrets()) from None
            first: BaseException | None = err
        # Most leaves succeed at once, so tenacity (and the reference cycles its state makes) is
        # only set up after a transient failure. Its first attempt replays that failure, so
        # attempt numbers, waits, events and the stop rule are the same as for a single loop.
        backoff = tenacity.wait_exponential_jitter(
            multiplier=self.config.retry_wait_s,
            max=self.config.max_wait_s,
            jitter=self.config.retry_wait_s,
        )

        def wait(state: tenacity.RetryCallState) -> float:
            err = state.outcome.exception() if state.outcome else None
            hinted = retry_after(err)
            seconds = backoff(state) if hinted is None else hinted * random.uniform(1.0, 1.1)
            seconds = min(seconds, self.config.max_wait_s)
            left = self.budget.remaining_s()
            if left is not None and seconds >= left:
                cause = "no reply" if err is None else (
                    f"{type(err).__name__}: {scrub(str(err), (self.config.api_key, *self._secrets()))}"
                    if not isinstance(err, CallTimeout) else str(err))
                message = (f"the last attempt failed ({cause}) and the deadline leaves {max(left, 0):.2f} s, "
                           "less than the wait before the next retry")
                raise BudgetRefusal("deadline", seconds, seconds, left, message)
            return seconds

        def before_sleep(state: tenacity.RetryCallState) -> None:
            err = state.outcome.exception() if state.outcome else None
            self.budget.count("retries")
            wait_s = state.next_action.sleep if state.next_action else 0.0
            error, code, attempt = type(err).__name__, status(err), state.attempt_number
            self._emit(events.Retry(key=key, error=error, status=code, wait_s=wait_s, attempt=attempt))

        retrying = tenacity.AsyncRetrying(
            stop=tenacity.stop_after_attempt(self.config.max_attempts),
            wait=wait,
            retry=tenacity.retry_if_exception(is_transient),
            before_sleep=before_sleep,
            reraise=True,
        )
        attempt_number = 0
        try:
            async for attempt in retrying:
                attempt_number = attempt.retry_state.attempt_number
                with attempt:
                    if first is not None:
                        failed, first = first, None
                        raise failed
                    reply = await self._attempt(messages, result_type, structured, temperature)
        except Exception as err:
            if not from_provider(err):
                raise  # our own errors, and our bugs, stay as they are
            raise translate(err, attempt_number, self.config.model, self.config.api_key, self._secrets()) from None
        return reply, attempt_number

    async def _attempt(
        self, messages: list[dict[str, str]], result_type: t.Type, structured: bool, temperature: float
    ) -> _Reply:
        kwargs: dict[str, Any] = {
            "messages": messages,
            "temperature": temperature,
            "max_tokens": self.config.output_tokens,
        }
        if structured:
            kwargs["response_format"] = decode.response_format(result_type)
        # Reserve only once a slot is free, so the deadline is checked when the request leaves.
        async with self._semaphore():
            return await self._send(kwargs)

    async def _send(self, kwargs: dict[str, Any]) -> _Reply:
        backend = self._get_backend()
        # Counting tokens costs more than the rest of a leaf; only token and dollar limits need it.
        metered = self.budget.max_tokens is not None or self.budget.max_usd is not None
        estimate = sum(
            self._count(m["content"]) + MESSAGE_OVERHEAD_TOKENS for m in kwargs["messages"]
        ) if metered else 0
        cap = self.config.output_tokens
        reservation = self.budget.reserve(estimate + cap, backend.cost(estimate, cap))
        left = self.budget.remaining_s()
        timeout = (
            self.config.timeout_s if left is None else max(0.001, min(self.config.timeout_s, left))
        )
        try:
            async with asyncio.timeout(timeout):
                response = await backend.complete({**kwargs, "timeout": timeout})
        except BaseException as err:
            # A timed-out request may still be billed, so it keeps its worst case.
            timed_out = isinstance(err, TimeoutError) or status(err) == 408
            held = (estimate, cap, backend.cost(estimate, cap)) if timed_out else (0, 0, 0.0)
            self.budget.settle(reservation, *held)
            if isinstance(err, TimeoutError) and left is not None and left < self.config.timeout_s:
                # the deadline, not the request, ran out: nothing failed, and no retry could help
                message = f"the deadline passed while the model was still answering (after {timeout:.2f} s)"
                raise BudgetRefusal("deadline", timeout, 0, 0, message) from None
            if isinstance(err, TimeoutError):
                raise CallTimeout(f"no reply within {timeout:.1f} s") from None
            raise
        text, prompt_tokens, completion_tokens = unpack(response)
        text = self._clip(redact(text, backend.secrets))  # a provider may echo a key into a reply
        prompt_tokens = estimate if prompt_tokens is None else prompt_tokens
        completion_tokens = self._count(text) if completion_tokens is None else completion_tokens
        cost = backend.actual_cost(response, prompt_tokens, completion_tokens)
        self.budget.settle(reservation, prompt_tokens, completion_tokens, cost)
        return _Reply(text, prompt_tokens, completion_tokens, cost, cached_tokens(response))

    def _clip(self, text: str) -> str:
        """A reply cut to `max_output_tokens` of our tokenizer: the static bound counts on it, and a
        provider may ignore max_tokens or count with another tokenizer."""
        cap = self.config.output_tokens
        if len(text.encode()) <= cap or self._count(text) <= cap:  # tokens <= bytes
            return text
        lo, hi = 0, len(text)  # the longest prefix that fits
        while lo < hi:
            mid = (lo + hi + 1) // 2
            if self._count(text[:mid]) <= cap:
                lo = mid
            else:
                hi = mid - 1
        return text[:lo]

    # -- plumbing ------------------------------------------------------------------------------

    def _semaphore(self) -> asyncio.Semaphore:
        # One semaphore per event loop: a semaphore is bound to the loop it first waits in.
        loop = asyncio.get_running_loop()
        if self._slots is None or self._slots[0] is not loop:
            self._slots = (loop, asyncio.Semaphore(self.config.concurrency))
        return self._slots[1]

    def prepare(self) -> None:
        """Load the model client now (litellm's import, the provider's registration), so that a
        deadline counts from here and the first leaf does not block the event loop on it."""
        self._get_backend()

    def _get_backend(self) -> Backend:
        if self._backend is None:
            self._backend = Backend.make(self.config)
        return self._backend

    def _secrets(self) -> tuple[str, ...]:
        """The keys the backend knows (the given one, and those of a router config), once it is made."""
        return self._backend.secrets if self._backend is not None else ()

    def _emit(self, event: Event) -> None:
        if self._on_event is not None:
            self._on_event(event)
