"""The embedded model's prompt states on disk: takes a model file and context size, gives the cache llama.cpp reads.

Every leaf prompt puts the document's piece first and the question after it, so the second question
about a piece, in this process or a later one, shares that piece's tokens with the first. After each
completion llama.cpp saves its state (the KV cache of every token read) under the tokens it read;
before the next it loads the state whose tokens share the longest prefix with the new prompt and
reads only the rest. The states live in one folder per model file (its sha256), context size and
llama-cpp-python version, so a state is never served to another model, and a different document
shares at most the tokens that really are the same (the instructions before it).

This is llama-cpp-python's own cache interface (`BaseLlamaCache`, `Llama.set_cache`) over
`diskcache`, which llama-cpp-python already depends on. Its `LlamaDiskCache` prints to stderr on
every write and drops a state once it is read; this one is quiet, keeps a state until the size limit
evicts the least recently used, and stores a state without its logits (a 512 × vocabulary array,
311 MB for Qwen2.5, needed only for log-probabilities, which the runtime never asks for).
"""

from __future__ import annotations

import functools
import importlib
import os
from pathlib import Path
from typing import Any

from lambda_rlm.core.errors import ConfigError
from lambda_rlm.core.paths import default_cache_dir

from .model_files import LocalModel

SIZE_VARIABLE = "LAMBDA_RLM_LOCAL_STATES_MB"  # disk for prompt states, all models together; 0 turns them off
DEFAULT_MB = 2048


def limit_mb() -> int:
    """The disk the states may take, in MB: $LAMBDA_RLM_LOCAL_STATES_MB, else 2,048 (0: no states)."""
    configured = os.environ.get(SIZE_VARIABLE, "")
    if not configured:
        return DEFAULT_MB
    if not configured.isdigit():
        raise ConfigError(f"{SIZE_VARIABLE} must be a whole number of megabytes (0 turns states off), "
                          f"not {configured!r}")
    return int(configured)


def folder(spec: LocalModel, n_ctx: int, cache_dir: str | Path | None = None) -> Path:
    """Where the states of this model file at this context size are kept."""
    version = getattr(importlib.import_module("llama_cpp"), "__version__", "unknown")
    root = Path(cache_dir) if cache_dir is not None else default_cache_dir()
    return root / "llama-states" / f"{spec.name}-{spec.sha256[:16]}-ctx{n_ctx}-llama_cpp{version}"


def cache_for(spec: LocalModel, n_ctx: int, cache_dir: str | Path | None = None) -> Any | None:
    """The state cache for `Llama.set_cache`, or None when states are turned off."""
    megabytes = limit_mb()
    if megabytes == 0:
        return None
    return _cache_class()(folder(spec, n_ctx, cache_dir), megabytes << 20)


@functools.cache
def _cache_class() -> type[Any]:
    """`PrefixStates`, defined on first use: it subclasses llama_cpp's cache, which imports numpy."""
    import diskcache
    import numpy as np
    from llama_cpp.llama import Llama, LlamaState
    from llama_cpp.llama_cache import BaseLlamaCache

    class PrefixStates(BaseLlamaCache):
        """llama.cpp states by the tokens they hold; a lookup finds the longest shared prefix."""

        def __init__(self, where: Path, capacity_bytes: int) -> None:
            super().__init__(capacity_bytes)
            self.cache = diskcache.Cache(str(where), size_limit=capacity_bytes,
                                         eviction_policy="least-recently-used")
            self.hits = 0  # states served, in this process

        @property
        def cache_size(self) -> int:
            return int(self.cache.volume())

        def _find_longest_prefix_key(self, key: tuple[int, ...]) -> tuple[int, ...] | None:
            best, longest = None, 0
            for stored in self.cache.iterkeys():
                shared = Llama.longest_token_prefix(stored, key)
                if shared > longest:
                    best, longest = stored, shared
            return best

        def __getitem__(self, key: Any) -> Any:
            found = self._find_longest_prefix_key(tuple(key))
            state = None if found is None else self.cache.get(found)  # a get marks it recently used
            if state is None:
                raise KeyError("no state shares a prefix with this prompt")
            self.hits += 1
            return state

        def __contains__(self, key: Any) -> bool:
            return self._find_longest_prefix_key(tuple(key)) is not None

        def __setitem__(self, key: Any, value: Any) -> None:
            logits = np.zeros((1, value.scores.shape[1]), dtype=np.single)  # broadcast back on load
            light = LlamaState(input_ids=value.input_ids, scores=logits, n_tokens=value.n_tokens,
                               llama_state=value.llama_state, llama_state_size=value.llama_state_size,
                               seed=value.seed)
            self.cache.set(tuple(key), light)  # evicts the least recently used past the size limit

    return PrefixStates
