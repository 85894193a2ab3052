"""Start-up: `lambda-rlm ask` on a 100-token document against a local OpenAI-compatible server that answers at once.

Run: python benchmarks/bench_startup.py [--n 3]
Each command runs --n times in a fresh process, one at a time; the table shows the median wall
time and its ratio to `python -c pass` measured in the same run. The rows break the `ask` time
down: the interpreter, importing our command line, importing litellm alone (with its local price
table, as the runtime does), and `ask` with the leaf cache off (every run makes its one request)
and with a warm cache (the reply is served from disk). The server is a thread of this script.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

DOCUMENT = " ".join(["The north gate opens at seven and the access code for it is 4417."] * 7)
QUESTION = "What is the access code for the north gate?"


class Instant(BaseHTTPRequestHandler):
    """Answers every chat completion at once with the same short reply."""

    protocol_version = "HTTP/1.1"

    def log_message(self, *args: object) -> None:
        pass

    def do_POST(self) -> None:  # noqa: N802 - http.server's name
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        body = json.dumps({
            "id": "chatcmpl-1", "object": "chat.completion", "created": int(time.time()), "model": "stub",
            "choices": [{"index": 0, "finish_reason": "stop", "message": {"role": "assistant", "content": "4417"}}],
            "usage": {"prompt_tokens": 120, "completion_tokens": 2, "total_tokens": 122},
        }).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


def timed(command: list[str], env: dict[str, str], stdin: str = "") -> float:
    start = time.perf_counter()
    done = subprocess.run(command, input=stdin, env=env, capture_output=True, text=True, timeout=300)
    wall = time.perf_counter() - start
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(command)} failed ({done.returncode}):\n{done.stderr[-2000:]}")
    return wall


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=3)
    args = parser.parse_args()
    server = ThreadingHTTPServer(("127.0.0.1", 0), Instant)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    base = f"http://127.0.0.1:{server.server_address[1]}/v1"
    py = sys.executable
    with tempfile.TemporaryDirectory() as cache:
        env = {**os.environ, "LAMBDA_RLM_CACHE_DIR": cache, "LITELLM_LOCAL_MODEL_COST_MAP": "True"}
        ask = [py, "-m", "lambda_rlm", "ask", QUESTION, "-", "--model", "openai/stub", "--api-base", base,
               "--window", "4096", "--quiet"]
        rows = {
            "python -c pass": ([py, "-c", "pass"], ""),
            "import lambda_rlm.cli.app": ([py, "-c", "import lambda_rlm.cli.app"], ""),
            "lambda-rlm ask --help": ([py, "-m", "lambda_rlm", "ask", "--help"], ""),
            "import litellm": ([py, "-c", "import litellm"], ""),
            "ask, no cache": ([*ask, "--no-cache"], DOCUMENT),
            "ask, cached reply": (ask, DOCUMENT),
        }
        timed(ask, env, DOCUMENT)  # fills the cache for the last row, and every .pyc file
        walls = {name: [timed(cmd, env, stdin) for _ in range(args.n)] for name, (cmd, stdin) in rows.items()}
    server.shutdown()
    floor = statistics.median(walls["python -c pass"])
    print(f"{'command':<28} {'median wall':>12} {'× python -c pass':>18}   runs (s)")
    for name, values in walls.items():
        median = statistics.median(values)
        print(f"{name:<28} {median:>11.2f}s {median / floor:>17.0f}×   " + ", ".join(f"{v:.2f}" for v in values))
    print(f"\n{Path(py).name} {sys.version.split()[0]}, {os.cpu_count()} cores, n = {args.n}")


if __name__ == "__main__":
    main()
