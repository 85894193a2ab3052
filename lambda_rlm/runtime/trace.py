"""Traces: takes run events, gives a JSONL file (one event a line, flushed as it happens) and a rendering.

No API key ever reaches an event: the oracle emits hashes of prompts, never the request itself.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import IO, Any

from lambda_rlm.core.errors import ConfigError

Event = dict[str, Any]


class Trace:
    """Collects events in memory, appends them to `path` if given, and forwards them to `listener`."""

    def __init__(self, path: str | None = None, listener: Callable[[Event], None] | None = None) -> None:
        self.events: list[Event] = []
        self._listener = listener
        try:
            self._file: IO[str] | None = open(path, "a", encoding="utf-8") if path else None  # noqa: SIM115
        except OSError as exc:
            raise ConfigError(f"cannot write the trace '{path}': {exc.strerror or exc}") from None
        self._t0 = time.monotonic()

    def emit(self, event: Event) -> None:
        event = {"t": round(time.monotonic() - self._t0, 4), **event}
        self.events.append(event)
        if self._file is not None:
            self._file.write(json.dumps(event, ensure_ascii=False, default=str) + "\n")
            self._file.flush()
        if self._listener is not None:
            self._listener(event)

    def close(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None


def read(path: str | Path) -> list[Event]:
    """The events of a JSONL trace; a torn last line (killed writer) is skipped."""
    events = []
    for line in Path(path).read_text(encoding="utf-8").splitlines():
        try:
            events.append(json.loads(line))
        except json.JSONDecodeError:
            continue
    return events


def summary(events: list[Event]) -> dict[str, Any]:
    """Totals over leaf events: calls, cache hits, retries, re-asks, tokens, cost."""
    ends = [e for e in events if e.get("event") == "leaf_end"]
    return {
        "leaves": len(ends),
        "calls": sum(1 for e in ends if not e.get("cached")),
        "cache_hits": sum(1 for e in ends if e.get("cached")),
        "retries": sum(1 for e in events if e.get("event") == "retry"),
        "reasks": sum(1 for e in events if e.get("event") == "reask"),
        "prompt_tokens": sum(e.get("prompt_tokens", 0) for e in ends),
        "completion_tokens": sum(e.get("completion_tokens", 0) for e in ends),
        "cost_usd": sum(e.get("cost_usd", 0.0) for e in ends),
    }
