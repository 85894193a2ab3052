"""The embedded local model: takes a `local/<name>` model string, gives replies from llama.cpp.

`register()` makes `local/...` an ordinary litellm model string through litellm's
custom-provider map, after `model_files` has joined and checked the model's file; its handler
runs llama.cpp on one thread of its own, one call at a time, since one call already uses every core.
`tokenizer()` counts in the model's own tokens. Importing this module loads neither litellm nor
llama_cpp.
"""

from __future__ import annotations

import asyncio
import atexit
import contextlib
import functools
import importlib
import os
import sys
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from itertools import accumulate
from pathlib import Path
from typing import Any

from lambda_rlm.core.errors import ConfigError
from lambda_rlm.text.tokens import _piece_bounds

from .model_files import DEFAULT_MODEL as DEFAULT_MODEL
from .model_files import MODELS as MODELS
from .model_files import N_CTX_VARIABLE as N_CTX_VARIABLE
from .model_files import PREFIX as PREFIX
from .model_files import SMALL_MODEL as SMALL_MODEL
from .model_files import LocalModel as LocalModel
from .model_files import context_window as context_window
from .model_files import ensure_model_file as ensure_model_file
from .model_files import is_local as is_local
from .model_files import licences as licences
from .model_files import model_spec as model_spec
from .model_files import part_files as part_files
from .model_files import threads as model_threads
from .providers import Provider

LLAMA_REQUIREMENT = "llama-cpp-python==0.3.36"
_PRICES = (  # litellm's price fields, all 0 for a local model
    "input_cost_per_token", "output_cost_per_token",
    "cache_creation_input_token_cost", "cache_read_input_token_cost",
)  # fmt: skip


# ------------------------------------------------------------------ running the model


def _llama_cpp() -> Any:
    try:
        return importlib.import_module("llama_cpp")
    except ImportError:
        raise ConfigError(
            f"the local models need {LLAMA_REQUIREMENT}, which is not installed. "
            'Install it with: pip install -e ".[local]"'
        ) from None


class _TooLong(Exception):
    """The prompt does not fit the context the model was loaded with."""


class Engine:
    """The loaded models of this process, each loaded on first use, and the one thread that runs them.

    Every load and every completion runs on that thread, one at a time: one call already uses
    every core, and llama.cpp's state (a model, its context, OpenMP's team of workers) then never
    meets a second Python thread. A request still queued when its caller gives up never starts.
    """

    def __init__(self, cache_dir: str | Path | None = None, threads: int | None = None) -> None:
        self.cache_dir = cache_dir
        self.threads = threads or model_threads()
        self._worker = ThreadPoolExecutor(max_workers=1, thread_name_prefix="llama.cpp")
        self._loaded: dict[tuple[str, int], Any] = {}

    def chat(self, *request: Any) -> dict[str, Any]:
        """`_chat(*request)` on the engine's thread, blocking the caller until it is done."""
        return self.submit(*request).result()

    async def achat(self, *request: Any) -> dict[str, Any]:
        """`chat` without blocking the event loop; cancelling it drops a request not yet started."""
        return await asyncio.wrap_future(self.submit(*request))

    def submit(self, *request: Any) -> Future[dict[str, Any]]:
        """Queue `_chat(*request)` on the engine's thread."""
        return self._worker.submit(self._chat, *request)

    def _chat(
        self,
        model: str,
        messages: list[dict[str, Any]],
        max_tokens: int | None,
        temperature: float,
        schema: dict[str, Any] | None = None,
    ) -> dict[str, Any]:
        """llama.cpp's OpenAI-shaped chat completion. With a JSON `schema`, llama.cpp samples through
        a grammar made from it, so the reply is JSON of that shape (unless cut off by `max_tokens`)."""
        llm = self._load(model_spec(model))
        shape = {"response_format": {"type": "json_object", "schema": schema}} if schema else {}
        try:
            reply: dict[str, Any] = llm.create_chat_completion(
                messages=messages, max_tokens=max_tokens, temperature=temperature, **shape
            )
        except ValueError as err:
            if "exceed context window" in str(err):
                raise _TooLong(f"{err}; set {N_CTX_VARIABLE} or lower the window") from None
            raise
        return reply

    def _load(self, spec: LocalModel) -> Any:
        n_ctx = context_window(spec)
        key = (spec.name, n_ctx)
        if key not in self._loaded:
            llama_cpp = _llama_cpp()
            path = ensure_model_file(spec, self.cache_dir)
            self._loaded[key] = _closed_at_exit(
                llama_cpp.Llama(model_path=str(path), n_ctx=n_ctx, n_threads=self.threads,
                                n_threads_batch=self.threads, verbose=False)
            )
        return self._loaded[key]


def _closed_at_exit(llama: Any) -> Any:
    """`llama`, to be closed before the interpreter tears its modules down: left to `__del__` at
    exit, llama-cpp-python frees the model through module globals already gone and prints a
    traceback ("'NoneType' object is not callable") after every run."""
    atexit.register(llama.close)
    return llama


def _litellm() -> Any:
    from .backend import import_litellm

    return import_litellm()


@functools.cache
def _handler_class() -> type[Any]:
    """`LocalLLM`, a litellm CustomLLM, defined on first use so that import stays light."""
    _litellm()
    from litellm.exceptions import ContextWindowExceededError
    from litellm.llms.custom_llm import CustomLLM
    from litellm.types.utils import ModelResponse

    def respond(model: str, reply: dict[str, Any]) -> Any:
        choice, usage = reply["choices"][0], reply.get("usage") or {}
        message = {"role": "assistant", "content": choice["message"].get("content") or ""}
        prompt, completion = int(usage.get("prompt_tokens", 0)), int(usage.get("completion_tokens", 0))
        return ModelResponse(
            model=f"{PREFIX}/{model}",
            choices=[{"index": 0, "finish_reason": choice.get("finish_reason") or "stop", "message": message}],
            usage={"prompt_tokens": prompt, "completion_tokens": completion, "total_tokens": prompt + completion},
        )

    def arguments(kwargs: dict[str, Any]) -> tuple[str, list[dict[str, Any]], int | None, float, Any]:
        params = kwargs.get("optional_params") or {}
        max_tokens = params.get("max_tokens") or params.get("max_completion_tokens")
        shape = params.get("response_format") or {}  # OpenAI's {"type": "json_schema", "json_schema": {...}}
        schema = (shape.get("json_schema") or {}).get("schema") if shape.get("type") == "json_schema" else None
        return kwargs["model"], list(kwargs["messages"]), max_tokens, float(params.get("temperature") or 0.0), schema

    def too_long(model: str, err: _TooLong) -> Exception:
        return ContextWindowExceededError(str(err), model=model, llm_provider=PREFIX)

    class LocalLLM(CustomLLM):
        """Serves `local/<name>` from llama.cpp; usage comes from llama, cost is 0."""

        def __init__(self, engine: Engine | None = None) -> None:
            super().__init__()
            self.engine = engine or Engine()

        def completion(self, *args: Any, **kwargs: Any) -> Any:
            model, messages, max_tokens, temperature, schema = arguments(kwargs)
            try:
                return respond(model, self.engine.chat(model, messages, max_tokens, temperature, schema))
            except _TooLong as err:
                raise too_long(model, err) from None

        async def acompletion(self, *args: Any, **kwargs: Any) -> Any:
            model, messages, max_tokens, temperature, schema = arguments(kwargs)
            try:
                reply = await self.engine.achat(model, messages, max_tokens, temperature, schema)
            except _TooLong as err:
                raise too_long(model, err) from None
            return respond(model, reply)

    return LocalLLM


def __getattr__(name: str) -> Any:
    if name == "LocalLLM":
        return _handler_class()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


@functools.cache
def handler() -> Any:
    """This process's one LocalLLM, so each model is loaded once however often it is registered."""
    return _handler_class()()


def register(*models: str) -> None:
    """Serve `local/...` model strings through litellm (idempotent); check the named local models.

    Each local model in `models` is checked now, so a missing package or a damaged file is a
    ConfigError before any request rather than a provider error inside litellm.
    """
    litellm = _litellm()
    if not any(item.get("provider") == PREFIX for item in litellm.custom_provider_map):
        entry: Any = {"provider": PREFIX, "custom_handler": handler()}
        litellm.custom_provider_map = [*litellm.custom_provider_map, entry]
    for spec in MODELS.values():
        if spec.model not in litellm.model_cost:  # priced at 0; JSON leaves get llama.cpp's grammar
            limit = context_window(spec)
            info = {"max_input_tokens": limit, "max_output_tokens": limit, "max_tokens": limit,
                    "supports_response_schema": True}
            zero = dict.fromkeys(_PRICES, 0.0)
            litellm.register_model({spec.model: {"litellm_provider": PREFIX, "mode": "chat", **info, **zero}})
    for model in models:
        if is_local(model):
            _llama_cpp()
            ensure_model_file(model, handler().engine.cache_dir)


# ------------------------------------------------------------------ tokenizer


class LlamaTokenizer:
    """The Tokenizer protocol (lambda_rlm.tokens) over a local model's own vocabulary.

    Long texts are encoded in pieces cut where no pre-token can span (as tokens.py does for
    cl100k, whose pre-token pattern Qwen2's differs from only in splitting digits singly).
    """

    __slots__ = ("_name", "_vocab", "_leads", "_piece_max")

    def __init__(self, name: str, vocab: Any, piece_chars: int = 4000) -> None:
        self._name = name
        self._vocab = vocab
        self._piece_max = piece_chars
        self._leads = bytearray(b"\xff") * int(vocab.n_vocab())  # 0xff: not looked up yet

    @property
    def name(self) -> str:
        return self._name

    def encode(self, text: str) -> list[int]:
        ids: list[int] = []
        for start, end in _piece_bounds(text, self._piece_max):
            ids.extend(self._encode_piece(text[start:end]))
        return ids

    def count(self, text: str) -> int:
        return sum(len(self._encode_piece(text[a:b])) for a, b in _piece_bounds(text, self._piece_max))

    def offsets(self, text: str) -> list[int]:
        # Characters per token are the UTF-8 lead bytes in its bytes, so starts are a running sum.
        starts: list[int] = []
        for start, end in _piece_bounds(text, self._piece_max):
            ids = self._encode_piece(text[start:end])
            starts.extend(accumulate(map(self._lead_count, ids[:-1]), initial=start))
        return starts

    def _encode_piece(self, piece: str) -> list[int]:
        # "replace" keeps one byte per unencodable character, so character offsets stay right.
        data = piece.encode("utf-8", "replace")
        return list(self._vocab.tokenize(data, add_bos=False, special=False))

    def _lead_count(self, token: int) -> int:
        count = self._leads[token]
        if count == 0xFF:
            raw: bytes = self._vocab.detokenize([token])
            count = self._leads[token] = sum(1 for byte in raw if byte & 0xC0 != 0x80)
        return count


@functools.cache
def _tokenizer(name: str, cache_dir: str | None) -> LlamaTokenizer:
    spec = model_spec(name)
    path = ensure_model_file(spec, cache_dir)
    with _quiet_llama():
        vocab = _closed_at_exit(_llama_cpp().Llama(model_path=str(path), vocab_only=True, verbose=False))
    return LlamaTokenizer(spec.model, vocab)


def tokenizer(model: str | LocalModel, cache_dir: str | Path | None = None) -> LlamaTokenizer:
    """The local model's own tokenizer (its vocabulary loaded alone, without the weights)."""
    return _tokenizer(model_spec(model).name, None if cache_dir is None else str(cache_dir))


@contextlib.contextmanager
def _quiet_llama() -> Iterator[None]:
    """Hides what C code writes to stderr meanwhile: llama.cpp warns about the context of a
    vocabulary-only load ("possible training context overflow") even with verbose=False."""
    sys.stderr.flush()
    saved = os.dup(2)
    try:
        with open(os.devnull, "wb") as null:
            os.dup2(null.fileno(), 2)
        yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)


# The runtime's view of `local/...` models (see `providers`): one call at a time (CPU-bound), the
# window llama.cpp is loaded with, and the model's own tokenizer.
PROVIDER = Provider(PREFIX, register, context_window, tokenizer, concurrency=1)
