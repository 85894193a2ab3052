"""Wall time of `lambda-rlm check EXAMPLE --input-tokens 1m --window 8000`, interpreter start included.

Run: python benchmarks/bench_check.py [--runs N]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=5)
    args = ap.parse_args()
    command = Path(sys.executable).parent / "lambda-rlm"
    print(f"{'example':<12}{'median':>9}{'min':>9}{'max':>9}   (load average {os.getloadavg()[0]:.2f})")
    for example in sorted((ROOT / "examples").glob("*.lam")):
        times = []
        for _ in range(args.runs):
            t = time.perf_counter()
            subprocess.run([str(command), "check", str(example), "--input-tokens", "1m", "--window", "8000"],
                           check=True, capture_output=True)
            times.append(time.perf_counter() - t)
        print(f"{example.stem:<12}{statistics.median(times):>8.2f}s{min(times):>8.2f}s{max(times):>8.2f}s")


if __name__ == "__main__":
    main()
