"""Fault tolerance at the default retry settings: 30% injected faults over many leaves, then a resume.

Run: python benchmarks/bench_faults.py [--leaves 500] [--seeds 10] [--rate 0.3]
Each seed runs a map of about `--leaves` Int leaves against tests/providers.py's fault provider
(429 with Retry-After, 500, timeouts, dropped connections, hangs, empty and undecodable replies)
with `Config`'s default `max_attempts` and `reasks` (backoff waits shortened so the script is
quick). A run whose leaf fails for good stops with one error; the script then reruns it, as a user
would, and counts the calls the rerun made: only the leaves that had not finished.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))

from providers import registered  # noqa: E402
from test_faults import INT_MAP, FastRetries, TypedFaultProvider  # noqa: E402

from lambda_rlm.core.errors import LambdaError
from lambda_rlm.runtime.session import Config, run


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--leaves", type=int, default=500)
    ap.add_argument("--seeds", type=int, default=10)
    ap.add_argument("--rate", type=float, default=0.3)
    args = ap.parse_args()
    doc = " ".join(f"word{i}" for i in range(args.leaves * 60))
    defaults = Config()
    print(f"{args.rate:.0%} faults, max_attempts={defaults.max_attempts}, reasks={defaults.reasks} (the defaults)")
    failed_runs = total_leaves = 0
    for seed in range(args.seeds):
        with tempfile.TemporaryDirectory() as cache:
            cfg = FastRetries(model="lrfault/m", window=1024, output_tokens=64, cache_dir=cache, timeout_s=0.15)
            provider = TypedFaultProvider(lambda messages: "7", rate=args.rate, seed=seed)
            with registered(lrfault=provider):
                try:
                    result = run(INT_MAP, doc, cfg)
                    total_leaves += result.calls
                    print(f"seed {seed}: {result.calls} leaves, {len(provider.injected)} faults, answer complete")
                    continue
                except LambdaError as exc:
                    failed_runs += 1
                    first = exc.message.splitlines()[0]
                # The user's next step: the same command again (faults keep coming); completed
                # leaves come from the cache.
                for rerun in range(1, 6):
                    again = TypedFaultProvider(lambda messages: "7", rate=args.rate, seed=seed + 1000 * rerun)
                    try:
                        with registered(lrfault=again):
                            result = run(INT_MAP, doc, cfg)
                    except LambdaError:
                        continue
                    total_leaves += result.calls + result.cache_hits
                    print(f"seed {seed}: stopped ({first[:80]}); rerun {rerun}: {result.cache_hits} leaves from "
                          f"the cache, {result.calls} new calls, answer complete")
                    break
                else:
                    print(f"seed {seed}: stopped, and five reruns did not complete")
    print(f"{failed_runs} of {args.seeds} runs stopped on a leaf that failed every retry; "
          f"{total_leaves} leaves in all")


if __name__ == "__main__":
    main()
