"""The command line's shared options: takes argv strings, gives checked values, a Config, the document, progress.

Every subcommand module (`main`, `ask`, `bench`) builds on this one and none on another,
so the command line has no import circle. The argparse types refuse values no limit could mean
(negative, NaN, zero) as usage errors.
"""

from __future__ import annotations

import argparse
import os
import stat
import sys
from typing import Any

from lambda_rlm.core.errors import ConfigError

MAX_TOKENS = 10**12  # more than any document or window: a larger count is a typo, or infinity


def tokens(text: str) -> int:
    """Parse 8000, 8k, 1.5m, 1_000_000."""
    t = text.strip().lower().replace("_", "").replace(",", "")
    scale = {"k": 1_000, "m": 1_000_000}.get(t[-1:], 1)
    try:
        value = float(t[:-1] if scale > 1 else t) * scale
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a token count: {text!r} (try 8000, 32k or 1m)") from None
    if value < 0:
        raise argparse.ArgumentTypeError("token counts are not negative")
    if not value <= MAX_TOKENS:  # inf, nan and 1e400 too
        raise argparse.ArgumentTypeError(f"not a token count: {text!r} (at most {MAX_TOKENS:,})")
    return int(value)


def whole(text: str) -> int:
    """Parse a whole number that is not negative (an argparse type)."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a whole number: {text!r}") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"must not be negative, not {value}")
    return value


def positive(text: str) -> int:
    """Parse a whole number of at least 1 (an argparse type)."""
    value = whole(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be 1 or more, not {value}")
    return value


def positive_seconds(text: str) -> float:
    """Parse a number of seconds above 0 (an argparse type)."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number of seconds: {text!r}") from None
    if not value > 0 or value == float("inf"):
        raise argparse.ArgumentTypeError(f"must be a number of seconds above 0, not {text}")
    return value


def dollars(text: str) -> float:
    """Parse an amount of US dollars, 0 or more (an argparse type)."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not an amount of dollars: {text!r}") from None
    if not 0 <= value < float("inf"):
        raise argparse.ArgumentTypeError(f"must be an amount of dollars, 0 or more, not {text}")
    return value


def window(text: str) -> int:
    value = tokens(text)
    if value < 256:
        raise argparse.ArgumentTypeError(f"a window of {value} tokens is too small to hold a prompt (256 at least)")
    return value


def run_options(r: argparse.ArgumentParser) -> None:
    r.add_argument("--model", default=None, help="a litellm model string or a Router config file")
    r.add_argument("--api-base", default=None, help="base URL of an OpenAI-compatible server")
    r.add_argument("--api-key", default=None, help="the provider's key (prefer its environment variable: a key on "
                   "the command line is visible to other users of the machine)")
    r.add_argument("--window", type=window, default=None, help="the model's window in tokens")
    r.add_argument("--output-tokens", type=tokens, default=None, help="max output tokens per call")
    r.add_argument("--concurrency", type=positive, default=8, help="requests in flight at once (default 8)")
    r.add_argument("--max-calls", type=whole, default=None, help="refuse or stop the run beyond this many model calls")
    r.add_argument("--max-tokens", type=tokens, default=None, help="… beyond this many tokens, prompts and replies")
    r.add_argument("--max-usd", type=dollars, default=None, help="… beyond this cost in US dollars (litellm's prices)")
    r.add_argument("--deadline", type=positive_seconds, default=None,
                   help="… beyond this many seconds (counted once the model client has loaded)")
    r.add_argument("--timeout", type=positive_seconds, default=120.0, help="seconds per request (default 120)")
    r.add_argument("--max-attempts", type=positive, default=8,
                   help="tries per request on rate limits, server errors and timeouts (default 8)")
    r.add_argument("--reasks", type=whole, default=4,
                   help="re-asks of a reply that does not decode to the leaf's type (default 4)")
    cache_options(r)
    read_all_option(r)
    r.add_argument("--trace", default=None, metavar="FILE", help="append a JSONL trace to FILE")
    r.add_argument("--json", action="store_true", help="print the value and statistics as JSON")
    r.add_argument("--quiet", action="store_true", help="no progress bar")


def read_all_option(p: argparse.ArgumentParser) -> None:
    p.add_argument("--read-all", action="store_true",
                   help="read every piece even after one answers (no early stop: the exhaustive reading)")


def cache_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--no-cache", action="store_true", help="neither read nor write the leaf cache")
    p.add_argument("--cache-dir", default=None,
                   help="the leaf cache's folder (default $LAMBDA_RLM_CACHE_DIR, else ~/.cache/lambda-rlm)")


def read_document(where: str) -> str:
    """The document from a file or stdin, as text; bad input is a ConfigError, not a traceback."""
    if where == "-" and sys.stdin.isatty():  # nothing piped in: say what is awaited instead of waiting silently
        print("reading the document from the terminal; end it with Ctrl-D (or give a file)", file=sys.stderr)
    elif where != "-" and _is_fifo(where):  # opening a FIFO waits for a writer, maybe forever: say so first
        print(f"reading the document from the FIFO '{where}': waiting for a writer (Ctrl-C to stop)", file=sys.stderr)
    try:
        stream = sys.stdin.buffer if where == "-" else open(where, "rb")  # noqa: SIM115
        with stream:
            head = stream.read(65536)
            if b"\x00" in head:  # decided before reading the rest, so a huge binary costs nothing
                raise ConfigError(f"the document '{where}' looks binary (it contains NUL bytes); give a text file")
            data = head + stream.read() if len(head) == 65536 else head  # shorter: the end was read (on a
            # terminal, a second read would wait for a second Ctrl-D)
    except OSError as exc:
        raise ConfigError(f"cannot read the document '{where}': {exc.strerror or exc}") from None
    if not data.strip():
        raise ConfigError(f"the document '{where}' is empty: there is nothing to ask about")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ConfigError(f"the document '{where}' is not valid UTF-8 (byte {exc.start})",
                          notes=["convert it first, e.g. iconv -f latin1 -t utf-8"]) from None


def _is_fifo(path: str) -> bool:
    try:
        return stat.S_ISFIFO(os.stat(path).st_mode)
    except (OSError, ValueError):  # missing, unreadable or a NUL in the name: the open below says which
        return False


def config_from(args: argparse.Namespace, **overrides: Any) -> Any:
    from lambda_rlm.runtime.session import Config

    fields: dict[str, Any] = {
        "api_base": args.api_base, "api_key": args.api_key, "concurrency": args.concurrency,
        "max_calls": args.max_calls,
        "max_tokens": args.max_tokens, "max_usd": args.max_usd, "deadline_s": args.deadline,
        "timeout_s": args.timeout, "use_cache": not args.no_cache, "cache_dir": args.cache_dir,
        "trace_path": args.trace, "max_attempts": args.max_attempts, "reasks": args.reasks,
        "read_all": args.read_all,
    }
    for name in ("model", "window"):
        if getattr(args, name) is not None:
            fields[name] = getattr(args, name)
    if args.output_tokens is not None:
        fields["output_tokens"] = args.output_tokens
    fields.update(overrides)
    return Config(**fields)


def print_result(result: Any, as_json: bool, command: str = "run", compact: bool = False, **fields: Any) -> None:
    """The value alone, or with `--json` the output document (lambda_rlm/cli/output.py) of `command`."""
    from lambda_rlm.core.values import show, to_json

    from .output import document

    if as_json:
        print(document(command, compact, value=to_json(result.value), **result.stats(), **fields), flush=True)
    else:
        print(show(result.value), flush=True)


def progress(enabled: bool) -> Any:
    """A context giving an event listener that draws a progress bar on stderr when it is a terminal."""
    from .progress import Progress

    return Progress(enabled and sys.stderr.isatty())
