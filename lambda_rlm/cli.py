"""The command line: takes argv, gives exit codes; `check`, `run` and `trace`.

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

from .errors import BudgetExceeded, ConfigError, EvalError, LambdaError, LeafError

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


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="lambda-rlm", description="Typed recursive LLM programs over long documents.")
    p.add_argument("--debug", action="store_true", help="show Python tracebacks")
    sub = p.add_subparsers(dest="command", required=True)

    c = sub.add_parser("check", help="type-check a program and print its cost bound")
    c.add_argument("program", help="a .lam file")
    c.add_argument("--input-tokens", type=_tokens, default=100_000, help="document size (default 100k)")
    c.add_argument("--window", type=_tokens, default=8192, help="model window in tokens (default 8192)")
    c.add_argument("--output-tokens", type=_tokens, default=512, help="max output tokens per call")
    c.add_argument("--json", action="store_true", help="print the result as JSON")
    return p


def main(argv: Sequence[str] | None = None) -> int:
    args = parser().parse_args(argv)
    try:
        if args.command == "check":
            return check(args)
        raise AssertionError(args.command)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
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

    program = compile(Path(args.program))
    if program.main is None:
        print(f"{args.program}: library module, {len(program.defs)} definitions checked")
        return EXIT_OK
    b = program.cost(input_tokens=args.input_tokens, window=args.window, output_tokens=args.output_tokens)
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


def _leaf(lf: Any) -> dict[str, Any]:
    return {"location": lf.span.location(), "type": lf.type, "prompt_tokens": lf.prompt_tokens,
            "output_tokens": lf.output_tokens}


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
