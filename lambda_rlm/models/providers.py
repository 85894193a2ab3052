"""In-process providers: model-string prefixes served inside this process, and what the runtime must know of them.

A remote model (`openai/...`, `ollama/...`) needs nothing from us: litellm knows how to reach it
and usually its window. A model served in this process (the embedded `local/...` model, the
benchmarks' `reference/...` model, or another plug-in) must be registered with litellm before its first
request, and may have a window, a tokenizer or a concurrency limit of its own. Each such prefix
has a `Provider`: the built-in ones below, and plug-ins under the entry-point group
`lambda_rlm.providers`, named by their prefix, whose object is a `Provider`:

    [project.entry-points."lambda_rlm.providers"]
    mine = "mypackage.provider:PROVIDER"      # serves mine/<name>

Modules are imported only when a model string with their prefix is used. A provider supplies one
function, `async answer(Request) -> Reply`, and `in_process(prefix, answer, window=...)` makes its
`Provider`: that helper does all of litellm's plumbing (a CustomLLM handler, its registration,
the model's window and zero prices), so a provider never imports litellm itself.
`tests/test_providers.py` installs such a plug-in and runs a program on it.
"""

from __future__ import annotations

import asyncio
import functools
import gc
import importlib
import os
import sys
from collections.abc import Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
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


@dataclass(frozen=True, slots=True)
class Request:
    """One chat request to an in-process model, as `in_process` hands it to the provider's function."""

    model: str  # the whole model string, "<prefix>/<name>"
    messages: tuple[dict[str, Any], ...]
    max_tokens: int | None
    temperature: float
    schema: dict[str, Any] | None = field(default=None)  # the JSON Schema a structured leaf's reply follows


@dataclass(frozen=True, slots=True)
class Reply:
    """What an in-process model answered, with the tokens it read and wrote."""

    text: str
    prompt_tokens: int
    completion_tokens: int
    finish_reason: str = "stop"


class ContextTooLong(Exception):
    """Raised by a provider's function when a prompt does not fit its model (litellm's
    ContextWindowExceededError for the runtime)."""


Answer = Callable[[Request], Awaitable[Reply]]
_PRICES = ("input_cost_per_token", "output_cost_per_token", "cache_creation_input_token_cost",
           "cache_read_input_token_cost")


def in_process(prefix: str, answer: Answer, *, window: Callable[[str], int],
               tokenizer: Callable[[str], Any] | None = None, concurrency: int | None = None, revision: str = "",
               check: Callable[[str], None] | None = None, structured: bool = False,
               output_tokens: int | None = None) -> Provider:
    """The Provider of `<prefix>/...` models answered by `answer` in this process.

    `check(model)` runs when a model is registered (a missing file is a ConfigError before any
    request); `structured` says the model follows a reply's JSON Schema (`Request.schema`), so the
    runtime sends one; `output_tokens` is the longest reply it writes (default: its window).
    """
    def register(model: str) -> None:
        litellm = import_litellm()
        if not any(item.get("provider") == prefix for item in litellm.custom_provider_map):
            handler = _handler_class()(prefix, answer)
            entry = {"provider": prefix, "custom_handler": handler}
            litellm.custom_provider_map = [*litellm.custom_provider_map, entry]
        if model.startswith(prefix + "/") and model not in litellm.model_cost:
            limit = window(model)
            info = {"max_input_tokens": limit, "max_output_tokens": output_tokens or limit, "max_tokens": limit,
                    "supports_response_schema": structured}
            litellm.register_model({model: {"litellm_provider": prefix, "mode": "chat", **info,
                                            **dict.fromkeys(_PRICES, 0.0)}})
        if check is not None:
            check(model)

    return Provider(prefix, register, window, tokenizer, concurrency, revision)


def import_litellm() -> Any:
    """litellm, imported with its local price table so that the import never reaches the network.

    The cyclic garbage collector is paused during the first import: litellm builds some 3,000
    modules and their classes, none of them garbage, and collecting as they are made costs about
    0.6 s of the 3–6 s import (measured, benchmarks/bench_startup.py).
    """
    os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")  # read at litellm's first import
    if "litellm" not in sys.modules and gc.isenabled():
        gc.disable()
        try:
            import litellm
        finally:
            gc.enable()
    import litellm

    litellm.suppress_debug_info = True  # no "Give Feedback" banners in our users' terminals
    return litellm


@functools.cache
def _handler_class() -> type[Any]:
    """`InProcessLLM`, the litellm CustomLLM that serves every in-process prefix, defined on first use
    so that importing this module stays light."""
    import_litellm()
    from litellm.exceptions import ContextWindowExceededError
    from litellm.llms.custom_llm import CustomLLM
    from litellm.types.utils import ModelResponse

    class InProcessLLM(CustomLLM):
        """Serves `<prefix>/<name>` by the provider's function; cost is 0."""

        def __init__(self, prefix: str, answer: Answer) -> None:
            super().__init__()
            self.prefix, self.answer = prefix, answer

        async def acompletion(self, *args: Any, **kwargs: Any) -> Any:
            params = kwargs.get("optional_params") or {}
            shape = params.get("response_format") or {}  # OpenAI's {"type": "json_schema", "json_schema": {...}}
            schema = (shape.get("json_schema") or {}).get("schema") if shape.get("type") == "json_schema" else None
            model = f"{self.prefix}/{kwargs['model']}"
            request = Request(model, tuple(kwargs["messages"]),
                              params.get("max_tokens") or params.get("max_completion_tokens"),
                              float(params.get("temperature") or 0.0), schema)
            try:
                reply = await self.answer(request)
            except ContextTooLong as err:
                raise ContextWindowExceededError(str(err), model=model, llm_provider=self.prefix) from None
            total = reply.prompt_tokens + reply.completion_tokens
            return ModelResponse(
                model=model,
                choices=[{"index": 0, "finish_reason": reply.finish_reason,
                          "message": {"role": "assistant", "content": reply.text}}],
                usage={"prompt_tokens": reply.prompt_tokens, "completion_tokens": reply.completion_tokens,
                       "total_tokens": total},
            )

        def completion(self, *args: Any, **kwargs: Any) -> Any:
            # litellm's synchronous entry point: the async answer on a loop of its own, in a thread of
            # its own, so that it works whether or not the caller's thread runs a loop.
            with ThreadPoolExecutor(max_workers=1) as worker:
                return worker.submit(asyncio.run, self.acompletion(*args, **kwargs)).result()

    return InProcessLLM


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
