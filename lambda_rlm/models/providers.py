"""In-process providers: model-string prefixes served inside this process, and what the runtime must know of them.

A remote model (`openai/...`, `ollama/...`) needs nothing from us: litellm knows how to reach it
and usually its window. A model served in this process (the embedded `local/...` model, the
benchmarks' `reference/...` model, or another plug-in) must be registered with litellm before its first
request, and may have a window, a tokenizer or a concurrency limit of its own. Each such prefix
has a `Provider`: the built-in ones below, and plug-ins under the entry-point group
`lambda_rlm.providers`, named by their prefix, whose object is a `Provider`:

    [project.entry-points."lambda_rlm.providers"]
    mine = "mypackage.provider:PROVIDER"      # serves mine/<name>

Modules are imported only when a model string with their prefix is used. A provider that
imports litellm does so through `lambda_rlm.backend.import_litellm`, which keeps the import off
the network. `tests/test_providers.py` installs such a plug-in and runs a program on it.
"""

from __future__ import annotations

import functools
import importlib
from collections.abc import Callable
from dataclasses import dataclass
from importlib.metadata import entry_points
from typing import Any

from lambda_rlm.core.errors import ConfigError

GROUP = "lambda_rlm.providers"
# Only the embedded model is built in; the benchmarks' `reference` model is this project's own
# plug-in (pyproject.toml), so nothing below the benchmark package names it.
BUILT_IN = {"local": "lambda_rlm.models.local:PROVIDER"}


@dataclass(frozen=True)
class Provider:
    """How the runtime serves and sizes the models `<prefix>/...`."""

    prefix: str
    register: Callable[[str], None]  # serve this model string through litellm (idempotent); check its files
    window: Callable[[str], int]  # the context (prompt + reply tokens) the model can take
    tokenizer: Callable[[str], Any] | None = None  # counts in the model's own tokens (else cl100k)
    concurrency: int | None = None  # at most this many calls at once (a CPU-bound model: 1)
    revision: str = ""  # part of every leaf's cache key: change it when the same prompt gets another reply


def find(model: str) -> Provider | None:
    """The in-process provider serving `model`, or None for a model litellm reaches by itself."""
    prefix, slash, _ = model.partition("/")
    if not slash:
        return None
    target = BUILT_IN.get(prefix) or _plug_ins().get(prefix)
    if target is None:
        return None
    module, _, name = target.partition(":")
    try:
        found = getattr(importlib.import_module(module), name)
    except (ImportError, AttributeError) as err:
        raise ConfigError(f"the provider of '{prefix}/...' models ({target}) cannot be loaded: {err}") from None
    if not isinstance(found, Provider) or found.prefix != prefix:
        raise ConfigError(f"{target} is not a lambda_rlm.Provider for the prefix '{prefix}'")
    return found


@functools.cache
def _plug_ins() -> dict[str, str]:
    """Prefix -> 'module:attribute' of the installed plug-in providers (read once per process)."""
    return {ep.name: ep.value for ep in entry_points(group=GROUP) if ep.name not in BUILT_IN}
