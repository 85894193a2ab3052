"""The `lambda-rlm` command as a user runs it: a real subprocess against a real local OpenAI-compatible server."""

from __future__ import annotations

import contextlib
import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from openai_server import OpenAIServer, ServerState

ROOT = Path(__file__).resolve().parent.parent
SEARCH = ROOT / "examples" / "search.lam"
NEEDLE = re.compile(r"The special magic number for (\w+) is (\d+)\.")


def reader(messages: list[dict[str, Any]]) -> str:
    """Answers a leaf only from the text of its own prompt."""
    prompt = next(str(m["content"]) for m in messages if m["role"] == "user")
    found = NEEDLE.search(prompt)
    return found.group(2) if found else "NONE"


def document(sentences: int, needle_at: int) -> str:
    words = ["lantern", "harbour", "quietly", "seven", "maps", "under", "a", "copper", "sky", "drifted"]
    out = []
    for i in range(sentences):
        if i == needle_at:
            out.append("The special magic number for apple is 48213.")
        out.append(" ".join(words[(i * 3 + j) % 10] for j in range(8 + i % 5)).capitalize() + f" (line {i}).")
        if i % 7 == 6:
            out.append("\n\n")
    return " ".join(out)


def cli(*args: str, stdin: str | None = None, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "LITELLM_LOCAL_MODEL_COST_MAP": "True"}
    return subprocess.run([sys.executable, "-m", "lambda_rlm", *args], input=stdin, capture_output=True,
                          text=True, timeout=timeout, env=env, cwd=ROOT)


@pytest.fixture
def server() -> Any:
    with OpenAIServer(ServerState(reply=reader)) as s:
        yield s


def run_args(server: OpenAIServer, cache: Path, *extra: str) -> list[str]:
    return ["run", str(SEARCH), "--model", "openai/test-model", "--api-base", server.base_url, "--window", "1024",
            "--output-tokens", "32", "--cache-dir", str(cache), "--arg", "question=What is the magic number?",
            *extra]


def test_check_prints_the_type_and_bound() -> None:
    done = cli("check", str(SEARCH), "--input-tokens", "1m", "--window", "8000")
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("main : Text -> Text -> Text\n")
    assert re.search(r"calls ≤ \d+", done.stdout)


def test_run_pipes_a_document_through_a_local_server(server: OpenAIServer, tmp_path: Path) -> None:
    doc = document(400, 250)
    done = cli(*run_args(server, tmp_path / "c", "--json", "--trace", str(tmp_path / "t.jsonl")), stdin=doc)
    assert done.returncode == 0, done.stderr
    out = json.loads(done.stdout)
    assert out["value"] == "48213"
    assert out["calls"] == server.state.served <= out["bound"]["calls"]
    assert "Traceback" not in done.stderr
    shown = cli("trace", str(tmp_path / "t.jsonl"))
    assert shown.returncode == 0 and "run_end" in shown.stdout and shown.stdout.count("leaf ") >= out["calls"]


def test_a_killed_run_resumes_without_paying_twice(server: OpenAIServer, tmp_path: Path) -> None:
    from lambda_rlm.models.cache import LeafCache

    server.state.latency_s = 0.15
    doc = document(600, 500)
    docfile = tmp_path / "doc.txt"
    docfile.write_text(doc)
    args = [sys.executable, "-m", "lambda_rlm", *run_args(server, tmp_path / "c", "--input", str(docfile),
                                                          "--concurrency", "2", "--quiet")]
    proc = subprocess.Popen(args, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            env={**os.environ, "LITELLM_LOCAL_MODEL_COST_MAP": "True"})
    deadline = time.monotonic() + 60
    while server.state.served < 6 and time.monotonic() < deadline:
        time.sleep(0.02)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    paid_before = server.state.served
    cached = len(LeafCache(tmp_path / "c"))
    assert 0 < cached <= paid_before

    server.state.latency_s = 0.0
    done = cli(*run_args(server, tmp_path / "c", "--input", str(docfile), "--json"))
    assert done.returncode == 0, done.stderr
    out = json.loads(done.stdout)
    assert out["value"] == "48213"
    assert out["cache_hits"] == cached
    # Every leaf that finished before the kill came from the cache; only the others were paid for.
    assert server.state.served - paid_before == out["calls"]
    assert out["calls"] + out["cache_hits"] <= out["bound"]["calls"]
    uninterrupted = cli(*run_args(server, tmp_path / "fresh", "--input", str(docfile), "--json"))
    assert json.loads(uninterrupted.stdout)["value"] == out["value"]


def test_sigint_stops_cleanly_and_says_how_to_resume(server: OpenAIServer, tmp_path: Path) -> None:
    server.state.latency_s = 1.0
    server.state.reply = lambda messages: "NONE"  # no piece answers, so ranked reading goes on to the last
    docfile = tmp_path / "doc.txt"
    docfile.write_text(document(600, 500))
    # One leaf at a time: after the first, several remain for 1 s each, so the interrupt never
    # comes after the last one, even when a loaded machine polls the trace seconds late.
    args = [sys.executable, "-m", "lambda_rlm", *run_args(server, tmp_path / "c", "--input", str(docfile),
                                                          "--quiet", "--trace", str(tmp_path / "t.jsonl"),
                                                          "--concurrency", "1")]
    # The run starts with Ctrl-C's default action, as from a shell: an ignored SIGINT is inherited
    # across exec, so one that an earlier test left ignored in this process would hide the interrupt.
    inherited = signal.getsignal(signal.SIGINT)
    proc = subprocess.Popen(args, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env={**os.environ, "LITELLM_LOCAL_MODEL_COST_MAP": "True"},
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    trace = tmp_path / "t.jsonl"
    deadline = time.monotonic() + 60
    # Interrupt once a leaf has finished (its event is on disk), with more still to come.
    while not (trace.exists() and '"leaf_end"' in trace.read_text()) and time.monotonic() < deadline:
        time.sleep(0.02)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=30)
    assert proc.returncode == 130, (inherited, err[-2000:])
    assert "Traceback" not in err and "rerun" in err
    events = [json.loads(line)["event"] for line in (tmp_path / "t.jsonl").read_text().splitlines()]
    assert "run_start" in events and "leaf_end" in events


@pytest.mark.parametrize(("args", "stdin", "code", "message"), [
    (["run", str(SEARCH), "--arg", "question=q", "--model", "openai/x", "--api-base", "http://127.0.0.1:9/v1",
      "--input", "/nonexistent/doc.txt"], None, 5, "cannot read the document"),
    (["run", str(SEARCH), "--arg", "question=q"], "\x00\x01binary", 5, "looks binary"),
    (["run", str(SEARCH), "--arg", "question=q"], None, 5, "not valid UTF-8"),
    (["run", str(SEARCH)], "text", 5, "needs the input 'question'"),
    (["check", "README.md"], None, 1, "syntax error"),
    (["check", "nope.lam"], None, 1, "cannot read program file"),
    (["frobnicate"], None, 2, "invalid choice"),
    (["check", str(SEARCH), "--window", "lots"], None, 2, "not a token count"),
])
def test_bad_input_gets_one_clear_error_and_an_exit_code(args: list[str], stdin: str | None, code: int,
                                                         message: str) -> None:
    if "not valid UTF-8" in message:
        done = subprocess.run([sys.executable, "-m", "lambda_rlm", *args], input=b"caf\xe9 au lait",
                              capture_output=True, timeout=60, cwd=ROOT)
        err = done.stderr.decode()
    else:
        done2 = cli(*args, stdin=stdin)
        done, err = done2, done2.stderr
    assert done.returncode == code, err
    assert message in err and "Traceback" not in err


@pytest.mark.parametrize(("sentences", "plan"), [(12, "direct"), (400, "search")])
def test_ask_reads_stdin_and_answers_through_a_local_server(server: OpenAIServer, tmp_path: Path,
                                                              sentences: int, plan: str) -> None:
    """`cat doc.txt | lambda-rlm ask "…" --model openai/NAME --api-base URL`, short and long documents."""
    doc = document(sentences, sentences // 2)
    done = cli("ask", "What is the special magic number for apple?", "--model", "openai/test-model",
               "--api-base", server.base_url, "--window", "1024", "--output-tokens", "32",
               "--cache-dir", str(tmp_path / "c"), "--explain", stdin=doc)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip().splitlines()[-1] == "48213"
    assert f"plan: {plan}" in done.stdout + done.stderr
    bound = int(re.search(r"bound: calls ≤ ([\d,]+)", done.stderr).group(1).replace(",", ""))  # type: ignore[union-attr]
    # A short document is one call; a long one may take one per chunk, and reads the best chunk first.
    assert server.state.served == 1 and (bound == 1) == (plan == "direct")
    assert "Traceback" not in done.stderr


def test_the_readme_s_offline_first_example_answers_without_a_download(tmp_path: Path) -> None:
    """The README's first question, on the reference model: no model file, the right code."""
    readme = (ROOT / "README.md").read_text()
    command = ('lambda-rlm ask "What is the access code for the north gate?" examples/data/harbour_report.txt '
               "--model reference/32k")
    assert command in readme
    done = cli("ask", "What is the access code for the north gate?", "examples/data/harbour_report.txt",
               "--model", "reference/32k", "--cache-dir", str(tmp_path), "--quiet")
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "7342"


def test_one_rule_gives_the_window_to_every_command_and_the_python_api(tmp_path: Path) -> None:
    """The window given, else the model's own where it is known, else 8,192: check, run, ask and
    `prepare` all bound reference/32k with its 32,768 tokens."""
    from lambda_rlm.runtime.session import Config, prepare

    checked = json.loads(cli("check", str(SEARCH), "--model", "reference/32k", "--json").stdout)
    assert checked["bound"]["window"] == 32_768
    assert json.loads(cli("check", str(SEARCH), "--json").stdout)["bound"]["window"] == 8_192  # no model named
    assert json.loads(cli("check", str(SEARCH), "--model", "reference/32k", "--window", "4k",
                          "--json").stdout)["bound"]["window"] == 4_000  # the flag wins
    ran = cli("run", str(SEARCH), "--model", "reference/32k", "--arg", "question=q", "--cache-dir", str(tmp_path),
              "--json", "--quiet", stdin="a short document")
    assert ran.returncode == 0, ran.stderr
    assert json.loads(ran.stdout)["bound"]["window"] == 32_768
    asked = cli("ask", "What is the code?", "-", "--model", "reference/32k", "--dry-run", "--json",
                stdin="a short document")
    assert json.loads(asked.stdout)["bound"]["window"] == 32_768
    assert prepare(SEARCH, "a short document", Config(model="reference/32k"), question="q").config.window == 32_768
    assert Config(model="reference/32k", window=2048).resolved().window == 2048


def test_the_progress_bar_ends_with_one_summary_line(capsys: pytest.CaptureFixture[str]) -> None:
    from lambda_rlm.cli.progress import Progress

    with Progress(True) as bar:
        bar({"event": "run_start", "bound": {"calls": 10}})
        bar({"event": "leaf_end", "prompt_tokens": 1000, "completion_tokens": 20, "cost_usd": 0.001})
        bar({"event": "run_end", "calls": 2, "cache_hits": 1, "prompt_tokens": 4000, "completion_tokens": 210,
             "cost_usd": 0.0012, "wall_s": 12.34})
    err = capsys.readouterr().err
    assert "done: 2 calls (1 from the cache), 4,210 tokens, $0.0012, 12.3 s" in err
    with Progress(True) as bar, contextlib.suppress(RuntimeError):  # a failed run leaves no summary
        bar({"event": "run_start", "bound": {"calls": 10}})
        raise RuntimeError("the run failed")
    assert "done:" not in capsys.readouterr().err


@pytest.mark.parametrize("example", sorted(p.name for p in (ROOT / "examples").glob("*.lam")))
def test_check_program_cost_and_a_run_agree_on_the_bound(example: str) -> None:
    """For the same window: `check` and `Program.cost` give the same τ, k and bound for every example,
    and so does `prepare` for the reference model on a document and arguments of those sizes."""
    from lambda_rlm import compile as compile_program
    from lambda_rlm.runtime.session import Config, prepare
    from lambda_rlm.text.tokens import cl100k

    path = ROOT / "examples" / example
    keys = ("calls", "depth", "tau", "k", "max_prompt_tokens", "total_prompt_tokens")
    doc = " ".join(["word"] * 20_000)
    size = cl100k().count(doc)
    checked = json.loads(cli("check", str(path), "--input-tokens", str(size), "--window", "8192", "--json").stdout)
    program = compile_program(path)
    cost = program.cost(input_tokens=size, window=8192).as_dict()
    assert {k: checked["bound"][k] for k in keys} == {k: cost[k] for k in keys}
    args = {i.name: " ".join(["word"] * 256) for i in program.inputs[1:]}  # check's default size of an argument
    assert all(cl100k().count(v) == 256 for v in args.values())
    planned = prepare(program, doc, Config(model="reference/8k", window=8192), **args)
    assert {k: planned.bound.as_dict()[k] for k in keys} == {k: checked["bound"][k] for k in keys}
