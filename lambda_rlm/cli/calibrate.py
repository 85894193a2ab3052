"""`lambda-rlm calibrate MODEL`: takes a model, measures its profile on seeded probes, prints and stores it."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from lambda_rlm.core.errors import EXIT_OK


def add_parser(sub: Any) -> argparse.ArgumentParser:
    """Register `calibrate` on the subparsers of the main command line."""
    from .options import cache_options, positive, positive_seconds

    p: argparse.ArgumentParser = sub.add_parser(
        "calibrate", help="measure how many records a model labels reliably in one leaf",
        description="Label seeded probe records at several batch sizes and store the largest size whose "
                    "accuracy is within 5 points of the best (the model's profile, used by the plans).")
    p.add_argument("model", help="a litellm model string, e.g. local/qwen2.5-coder-0.5b")
    p.add_argument("--records", type=positive, default=40, help="probe records (default 40)")
    p.add_argument("--sizes", type=_sizes, default="5,10,20,40", help="batch sizes to try (default 5,10,20,40)")
    p.add_argument("--seed", type=int, default=0, help="seed of the probe (default 0)")
    p.add_argument("--api-base", default=None, help="base URL of an OpenAI-compatible server")
    p.add_argument("--timeout", type=positive_seconds, default=600.0, help="seconds per request (default 600)")
    p.add_argument("--write", default=None, metavar="FILE",
                   help="the profiles file to store it in (default: profiles.json in the cache folder)")
    cache_options(p)
    return p


def _sizes(text: str) -> list[int]:
    """Parse batch sizes separated by commas (an argparse type, so a bad one is a usage error)."""
    from .options import positive

    sizes = [positive(x) for x in text.split(",") if x.strip()]
    if not sizes:
        raise argparse.ArgumentTypeError(f"not a list of batch sizes: {text!r} (try 5,10,20,40)")
    return sizes


def run(args: argparse.Namespace) -> int:
    from lambda_rlm.bench.calibrate import Trial, calibrate, save
    from lambda_rlm.strategies.plan import resolve_config

    sizes = args.sizes
    config = resolve_config(model=args.model).changed(api_base=args.api_base, timeout_s=args.timeout,
                     use_cache=not args.no_cache, cache_dir=args.cache_dir)

    def shown(trial: Trial) -> None:
        votes = f", {trial.votes} votes" if trial.votes > 1 else ""
        print(f"  {trial.size:>4} records per leaf{votes}: {trial.correct}/{trial.total} right "
              f"({trial.accuracy:.0%}) in {trial.seconds:.0f} s", file=sys.stderr, flush=True)

    print(f"calibrating {args.model} on {args.records} probe records (seed {args.seed})", file=sys.stderr)
    result = calibrate(config, args.records, sizes, args.seed, shown)
    where = save(result.profile, Path(args.write) if args.write else None)
    votes = result.profile.label_votes
    voted = f", {votes} samples voted per leaf" if votes else ""
    print(f"{args.model}: {result.profile.label_records} records per labelling leaf{voted} (stored in {where})")
    return EXIT_OK
