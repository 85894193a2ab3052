"""Deterministic test providers: takes reply functions and fault plans, gives litellm providers.

Each provider is a `litellm.CustomLLM` (litellm's own extension point), registered for a model
prefix through `litellm.custom_provider_map` by the `registered` context manager, which puts the
previous map back afterwards. A provider counts its calls and records what it was sent, so tests
check the real litellm path rather than a mock of our code.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import os
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
import httpx  # noqa: E402 - after the environment line, like lambda_rlm.llm
import litellm  # noqa: E402
from litellm import exceptions as errors  # noqa: E402
from litellm.llms.custom_llm import CustomLLM  # noqa: E402
from litellm.types.utils import ModelResponse  # noqa: E402

Reply = Callable[[str], str]  # the leaf's prompt (first user message) -> the reply text
Script = Callable[[list[dict[str, Any]]], str]  # the whole conversation -> the reply text


def prompt_of(messages: list[dict[str, Any]]) -> str:
    """The leaf's prompt: the first user message (later ones are re-asks)."""
    return next(str(m["content"]) for m in messages if m["role"] == "user")


@dataclass(frozen=True)
class Sent:
    """One request as the provider received it."""

    model: str
    messages: list[dict[str, Any]]
    params: dict[str, Any]
    api_key: str | None


class ScriptedProvider(CustomLLM):
    """Replies with `script(messages)` if given, else `reply(prompt)`; usage is characters // 4."""

    def __init__(self, reply: Reply = lambda prompt: prompt, script: Script | None = None) -> None:
        super().__init__()
        self.reply = reply
        self.script = script
        self.sent: list[Sent] = []
        self.in_flight = 0
        self.max_in_flight = 0
        self._lock = threading.Lock()

    @property
    def calls(self) -> int:
        return len(self.sent)

    def respond(self, sent: Sent) -> str:
        """The reply text for one request; subclasses fail here instead."""
        if self.script is not None:
            return self.script(sent.messages)
        return self.reply(prompt_of(sent.messages))

    def completion(self, *args: Any, **kwargs: Any) -> ModelResponse:
        sent = self._record(kwargs)
        try:
            return _response(kwargs["model"], sent.messages, self.respond(sent))
        finally:
            self._leave()

    async def acompletion(self, *args: Any, **kwargs: Any) -> ModelResponse:
        sent = self._record(kwargs)
        try:
            await self.before_reply(sent)
            return _response(kwargs["model"], sent.messages, self.respond(sent))
        finally:
            self._leave()

    async def before_reply(self, sent: Sent) -> None:
        """A hook run while the request is in flight (the sleeping provider waits here)."""

    def _record(self, kwargs: dict[str, Any]) -> Sent:
        sent = Sent(
            kwargs["model"],
            list(kwargs["messages"]),
            dict(kwargs.get("optional_params") or {}),
            kwargs.get("api_key"),
        )
        with self._lock:
            self.sent.append(sent)
            self.in_flight += 1
            self.max_in_flight = max(self.max_in_flight, self.in_flight)
        return sent

    def _leave(self) -> None:
        with self._lock:
            self.in_flight -= 1


class SleepingProvider(ScriptedProvider):
    """A scripted provider that takes `latency_s` to answer."""

    def __init__(self, reply: Reply = lambda prompt: prompt, latency_s: float = 0.05) -> None:
        super().__init__(reply)
        self.latency_s = latency_s

    async def before_reply(self, sent: Sent) -> None:
        await asyncio.sleep(self.latency_s)


class SamplingProvider(ScriptedProvider):
    """Replies with `draw(prompt, temperature)`: a model whose reply at temperature 0 may differ
    from its samples above 0."""

    def __init__(self, draw: Callable[[str, float], str]) -> None:
        super().__init__()
        self.draw = draw

    def respond(self, sent: Sent) -> str:
        return self.draw(prompt_of(sent.messages), float(sent.params.get("temperature") or 0.0))


FAULTS = ("rate_limit", "server_error", "timeout", "disconnect", "empty", "garbage")


class FaultProvider(ScriptedProvider):
    """Fails a `rate` fraction of requests, chosen by a hash of (seed, prompt, repeat number).

    The choice depends on the request and how often it was seen before, not on arrival order,
    so concurrent runs fail the same requests. Faults cycle through `faults`.
    """

    def __init__(
        self,
        reply: Reply = lambda prompt: prompt,
        rate: float = 0.5,
        seed: int = 0,
        faults: tuple[str, ...] = FAULTS,
        retry_after_s: float = 0.01,
    ) -> None:
        super().__init__(reply)
        unknown = set(faults) - set(FAULTS)
        if unknown:
            raise ValueError(f"unknown faults {sorted(unknown)}")
        self.rate, self.seed, self.faults, self.retry_after_s = rate, seed, faults, retry_after_s
        self.seen: dict[str, int] = {}
        self.injected: list[str] = []

    def fault_for(self, sent: Sent) -> str | None:
        text = "\x00".join(str(m["content"]) for m in sent.messages)
        with self._lock:
            repeat = self.seen.get(text, 0)
            self.seen[text] = repeat + 1
        digest = hashlib.sha256(f"{self.seed}\x00{repeat}\x00{text}".encode()).digest()
        if int.from_bytes(digest[:8], "big") / 2**64 >= self.rate:
            return None
        return self.faults[digest[8] % len(self.faults)]

    def respond(self, sent: Sent) -> str:
        fault = self.fault_for(sent)
        if fault is None:
            return super().respond(sent)
        with self._lock:
            self.injected.append(fault)
        return raise_fault(fault, sent.model, self.retry_after_s)


def raise_fault(fault: str, model: str, retry_after_s: float = 0.01) -> str:
    """Raise the litellm error a real provider would give for `fault` (or return a bad reply)."""
    request = httpx.Request("POST", "http://provider.test/v1/chat/completions")
    if fault == "rate_limit":
        response = httpx.Response(429, headers={"retry-after": str(retry_after_s)}, request=request)
        raise errors.RateLimitError(
            "slow down", llm_provider="test", model=model, response=response
        )
    if fault == "server_error":
        raise errors.InternalServerError("upstream exploded", llm_provider="test", model=model)
    if fault == "timeout":
        raise errors.Timeout("read timed out", model=model, llm_provider="test")
    if fault == "disconnect":
        raise ConnectionResetError("connection reset by peer")
    if fault == "empty":
        return ""
    return "¯\\_(ツ)_/¯ I would rather not say"  # garbage: decodes as no type but Text


class AuthFailProvider(ScriptedProvider):
    """Rejects every request the way a provider rejects a bad key (echoing the key, as some do)."""

    def respond(self, sent: Sent) -> str:
        raise errors.AuthenticationError(
            f"Incorrect API key provided: {sent.api_key}", llm_provider="test", model=sent.model
        )


def _response(model: str, messages: list[dict[str, Any]], content: str) -> ModelResponse:
    prompt_tokens = max(1, sum(len(str(m["content"])) for m in messages) // 4)
    completion_tokens = max(1, len(content) // 4)
    return ModelResponse(
        model=model,
        choices=[
            {
                "index": 0,
                "finish_reason": "stop",
                "message": {"role": "assistant", "content": content},
            }
        ],
        usage={
            "prompt_tokens": prompt_tokens,
            "completion_tokens": completion_tokens,
            "total_tokens": prompt_tokens + completion_tokens,
        },
    )


@contextlib.contextmanager
def registered(**providers: CustomLLM) -> Iterator[None]:
    """Serve models `NAME/...` by `providers[NAME]` inside the block, then restore litellm."""
    saved_map = list(litellm.custom_provider_map)
    saved_custom = list(litellm._custom_providers)
    saved_list = list(litellm.provider_list)
    added: list[Any] = [{"provider": n, "custom_handler": h} for n, h in providers.items()]
    kept = [item for item in saved_map if item["provider"] not in providers]
    litellm.custom_provider_map = kept + added
    try:
        yield
    finally:
        litellm.custom_provider_map = saved_map
        litellm._custom_providers[:] = saved_custom
        litellm.provider_list[:] = saved_list


@contextlib.contextmanager
def priced_model(
    model: str, usd_per_token: float, supports_response_schema: bool = False
) -> Iterator[None]:
    """Price a custom model (and mark structured output) in litellm's cost table, then undo it."""
    provider = model.split("/", 1)[0]
    litellm.register_model(
        {
            model: {
                "litellm_provider": provider,
                "mode": "chat",
                "input_cost_per_token": usd_per_token,
                "output_cost_per_token": usd_per_token,
                "supports_response_schema": supports_response_schema,
            }
        }
    )
    try:
        yield
    finally:
        litellm.model_cost.pop(model, None)


def wait_until(condition: Callable[[], bool], timeout_s: float = 5.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        if time.monotonic() > deadline:
            raise TimeoutError("condition not met")
        time.sleep(0.01)
