"""A leaf as sent and as answered: takes a model, messages, parameters and a result type, gives the
request whose canonical JSON, hashed, keys the leaf cache, and the decoded result."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from typing import Any

from lambda_rlm.core import types as t

PROMPT_VERSION = "1"  # bump when decode's instructions change, so old cache entries stop matching

Param = str | int | float | bool | None


@dataclass(frozen=True, slots=True)
class LeafRequest:
    """Exactly what is sent for one leaf; its canonical JSON, hashed, is the cache key."""

    model: str
    messages: tuple[tuple[str, str], ...]  # (role, content)
    params: tuple[tuple[str, Param], ...]  # sorted by name
    result_type: t.Type

    def canonical(self) -> str:
        return json.dumps(
            {
                "model": self.model,
                "messages": [list(m) for m in self.messages],
                "params": dict(self.params),
                "type": t.show(self.result_type),
                "version": PROMPT_VERSION,
            },
            sort_keys=True,
            separators=(",", ":"),
            ensure_ascii=False,
        )

    def key(self) -> str:
        return hashlib.sha256(self.canonical().encode()).hexdigest()

    def message_dicts(self) -> list[dict[str, str]]:
        return [{"role": role, "content": content} for role, content in self.messages]


@dataclass(frozen=True, slots=True)
class LeafResult:
    """A decoded leaf; a cached result reports zero tokens, cost and attempts for this run."""

    value: Any
    text: str
    prompt_tokens: int
    completion_tokens: int
    cost_usd: float
    cached: bool
    attempts: int
    reasks: int
    latency_s: float
    key: str
    cached_tokens: int = 0  # of prompt_tokens, served from the provider's prompt cache (0 when it says nothing)
