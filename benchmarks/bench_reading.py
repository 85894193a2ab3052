"""Early stop against the exhaustive reading: the leaves a lookup reads, and its score, on the reference model.

Run: python benchmarks/bench_reading.py [--tasks sniah,codeqa] [--lengths 128k,1m] [--n 20]
Runs `lambda-rlm bench --baseline plan` twice on the same questions (seed 0, no leaf cache): once
as shipped, where ranked reading stops at the first wave that answers, and once with `--read-all`,
where it reads every piece. Prints per task and length the score of each and the median leaves
(model calls) per question, and the ratio of the medians.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
from collections import defaultdict
from pathlib import Path


def bench(out: Path, args: argparse.Namespace, *extra: str) -> dict[tuple[str, int], list[dict[str, object]]]:
    command = [sys.executable, "-m", "lambda_rlm", "bench", "--task", args.tasks, "--lengths", args.lengths,
               "--n", str(args.n), "--model", args.model, "--baseline", "plan", "--no-cache", "--quiet",
               "--out", str(out), *extra]
    subprocess.run(command, check=True, stdout=subprocess.DEVNULL)
    rows: dict[tuple[str, int], list[dict[str, object]]] = defaultdict(list)
    for line in (out / "results.jsonl").read_text(encoding="utf-8").splitlines():
        row = json.loads(line)
        rows[(row["task"], row["length"])].append(row)
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tasks", default="sniah,codeqa")
    parser.add_argument("--lengths", default="128k,1m")
    parser.add_argument("--n", type=int, default=20)
    parser.add_argument("--model", default="reference/32k")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as scratch:
        early = bench(Path(scratch) / "early", args)
        full = bench(Path(scratch) / "full", args, "--read-all")
    print(f"{'task':<8} {'length':>9}   {'score early / all':>17}   {'median leaves early / all':>25}   ratio")
    for key in sorted(early):
        def score(rows: list[dict[str, object]]) -> float:
            return statistics.mean(float(r["score"]) for r in rows)  # type: ignore[arg-type]

        def leaves(rows: list[dict[str, object]]) -> float:
            return statistics.median(int(r["calls"]) for r in rows)  # type: ignore[call-overload]

        a, b = leaves(early[key]), leaves(full[key])
        print(f"{key[0]:<8} {key[1]:>9,}   {score(early[key]):>7.2f} / {score(full[key]):<7.2f}   "
              f"{a:>12g} / {b:<10g}   {a / b:.2f}")
    print(f"\nmodel {args.model}, n = {args.n} per task and length, seed 0")


if __name__ == "__main__":
    main()
