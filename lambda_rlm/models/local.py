"""The embedded local model: takes a `local/<name>` model string, gives replies from llama.cpp.

`answer` runs llama.cpp on one thread of its own, one call at a time, since one call already uses
every core; `providers.in_process` serves it through litellm as `local/...` model strings, after
`check` (`model_files`) has joined and checked the model's file.
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

from . import prefix_states
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
from .providers import ContextTooLong, Reply, Request, in_process

LLAMA_REQUIREMENT = "llama-cpp-python==0.3.36"


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

    def __init__(self, cache_dir: str | Path | None = None, threads: int | None = None,
                 states_dir: str | Path | None = None) -> None:
        self.cache_dir = cache_dir  # the joined model files (default: the user's cache folder)
        self.states_dir = states_dir  # the prompt states (prefix_states.py; default: the same)
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
            llama = llama_cpp.Llama(model_path=str(path), n_ctx=n_ctx, n_threads=self.threads,
                                    n_threads_batch=self.threads, verbose=False)
            states = prefix_states.cache_for(spec, n_ctx, self.states_dir or self.cache_dir)
            if states is not None:  # a prompt's piece, read once, serves later questions about it
                llama.set_cache(states)
            self._loaded[key] = _closed_at_exit(llama)
        return self._loaded[key]


def _closed_at_exit(llama: Any) -> Any:
    """`llama`, to be closed before the interpreter tears its modules down: left to `__del__` at
    exit, llama-cpp-python frees the model through module globals already gone and prints a
    traceback ("'NoneType' object is not callable") after every run."""
    atexit.register(llama.close)
    return llama


@functools.cache
def engine() -> Engine:
    """This process's one Engine, so each model is loaded once however often it is registered."""
    return Engine()


async def answer(request: Request) -> Reply:
    """One chat completion by llama.cpp (the provider's function; `providers.in_process` serves it)."""
    try:
        reply = await engine().achat(request.model, list(request.messages), request.max_tokens,
                                     request.temperature, request.schema)
    except _TooLong as err:
        raise ContextTooLong(str(err)) from None
    choice, usage = reply["choices"][0], reply.get("usage") or {}
    return Reply(choice["message"].get("content") or "", int(usage.get("prompt_tokens", 0)),
                 int(usage.get("completion_tokens", 0)), choice.get("finish_reason") or "stop")


def check(model: str) -> None:
    """A ConfigError now, before any request, for a missing package or a damaged model file."""
    if is_local(model):
        _llama_cpp()
        ensure_model_file(model, engine().cache_dir)


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
PROVIDER = in_process(PREFIX, answer, window=context_window, tokenizer=tokenizer, concurrency=1, check=check,
                      structured=True)


def register(*models: str) -> None:
    """Serve `local/...` model strings through litellm (idempotent); check the named local models."""
    for model in models:
        PROVIDER.register(model)
