"""Traces: takes run events, gives a JSONL file (one event a line, flushed as it happens) and a rendering.

No API key ever reaches an event: the oracle emits hashes of prompts, never the request itself.
"""

from __future__ import annotations

import contextlib
import json
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import IO, Any

from lambda_rlm.core.errors import ConfigError
from lambda_rlm.core.events import Event


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
        event = event.stamped(round(time.monotonic() - self._t0, 4))
        self.events.append(event)
        if self._file is not None:
            try:
                self._file.write(json.dumps(event.as_dict(), ensure_ascii=False, default=str) + "\n")
                self._file.flush()
            except OSError as exc:  # a full disk, /dev/full
                self._failed(exc)
        if self._listener is not None:
            self._listener(event)

    def close(self) -> None:
        if self._file is not None:
            file, self._file = self._file, None
            try:
                file.close()
            except OSError as exc:
                raise ConfigError(f"cannot write the trace '{file.name}': {exc.strerror or exc}") from None

    def _failed(self, exc: OSError) -> None:
        """Stop writing (the run stops too: a trace asked for and not written is a broken promise)."""
        file, self._file = self._file, None
        name = getattr(file, "name", "?")
        if file is not None:
            with contextlib.suppress(OSError):  # the write already failed; its error is the one to report
                file.close()
        raise ConfigError(f"cannot write the trace '{name}': {exc.strerror or exc}") from None


def read(path: str | Path) -> list[dict[str, Any]]:
    """The events of a JSONL trace, in their JSON form (`events.schema()` describes a line); a torn last
    line (killed writer) is skipped."""
    events = []
    for line in Path(path).read_text(encoding="utf-8").splitlines():
        try:
            event = json.loads(line)
        except (ValueError, RecursionError):  # torn, not JSON, nested too deep or a number too long to read
            continue
        if isinstance(event, dict):  # a line that is a number or a list is no event of ours
            events.append(event)
    return events


def summary(events: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """Totals over leaf events: calls, cache hits, retries, re-asks, tokens, cost."""
    ends = [e for e in events if e.get("event") == "leaf_end"]
    return {
        "leaves": len(ends),
        "calls": sum(1 for e in ends if not e.get("cached")),
        "cache_hits": sum(1 for e in ends if e.get("cached")),
        "retries": sum(1 for e in events if e.get("event") == "retry"),
        "reasks": sum(1 for e in events if e.get("event") == "reask"),
        "prompt_tokens": sum(e.get("prompt_tokens", 0) for e in ends),
        "cached_prompt_tokens": sum(e.get("cached_tokens", 0) for e in ends),  # served by the provider's cache
        "completion_tokens": sum(e.get("completion_tokens", 0) for e in ends),
        "cost_usd": sum(e.get("cost_usd", 0.0) for e in ends),
    }
