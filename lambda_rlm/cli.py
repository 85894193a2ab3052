"""The command line: takes argv, gives exit codes; `check`, `run`, `ask`, `bench` and `trace`.

Exit codes: 0 success; 1 the program is invalid (syntax, type, termination, cost, import);
2 usage error; 3 the run failed (a leaf failed for good, a runtime error); 4 a budget refused
or stopped the run; 5 configuration error (model, key, input file); 130 interrupted.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from . import __version__
from .errors import BudgetExceeded, ConfigError, EvalError, LambdaError, LeafError, NameError_

EXIT_OK, EXIT_INVALID, EXIT_USAGE, EXIT_RUN, EXIT_BUDGET, EXIT_CONFIG, EXIT_INTERRUPT = 0, 1, 2, 3, 4, 5, 130


def _tokens(text: str) -> int:
    """Parse 8000, 8k, 1.5m, 1_000_000."""
    t = text.strip().lower().replace("_", "").replace(",", "")
    scale = {"k": 1_000, "m": 1_000_000}.get(t[-1:], 1)
    try:
        value = float(t[:-1] if scale > 1 else t) * scale
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a token count: {text!r} (try 8000, 32k or 1m)") from None
    if value < 0:
        raise argparse.ArgumentTypeError("token counts are not negative")
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


def _window(text: str) -> int:
    value = _tokens(text)
    if value < 256:
        raise argparse.ArgumentTypeError(f"a window of {value} tokens is too small to hold a prompt (256 at least)")
    return value


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="lambda-rlm", description="Typed recursive LLM programs over long documents.")
    p.add_argument("--debug", action="store_true", help="show Python tracebacks")
    p.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    # Each subcommand takes --debug too (after its own arguments, where users type it); SUPPRESS
    # keeps a subcommand that was not given it from resetting the top-level flag.
    debug = argparse.ArgumentParser(add_help=False)
    debug.add_argument("--debug", action="store_true", default=argparse.SUPPRESS, help="show Python tracebacks")
    sub = _WithParents(p.add_subparsers(dest="command", required=True), [debug])

    c = sub.add_parser("check", help="type-check a program and print its cost bound")
    c.add_argument("program", help="a .lam file")
    c.add_argument("--input-tokens", type=_tokens, default=100_000, help="document size (default 100k)")
    c.add_argument("--window", type=_window, default=8192, help="model window in tokens (default 8192)")
    c.add_argument("--output-tokens", type=_tokens, default=512, help="max output tokens per call")
    c.add_argument("--json", action="store_true", help="print the result as JSON")

    r = sub.add_parser("run", help="run a program on a document")
    r.add_argument("program", help="a .lam file")
    r.add_argument("--input", default="-", help="the document: a file, or - for stdin (default)")
    r.add_argument("--arg", action="append", default=[], metavar="NAME=VALUE", help="another input of main")
    _run_options(r)

    from .ask_cli import add_parser as add_ask

    add_ask(sub)

    from .bench_cli import add_parser as add_bench

    add_bench(sub)

    tr = sub.add_parser("trace", help="show a JSONL trace as a tree")
    tr.add_argument("file")
    return p


class _WithParents:
    """The subparsers action, adding the common options to every subcommand it creates."""

    def __init__(self, sub: Any, parents: list[argparse.ArgumentParser]) -> None:
        self._sub, self._parents = sub, parents

    def add_parser(self, name: str, **kw: Any) -> argparse.ArgumentParser:
        return self._sub.add_parser(name, parents=[*self._parents, *kw.pop("parents", [])], **kw)  # type: ignore[no-any-return]


def _run_options(r: argparse.ArgumentParser) -> None:
    r.add_argument("--model", default=None, help="a litellm model string or a Router config file")
    r.add_argument("--api-base", default=None, help="base URL of an OpenAI-compatible server")
    r.add_argument("--window", type=_window, default=None, help="the model's window in tokens")
    r.add_argument("--output-tokens", type=_tokens, default=None, help="max output tokens per call")
    r.add_argument("--concurrency", type=positive, default=8, help="requests in flight at once (default 8)")
    r.add_argument("--max-calls", type=whole, default=None, help="refuse or stop the run beyond this many model calls")
    r.add_argument("--max-tokens", type=_tokens, default=None, help="… beyond this many tokens, prompts and replies")
    r.add_argument("--max-usd", type=dollars, default=None, help="… beyond this cost in US dollars (litellm's prices)")
    r.add_argument("--deadline", type=positive_seconds, default=None, help="… beyond this many seconds")
    r.add_argument("--timeout", type=positive_seconds, default=120.0, help="seconds per request (default 120)")
    r.add_argument("--max-attempts", type=positive, default=8,
                   help="tries per request on rate limits, server errors and timeouts (default 8)")
    r.add_argument("--reasks", type=whole, default=4,
                   help="re-asks of a reply that does not decode to the leaf's type (default 4)")
    cache_options(r)
    r.add_argument("--trace", default=None, metavar="FILE", help="append a JSONL trace to FILE")
    r.add_argument("--json", action="store_true", help="print the value and statistics as JSON")
    r.add_argument("--quiet", action="store_true", help="no progress bar")


def cache_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--no-cache", action="store_true", help="neither read nor write the leaf cache")
    p.add_argument("--cache-dir", default=None,
                   help="the leaf cache's folder (default $LAMBDA_RLM_CACHE_DIR, else ~/.cache/lambda-rlm)")


def main(argv: Sequence[str] | None = None) -> int:
    args = parser().parse_args(argv)
    try:
        if args.command == "check":
            return check(args)
        if args.command == "run":
            return run(args)
        if args.command == "trace":
            return show_trace(args)
        if args.command == "ask":
            from .ask_cli import run as ask

            return ask(args)
        if args.command == "bench":
            from .bench_cli import run as bench

            return bench(args, argv)
        raise AssertionError(args.command)
    except KeyboardInterrupt:
        resume = " Completed model calls are cached: rerun the same command to resume." if args.command in (
            "run", "ask", "bench") else ""
        print(f"interrupted.{resume}", file=sys.stderr)
        return EXIT_INTERRUPT
    except LambdaError as exc:
        if args.debug:
            raise
        print(exc.format(), file=sys.stderr)
        return _exit_code(exc)


def _exit_code(exc: LambdaError) -> int:
    if isinstance(exc, BudgetExceeded):
        return EXIT_BUDGET
    if isinstance(exc, ConfigError):
        return EXIT_CONFIG
    if isinstance(exc, LeafError | EvalError):
        return EXIT_RUN
    return EXIT_INVALID


def check(args: argparse.Namespace) -> int:
    from .program import compile
    from .runtime import Config, cost_model
    from .tokens import cl100k

    program = compile(Path(args.program))
    if program.main is None:
        print(f"{args.program}: library module, {len(program.defs)} definitions checked")
        return EXIT_OK
    config = Config(window=args.window, output_tokens=args.output_tokens)
    b = program.bound(cost_model(config, cl100k()), args.input_tokens)
    if args.json:
        print(json.dumps({"type": program.type, "bound": b.as_dict(),
                          "leaves": [_leaf(lf) for lf in b.leaves]}, indent=2))
        return EXIT_OK
    print(f"main : {program.type}")
    print(f"bound for a document of {b.input_tokens:,} tokens, window {b.window:,}, "
          f"output ≤ {b.max_output_tokens:,} tokens per call:")
    part = f"    τ = {b.tau:,}, k = {b.k:,}" if b.tau is not None else ""
    print(f"  calls ≤ {b.calls:,}    depth ≤ {b.depth}{part}")
    print(f"  prompt ≤ {b.max_prompt_tokens:,} tokens per call, ≤ {b.total_prompt_tokens:,} in total")
    for lf in b.leaves:
        print(f"  leaf {lf.span.location()}  {lf.type}  prompt ≤ {lf.prompt_tokens:,} tokens")
    return EXIT_OK


def read_document(where: str) -> str:
    """The document from a file or stdin, as text; bad input is a ConfigError, not a traceback."""
    try:
        stream = sys.stdin.buffer if where == "-" else open(where, "rb")  # noqa: SIM115
        with stream:
            head = stream.read(65536)
            if b"\x00" in head:  # decided before reading the rest, so a huge binary costs nothing
                raise ConfigError(f"the document '{where}' looks binary (it contains NUL bytes); give a text file")
            data = head + stream.read()
    except OSError as exc:
        raise ConfigError(f"cannot read the document '{where}': {exc.strerror or exc}") from None
    if not data.strip():
        raise ConfigError(f"the document '{where}' is empty: there is nothing to ask about")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ConfigError(f"the document '{where}' is not valid UTF-8 (byte {exc.start})",
                          notes=["convert it first, e.g. iconv -f latin1 -t utf-8"]) from None


def config_from(args: argparse.Namespace, **overrides: Any) -> Any:
    from .runtime import Config

    fields: dict[str, Any] = {
        "api_base": args.api_base, "concurrency": args.concurrency, "max_calls": args.max_calls,
        "max_tokens": args.max_tokens, "max_usd": args.max_usd, "deadline_s": args.deadline,
        "timeout_s": args.timeout, "use_cache": not args.no_cache, "cache_dir": args.cache_dir,
        "trace_path": args.trace, "max_attempts": args.max_attempts, "reasks": args.reasks,
    }
    for name in ("model", "window"):
        if getattr(args, name) is not None:
            fields[name] = getattr(args, name)
    if args.output_tokens is not None:
        fields["output_tokens"] = args.output_tokens
    fields.update(overrides)
    return Config(**fields)


def run(args: argparse.Namespace) -> int:
    from .program import compile
    from .runtime import run as run_program

    program = compile(Path(args.program))
    if program.main is None:
        raise NameError_(f"{args.program} has no 'main' definition to run",
                         notes=["`lambda-rlm check` accepts library modules; `run` needs a main"])
    inputs = {}
    for item in args.arg:
        name, eq, value = item.partition("=")
        if not eq:
            raise ConfigError(f"--arg takes NAME=VALUE, not {item!r}")
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            raise ConfigError(f"the value of --arg {name} is not valid UTF-8") from None
        inputs[name] = value
    document = read_document(args.input)
    config = config_from(args)
    with progress(not args.quiet and not args.json) as listener:
        result = run_program(program, document, config, on_event=listener, **inputs)
    print_result(result, args.json)
    return EXIT_OK


def print_result(result: Any, as_json: bool) -> None:
    from .values import show, to_json

    if as_json:
        print(json.dumps({"value": to_json(result.value), **result.stats()}, ensure_ascii=False, indent=2))
    else:
        print(show(result.value))


def progress(enabled: bool) -> Any:
    """A context giving an event listener that draws a progress bar on stderr when it is a terminal."""
    from .progress import Progress

    return Progress(enabled and sys.stderr.isatty())


def show_trace(args: argparse.Namespace) -> int:
    from .progress import render_trace
    from .trace import read

    try:
        events = read(args.file)
    except OSError as exc:
        raise ConfigError(f"cannot read the trace '{args.file}': {exc.strerror or exc}") from None
    except UnicodeDecodeError:
        raise ConfigError(f"'{args.file}' is not a trace written by lambda-rlm (it is not UTF-8 text)") from None
    render_trace(events)
    return EXIT_OK


def _leaf(lf: Any) -> dict[str, Any]:
    return {"location": lf.span.location(), "type": lf.type, "prompt_tokens": lf.prompt_tokens,
            "output_tokens": lf.output_tokens}


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
