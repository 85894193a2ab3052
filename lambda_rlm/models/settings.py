"""What a run is given about its model and its spending: takes settings, gives checked frozen values.

Two of the four groups a `Config` (runtime/config.py) is made of live here, because the model
layer uses them as they are: `ModelSettings` is what the oracle and the backend need to reach a
model, `Limits` is what the budget enforces. Nothing is copied from one into another.
"""

from __future__ import annotations

import urllib.parse
from dataclasses import dataclass, field
from typing import Any

from lambda_rlm.core.errors import ConfigError

from .model_files import DEFAULT_MODEL


@dataclass(frozen=True, slots=True)
class ModelSettings:
    """Which model answers the leaves and how each call to it is made.

    `model` is a litellm model string or a Router config path. With `api_base` and no key,
    `openai/…` models get a placeholder key, since local OpenAI-compatible servers want none but
    the OpenAI client insists on one. `window` None is the model's own window where known.
    """

    model: str = DEFAULT_MODEL
    api_base: str | None = None
    api_key: str | None = field(default=None, repr=False)
    window: int | None = None  # None: the model's own window where known, else the fallback (Config.resolved)
    output_tokens: int = 512
    temperature: float = 0.0
    vote_temperature: float = 0.7  # a vote's samples after the first (the first is at `temperature`)
    timeout_s: float = 120.0
    max_attempts: int = 8
    reasks: int = 4
    concurrency: int = 8
    retry_wait_s: float = 0.5
    max_wait_s: float = 30.0  # cap on one wait, Retry-After included
    structured_output: bool | None = None  # None: ask litellm.supports_response_schema
    tokenizer: Any = field(default=None, compare=False, repr=False)  # None: the model's own, else cl100k

    def __post_init__(self) -> None:
        for name in ("timeout_s", "max_attempts", "concurrency"):
            if not getattr(self, name) > 0:
                raise ConfigError(f"{name} must be positive, not {getattr(self, name)}")
        if self.reasks < 0:
            raise ConfigError(f"reasks must be 0 or more, not {self.reasks}")
        if self.api_base is not None:
            _check_api_base(self.api_base)
        if self.output_tokens < 1:
            raise ConfigError(f"the output per call must be at least 1 token, not {self.output_tokens}")
        if self.window is not None and self.window <= self.output_tokens:
            raise ConfigError(f"the window ({self.window:,} tokens) must be larger than the output per call "
                              f"({self.output_tokens:,} tokens)")


@dataclass(frozen=True, slots=True)
class Limits:
    """What a run, or all the runs of one session together, may spend (None: no limit)."""

    max_calls: int | None = None
    max_tokens: int | None = None
    max_usd: float | None = None
    deadline_s: float | None = None  # seconds from the moment the first run is ready to send

    def __post_init__(self) -> None:
        for name in ("max_calls", "max_tokens", "max_usd"):
            value = getattr(self, name)
            if value is not None and not value >= 0:  # NaN fails too
                raise ConfigError(f"{name} must be 0 or more, not {value}")
        if self.deadline_s is not None and not self.deadline_s > 0:
            raise ConfigError(f"deadline_s must be a number of seconds above 0, not {self.deadline_s}")


def _check_api_base(url: str) -> None:
    """A ConfigError unless `url` is an http(s) URL with a host and no spaces (a typo would otherwise
    be retried for minutes as a server error)."""
    parts = urllib.parse.urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.netloc or any(c.isspace() for c in url):
        raise ConfigError(f"the api_base {url!r} is not an http(s) URL",
                          notes=["for example --api-base http://127.0.0.1:8000/v1"])
