"""The command line: takes argv, gives exit codes; `check`, `run`, `ask`, `bench`, `calibrate` and `trace`.

An error exits with its class's code (`LambdaError.exit_code`, listed in lambda_rlm/core/errors.py);
2 is a usage error, 130 an interrupt and 141 a reader of stdout that went away (`| head -1`), with
no traceback. The options every subcommand shares are in `options`.
"""

from __future__ import annotations

import argparse
import atexit
import contextlib
import os
import sys
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any, NoReturn

from lambda_rlm.core import VERSION as __version__
from lambda_rlm.core.errors import (
    EXIT_CLOSED_PIPE,
    EXIT_INTERRUPT,
    EXIT_OK,
    ConfigError,
    LambdaError,
    UnboundNameError,
)

from .options import config_from, print_result, progress, read_document, run_options, tokens, window


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
    c.add_argument("--import-dir", action="append", default=[], metavar="DIR",
                   help="a folder whose files the program may import, besides its own (repeatable)")
    c.add_argument("--input-tokens", type=tokens, default=100_000, help="document size (default 100k)")
    c.add_argument("--model", default=None, help="bound the program for this model: its window and its tokenizer")
    c.add_argument("--window", type=window, default=None,
                   help="model window in tokens (default: the model's own when known, else 8192)")
    c.add_argument("--output-tokens", type=tokens, default=512, help="max output tokens per call")
    c.add_argument("--json", action="store_true", help="print the result as JSON")

    r = sub.add_parser("run", help="run a program on a document")
    r.add_argument("program", help="a .lam file")
    r.add_argument("--import-dir", action="append", default=[], metavar="DIR",
                   help="a folder whose files the program may import, besides its own (repeatable)")
    r.add_argument("--input", default="-", help="the document: a file, or - for stdin (default)")
    r.add_argument("--arg", action="append", default=[], metavar="NAME=VALUE", help="another input of main")
    run_options(r)

    from .ask import add_parser as add_ask

    add_ask(sub)

    from .bench import add_parser as add_bench

    add_bench(sub)

    from .calibrate import add_parser as add_calibrate

    add_calibrate(sub)

    tr = sub.add_parser("trace", help="show a JSONL trace as a tree")
    tr.add_argument("file")
    return p


class _WithParents:
    """The subparsers action, adding the common options to every subcommand it creates."""

    def __init__(self, sub: Any, parents: list[argparse.ArgumentParser]) -> None:
        self._sub, self._parents = sub, parents

    def add_parser(self, name: str, **kw: Any) -> argparse.ArgumentParser:
        return self._sub.add_parser(name, parents=[*self._parents, *kw.pop("parents", [])], **kw)  # type: ignore[no-any-return]


def main(argv: Sequence[str] | None = None) -> int:
    try:
        with warnings.catch_warnings():
            # litellm calls an in-process provider's `acompletion` in a worker thread, then awaits the
            # coroutine it returns; a run that a deadline or budget cuts cancels that await, and the
            # coroutine, never started, is reported when collected. Nothing ran, so nothing is lost.
            warnings.filterwarnings("ignore", r"coroutine '.*\.InProcessLLM\.acompletion' was never awaited",
                                    RuntimeWarning)
            code = _main(argv)
        sys.stdout.flush()  # here, so a closed pipe is caught below and not at interpreter exit
        return code
    except BrokenPipeError:
        # What is left to print has no reader: send it nowhere, so the flush at exit fails no more.
        null = os.open(os.devnull, os.O_WRONLY)
        os.dup2(null, sys.stdout.fileno())
        return EXIT_CLOSED_PIPE


def console_main() -> NoReturn:
    """The `lambda-rlm` command: `main`, then a quick exit.

    A process that loaded litellm spends a second or more tearing its ~3,000 modules down at exit.
    Everything of ours is closed by the time `main` returns (a session closes its trace and its
    cache connection), so once the exit handlers have run (litellm's log flush, logging's shutdown)
    and the output is flushed, the process ends at once.
    """
    code = main()
    if "litellm" not in sys.modules:
        sys.exit(code)
    atexit._run_exitfuncs()  # what a normal exit runs first; os._exit skips it
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(OSError, ValueError):
            stream.flush()
    os._exit(code)


def _main(argv: Sequence[str] | None) -> int:
    args = parser().parse_args(argv)
    try:
        if args.command == "check":
            return check(args)
        if args.command == "run":
            return run(args)
        if args.command == "trace":
            return show_trace(args)
        if args.command == "ask":
            from .ask import run as ask

            return ask(args)
        if args.command == "bench":
            from .bench import run as bench

            return bench(args, argv)
        if args.command == "calibrate":
            from .calibrate import run as calibrate

            return calibrate(args)
        raise AssertionError(args.command)
    except KeyboardInterrupt:
        resume = " Completed model calls are cached: rerun the same command to resume." if args.command in (
            "run", "ask", "bench", "calibrate") else ""
        print(f"interrupted.{resume}", file=sys.stderr)
        return EXIT_INTERRUPT
    except LambdaError as exc:
        if args.debug:
            raise
        print(exc.format(), file=sys.stderr)
        if getattr(args, "json", False) and args.command in ("check", "run", "ask"):  # still one JSON document
            from .output import document, error

            several = bool(getattr(args, "asked", None) or getattr(args, "questions", None))  # one document a line
            print(document(args.command, several, model=getattr(args, "model", None),
                           question=getattr(args, "question", None), error=error(exc)))
        return exc.exit_code


def check(args: argparse.Namespace) -> int:
    from lambda_rlm.analysis.program import compile
    from lambda_rlm.runtime.session import FALLBACK_WINDOW, Config, cost_model, default_tokenizer
    from lambda_rlm.text.tokens import cl100k

    program = compile(Path(args.program), import_dirs=args.import_dir)
    if program.main is None:
        print(f"{args.program}: library module, {len(program.defs)} definitions checked")
        return EXIT_OK
    if args.model is None:  # no model: the window given, else the fallback every command uses
        config = Config(window=args.window or FALLBACK_WINDOW, output_tokens=args.output_tokens)
        tokenizer = cl100k()
    else:  # the same rule as run and ask: the window given, else the model's own
        config = Config(model=args.model, window=args.window, output_tokens=args.output_tokens).resolved()
        tokenizer = default_tokenizer(args.model)
    b = program.bound(cost_model(config, tokenizer), args.input_tokens)
    if args.json:
        from .output import document

        print(document("check", type=program.type, bound=b.as_dict(), leaves=[_leaf(lf) for lf in b.leaves]))
        return EXIT_OK
    print(f"main : {program.type}")
    print(f"bound for a document of {b.input_tokens:,} tokens, window {b.window:,}, "
          f"output ≤ {b.max_output_tokens:,} tokens per call:")
    part = f"    τ = {b.tau:,}, k = {b.k:,}" if b.tau is not None else ""
    part += f"    {b.batch:,} records per labelling leaf" if b.batch is not None else ""
    print(f"  calls ≤ {b.calls:,}    depth ≤ {b.depth}{part}")
    print(f"  prompt ≤ {b.max_prompt_tokens:,} tokens per call, ≤ {b.total_prompt_tokens:,} in total")
    for lf in b.leaves:
        print(f"  leaf {lf.span.location()}  {lf.type}  prompt ≤ {lf.prompt_tokens:,} tokens")
    return EXIT_OK


def run(args: argparse.Namespace) -> int:
    from lambda_rlm.analysis.program import compile
    from lambda_rlm.models.backend import run_sync
    from lambda_rlm.runtime.session import Session, prepare, refuse_dearer_than

    program = compile(Path(args.program), import_dirs=args.import_dir)
    if program.main is None:
        raise UnboundNameError(f"{args.program} has no 'main' definition to run",
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
    planned = prepare(program, document, config, **inputs)
    if config.limits.max_usd is not None:
        refuse_dearer_than(planned.bound, planned.config)
    with progress(not args.quiet and not args.json) as listener, Session(planned.config, listener) as session:
        result = run_sync(session.arun(planned))
    print_result(result, args.json, "run", model=config.model)
    return EXIT_OK


def show_trace(args: argparse.Namespace) -> int:
    from lambda_rlm.runtime.trace import read

    from .progress import render_trace

    try:
        events = read(args.file)
    except OSError as exc:
        raise ConfigError(f"cannot read the trace '{args.file}': {exc.strerror or exc}") from None
    except UnicodeDecodeError:
        raise ConfigError(f"'{args.file}' is not a trace written by lambda-rlm (it is not UTF-8 text)") from None
    try:
        render_trace(events)
    except (KeyError, TypeError, ValueError, AttributeError, OverflowError) as exc:  # 10**400 s in a .2f too
        what = f"no {exc.args[0]!r}" if isinstance(exc, KeyError) else "a field of the wrong kind"
        raise ConfigError(f"'{args.file}' is not a trace written by lambda-rlm: an event has {what}") from None
    return EXIT_OK


def _leaf(lf: Any) -> dict[str, Any]:
    return {"location": lf.span.location(), "type": lf.type, "prompt_tokens": lf.prompt_tokens,
            "output_tokens": lf.output_tokens}


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
