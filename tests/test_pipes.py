"""A reader of stdout that goes away (`| head -1`) ends the command quietly: exit 0 or 141, never a traceback.

The reader here closes the pipe before the command writes anything, so every write to stdout
fails (a reader that leaves after one line makes the same failure, but only when it wins a race).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
QUESTION = "What is the special magic number for north-gate mentioned in the provided text?"


def with_stdout_closed(args: list[str], tmp_path: Path) -> tuple[int, str]:
    """Run the command with its stdout's reader gone from the start; its exit code and stderr."""
    env = {**os.environ, "LAMBDA_RLM_CACHE_DIR": str(tmp_path / "cache")}
    proc = subprocess.Popen([sys.executable, "-m", "lambda_rlm", *args], cwd=ROOT, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, env=env)
    assert proc.stdout is not None and proc.stderr is not None
    proc.stdout.close()
    err = proc.stderr.read().decode()
    return proc.wait(timeout=300), err


@pytest.fixture
def files(tmp_path: Path) -> dict[str, str]:
    doc = tmp_path / "doc.txt"
    doc.write_text("The special magic number for north-gate is 7342.\n" + "Nothing else happened.\n" * 2000,
                   encoding="utf-8")
    program = tmp_path / "count.lam"
    program.write_text("def main (doc : Text) : Int = len (lines doc)\n", encoding="utf-8")
    trace = tmp_path / "trace.jsonl"
    trace.write_text(json.dumps({"t": 0.1, "event": "run_start", "program": "p", "bound": {}, "model": "m"}) + "\n",
                     encoding="utf-8")
    return {"doc": str(doc), "program": str(program), "trace": str(trace)}


@pytest.mark.parametrize("command", [
    ["ask", QUESTION, "{doc}", "--model", "reference/4k", "--explain", "--quiet", "--task", "search"],
    ["ask", QUESTION, "{doc}", "--model", "reference/4k", "--dry-run", "--task", "search"],
    ["run", "{program}", "--input", "{doc}", "--model", "reference/4k", "--quiet"],
    ["check", "{program}"],
    ["trace", "{trace}"],
    ["bench", "--task", "sniah", "--lengths", "2k", "--n", "1", "--model", "reference/4k", "--quiet"],
], ids=["ask --explain", "ask --dry-run", "run", "check", "trace", "bench"])
def test_a_closed_stdout_ends_the_command_without_a_traceback(command: list[str], files: dict[str, str],
                                                              tmp_path: Path) -> None:
    args = [a.format(**files) for a in command]
    if args[0] == "bench":
        args += ["--out", str(tmp_path / "out")]
    code, err = with_stdout_closed(args, tmp_path)
    assert code in (0, 141) and "Traceback" not in err and "BrokenPipe" not in err, err


def test_ask_explain_keeps_stdout_for_the_answer(files: dict[str, str], tmp_path: Path) -> None:
    done = subprocess.run([sys.executable, "-m", "lambda_rlm", "ask", QUESTION, files["doc"], "--model", "reference/4k",
                           "--explain", "--quiet", "--task", "search"], cwd=ROOT, capture_output=True, text=True,
                          env={**os.environ, "LAMBDA_RLM_CACHE_DIR": str(tmp_path / "cache")}, timeout=300)
    assert done.returncode == 0, done.stderr
    assert "task: search" in done.stderr and "bound:" in done.stderr  # the explanation on stderr
    assert done.stdout == "7342\n"  # and only the answer on stdout
