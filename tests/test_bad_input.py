"""Bad input at the command line: each case gets one clear paragraph on stderr and a documented exit
code, never a Python traceback (unless `--debug` asks for it). tests/test_cli.py has the first cases
(missing file, NUL bytes, latin-1, missing input, README as a program, unknown command).

Exit codes (README): 0 success, 1 invalid program, 2 usage, 3 run failed, 4 budget, 5 configuration.
Most cases call `lambda_rlm.cli.app.main` in this process (an exception escaping it is what would be a
traceback); big inputs, `--debug` and the missing key run as real subprocesses, the big ones under a
small parent process that measures their peak resident memory.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import re
import socket
import subprocess
import sys
import threading
import time
import traceback
from collections.abc import Iterator
from pathlib import Path

import pytest
from openai_server import OpenAIServer, ServerState

ROOT = Path(__file__).resolve().parent.parent
SEARCH = ROOT / "examples" / "search.lam"
UNREACHABLE = "http://127.0.0.1:9/v1"  # nothing listens on the discard port
# Runs the command given after it and reports its peak resident memory on stderr.
MEASURE = ("import resource, subprocess, sys; rc = subprocess.call(sys.argv[1:]); "
           "print(f'peak_rss_kb={resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss}', file=sys.stderr); "
           "sys.exit(rc)")


def cli(*args: str, stdin: bytes | str | None = None, env: dict[str, str] | None = None,
        timeout: float = 120) -> subprocess.CompletedProcess[str]:
    data = stdin.encode() if isinstance(stdin, str) else stdin
    done = subprocess.run([sys.executable, "-m", "lambda_rlm", *args], input=data, capture_output=True,
                          timeout=timeout, env=env or base_env(), cwd=ROOT)
    return subprocess.CompletedProcess(done.args, done.returncode, done.stdout.decode(errors="replace"),
                                       done.stderr.decode(errors="replace"))


def main(*args: str, stdin: bytes | str = b"") -> subprocess.CompletedProcess[str]:
    """`lambda-rlm ARGS` in this process: its exit code and output; an escaping exception's
    traceback is put on stderr, as the interpreter would print it."""
    from lambda_rlm.cli import app as command

    data = stdin.encode() if isinstance(stdin, str) else stdin
    out, err = io.StringIO(), io.StringIO()
    saved = sys.stdin
    sys.stdin = io.TextIOWrapper(io.BytesIO(data))
    try:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            try:
                code: int | None = command.main(list(args))
            except SystemExit as exc:  # argparse
                code = exc.code if isinstance(exc.code, int) else 1
            except KeyboardInterrupt:
                raise
            except BaseException:
                err.write(traceback.format_exc())
                code = 1
    finally:
        sys.stdin = saved
    return subprocess.CompletedProcess(list(args), code, out.getvalue(), err.getvalue())


def measured(*args: str, timeout: float) -> tuple[subprocess.CompletedProcess[str], float, float]:
    """Run the command; give its result, wall time in seconds and peak RSS in MB."""
    start = time.monotonic()
    done = subprocess.run([sys.executable, "-c", MEASURE, sys.executable, "-m", "lambda_rlm", *args],
                          capture_output=True, text=True, timeout=timeout, env=base_env(), cwd=ROOT)
    wall = time.monotonic() - start
    found = re.search(r"peak_rss_kb=(\d+)", done.stderr)
    assert found, done.stderr
    err = done.stderr[: found.start()]
    return subprocess.CompletedProcess(done.args, done.returncode, done.stdout, err), wall, int(found[1]) / 1024


def base_env() -> dict[str, str]:
    return {**os.environ, "LITELLM_LOCAL_MODEL_COST_MAP": "True"}


def one_clear_error(done: subprocess.CompletedProcess[str], code: int, *words: str) -> None:
    """Exit `code`, the words in stderr, no traceback, and an error that is one paragraph (plus the
    source excerpt and notes an error may carry)."""
    assert done.returncode == code, (done.returncode, done.stderr)
    assert "Traceback" not in done.stderr, done.stderr
    for word in words:
        assert word in done.stderr, done.stderr
    first = done.stderr.strip().splitlines()[0] if done.stderr.strip() else ""
    assert re.search(r"(error|exceeded|usage)", first), done.stderr


def run_args(*extra: str, api_base: str = UNREACHABLE) -> list[str]:
    return ["run", str(SEARCH), "--arg", "question=What is the number?", "--model", "openai/test-model",
            "--api-base", api_base, "--no-cache", "--quiet", *extra]


@pytest.fixture(scope="module")
def server() -> Iterator[OpenAIServer]:
    with OpenAIServer(ServerState(reply=lambda messages: "NONE")) as s:
        yield s


# ---------------------------------------------------------------------------- documents


def test_empty_input_is_refused_with_a_clear_error(server: OpenAIServer, tmp_path: Path) -> None:
    one_clear_error(main(*run_args(api_base=server.base_url), stdin=""), 5, "empty")


@pytest.mark.parametrize("stdin", ["", "   \n\n\t  \n"])
def test_empty_input_never_reaches_the_model_nor_crashes(stdin: str, server: OpenAIServer, tmp_path: Path) -> None:
    server.state.reset()
    server.state.reply = lambda messages: "NONE"
    empty = tmp_path / "empty.txt"
    empty.write_text(stdin)
    for done in (main(*run_args(api_base=server.base_url), stdin=stdin),
                 main(*run_args("--input", str(empty), api_base=server.base_url))):
        assert done.returncode in (0, 5), done.stderr
        assert "Traceback" not in done.stderr
    assert server.state.requests <= 2  # whitespace may make one leaf per run; nothing else


@pytest.mark.parametrize("question", ["", "   "])
def test_an_empty_question_is_refused_before_any_call(question: str, server: OpenAIServer, tmp_path: Path) -> None:
    server.state.reset()
    doc = tmp_path / "doc.txt"
    doc.write_text("The access code is 7342.\n")
    done = main("ask", question, str(doc), "--model", "openai/test-model", "--api-base", server.base_url,
                "--no-cache", "--quiet")
    one_clear_error(done, 5, "question is empty")
    assert server.state.requests == 0


def test_a_terminal_on_stdin_is_told_what_is_awaited(tmp_path: Path) -> None:
    import os
    import pty

    leader, follower = pty.openpty()
    proc = subprocess.Popen([sys.executable, "-m", "lambda_rlm", "ask", "What is the code?", "--model",
                             "reference/4k", "--quiet"], stdin=follower, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, env={**os.environ, "LAMBDA_RLM_CACHE_DIR": str(tmp_path)})
    os.close(follower)
    os.write(leader, b"\x04")  # Ctrl-D at once: an empty document
    try:
        _, err = proc.communicate(timeout=120)
    finally:
        os.close(leader)
    assert "reading the document from the terminal; end it with Ctrl-D" in err.decode()
    assert proc.returncode == 5 and b"Traceback" not in err


def test_a_one_gigabyte_binary_file_is_refused(tmp_path: Path) -> None:
    sparse = tmp_path / "huge.bin"
    with sparse.open("wb") as f:
        f.truncate(1 << 30)  # sparse: 1 GB of NUL bytes that takes no disk space
    done, wall, peak_mb = measured(*run_args("--input", str(sparse)), timeout=120)
    print(f"\n1 GB of NUL bytes: refused in {wall:.1f} s, peak RSS {peak_mb:.0f} MB")
    one_clear_error(done, 5, "looks binary", "huge.bin")
    assert wall < 60


def test_a_binary_file_is_refused_without_reading_all_of_it(tmp_path: Path) -> None:
    sparse = tmp_path / "big.bin"
    with sparse.open("wb") as f:
        f.truncate(400 << 20)
    done, _, peak_mb = measured(*run_args("--input", str(sparse)), timeout=120)
    assert done.returncode == 5
    assert peak_mb < 200, f"peak RSS {peak_mb:.0f} MB to refuse a 400 MB binary file"


def test_invalid_utf8_deep_inside_a_file_names_the_byte(tmp_path: Path) -> None:
    doc = tmp_path / "doc.txt"
    doc.write_bytes(b"plain text " * 10_000 + b"\xff\xfe" + b" more text")
    one_clear_error(main(*run_args("--input", str(doc))), 5, "not valid UTF-8", "byte 110000")


@pytest.mark.slow
def test_a_hundred_megabyte_line_without_whitespace_is_refused_by_the_budget(tmp_path: Path) -> None:
    line = tmp_path / "line.txt"
    with line.open("wb") as f:
        for _ in range(100):
            f.write(b"x" * 1_000_000)
    done, wall, peak_mb = measured(*run_args("--input", str(line), "--max-calls", "1"), timeout=300)
    print(f"\n100 MB line: refused in {wall:.1f} s, peak RSS {peak_mb:.0f} MB")
    one_clear_error(done, 4, "more than --max-calls 1", "nothing was run")
    assert wall < 120, f"{wall:.0f} s to refuse"
    assert peak_mb < 1024, f"peak RSS {peak_mb:.0f} MB for a 100 MB document"


@pytest.mark.slow
def test_a_one_gigabyte_text_file_is_refused_by_the_budget(tmp_path: Path) -> None:
    text = tmp_path / "big.txt"
    sentence = b"Lantern harbour quietly seven maps under a copper sky drifted.\n"
    block = sentence * (1_000_000 // len(sentence))
    with text.open("wb") as f:
        while f.tell() < 1 << 30:
            f.write(block)
    done, wall, peak_mb = measured(*run_args("--input", str(text), "--max-calls", "1"), timeout=900)
    print(f"\n1 GB text: refused in {wall:.1f} s, peak RSS {peak_mb:.0f} MB")
    text.unlink()
    one_clear_error(done, 4, "more than --max-calls 1", "nothing was run")
    assert wall < 600, f"{wall:.0f} s to refuse"
    assert peak_mb < 4096, f"peak RSS {peak_mb:.0f} MB for a 1 GB document"


# ----------------------------------------------------------------------------- programs

NOT_PROGRAMS: list[tuple[str, bytes, int, str]] = [
    ("empty.lam", b"", 1, "no 'main' definition"),
    ("comment.lam", b"-- nothing but a comment\n", 1, "no 'main' definition"),
    ("library.lam", b"def helper (x : Int) : Int = x + 1\n", 1, "no 'main' definition"),
    ("image.lam", b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR", 1, "cannot read program file"),
    ("latin1.lam", b'def main (doc : Text) : Text = "caf\xe9"', 1, "cannot read program file"),
    ("data.lam", b'{"model": "gpt-4o", "messages": []}', 1, "syntax error"),
    ("script.py", b"import os\nos.system('touch pwned')\n", 1, "syntax error"),
    ("unclosed.lam", b'def main (doc : Text) : Text = llm """{doc}', 1, "syntax error"),
    ("untyped.lam", b"def main (doc : Text) : Int = doc", 1, "type error"),
    ("recursive.lam", b"def main (doc : Text) : Text = main doc", 1, "termination error"),
]


@pytest.mark.parametrize(("name", "content", "code", "words"), NOT_PROGRAMS, ids=[n[0] for n in NOT_PROGRAMS])
def test_a_file_that_is_not_a_program(name: str, content: bytes, code: int, words: str, tmp_path: Path) -> None:
    program = tmp_path / name
    program.write_bytes(content)
    done = main("run", str(program), "--model", "openai/x", "--api-base", UNREACHABLE, "--no-cache", stdin="text")
    one_clear_error(done, code, words)
    assert not (tmp_path / "pwned").exists() and not (ROOT / "pwned").exists()


def test_a_directory_as_program(tmp_path: Path) -> None:
    one_clear_error(main("check", str(tmp_path)), 1, "cannot read program file")


# ------------------------------------------------------------------------------ options

OPTIONS: list[tuple[list[str], int, str]] = [
    (["--frobnicate"], 2, "unrecognized arguments: --frobnicate"),
    (["--model"], 2, "expected one argument"),
    (["--deadline", "soon"], 2, "not a number of seconds"),
    (["--deadline", "-1"], 2, "seconds above 0"),  # was accepted, and the run stopped at once
    (["--deadline", "nan"], 2, "seconds above 0"),
    (["--max-usd", "-1"], 2, "dollars, 0 or more"),  # was accepted
    (["--max-usd", "nan"], 2, "dollars, 0 or more"),  # was accepted, and limited nothing
    (["--max-calls", "-3"], 2, "must not be negative"),
    (["--concurrency", "many"], 2, "not a whole number"),
    (["--window", "lots"], 2, "not a token count"),
    (["--window", "-5"], 2, "not negative"),
    (["--concurrency", "0"], 2, "must be 1 or more"),
    (["--timeout", "0"], 2, "seconds above 0"),
    (["--output-tokens", "0"], 5, "the output per call must be at least 1 token, not 0"),  # said "(None tokens)"
    (["--output-tokens", "9000", "--window", "8000"], 5, "window (8,000 tokens) must be larger than the output"),
    (["--max-calls", "0"], 4, "more than --max-calls 0"),
    (["--arg", "nope"], 5, "--arg takes NAME=VALUE"),
    (["--arg", "colour=red"], 5, "no input named colour"),
    (["--window", "10"], 2, "too small to hold a prompt"),
    (["--max-attempts", "0"], 2, "must be 1 or more"),
    (["--reasks", "-1"], 2, "must not be negative"),
]


@pytest.mark.parametrize(("extra", "code", "words"), OPTIONS, ids=[" ".join(o[0]) for o in OPTIONS])
def test_bad_options(extra: list[str], code: int, words: str) -> None:
    one_clear_error(main(*run_args(*extra), stdin="some text"), code, words)


def test_unknown_global_option_and_missing_command() -> None:
    one_clear_error(main("--frobnicate", "check", str(SEARCH)), 2, "unrecognized arguments")
    one_clear_error(main(), 2, "required")


BUGGY_OPTIONS: list[tuple[list[str], int, str]] = [
    (["--window", "0"], 2, "window"),  # was an AssertionError in partition.choose
    (["--trace", "/nonexistent/dir/t.jsonl"], 5, "trace"),  # FileNotFoundError from Trace.__init__
    (["--arg", "question=caf\udce9"], 5, "question"),  # UnicodeEncodeError in LeafRequest.key
]


@pytest.mark.parametrize(("extra", "code", "words"), BUGGY_OPTIONS, ids=["window-0", "trace-unwritable",
                                                                       "arg-invalid-utf8"])
def test_options_that_crash(extra: list[str], code: int, words: str, server: OpenAIServer) -> None:
    # A command-line byte that is not UTF-8 (here 0xe9) reaches Python as a lone surrogate (PEP 383).
    one_clear_error(main(*run_args(*extra, api_base=server.base_url), stdin="some text"), code, words)


def test_check_with_a_zero_window() -> None:
    one_clear_error(main("check", str(SEARCH), "--window", "0"), 2, "window")


def test_trace_of_a_binary_file(tmp_path: Path) -> None:
    junk = tmp_path / "junk.jsonl"
    junk.write_bytes(b"\xff\xfe\x00garbage\n")
    one_clear_error(main("trace", str(junk)), 5, "junk.jsonl")


# ------------------------------------------------------------------------------- models


def test_a_model_that_does_not_exist(server: OpenAIServer) -> None:
    server.state.reset()
    server.state.error_status = 404
    server.state.error_message = "The model `does-not-exist` does not exist or you do not have access to it."
    done = main("run", str(SEARCH), "--arg", "question=q", "--model", "openai/does-not-exist", "--api-base",
                server.base_url, "--no-cache", "--quiet", stdin="some text")
    one_clear_error(done, 5, "was not found", "openai/does-not-exist")
    assert server.state.requests == 1  # not retried: a missing model is not transient


class ConnectRecorder:
    """A TCP listener used as HTTP(S)_PROXY: any network attempt by the client shows up here."""

    def __init__(self) -> None:
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.hits: list[bytes] = []
        threading.Thread(target=self._serve, daemon=True).start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.sock.getsockname()[1]}"

    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            self.hits.append(conn.recv(200))
            conn.close()


KEYS = ("OPENAI_API_KEY", "ANTHROPIC_API_KEY", "OPENAI_ADMIN_KEY")


def test_a_missing_api_key_fails_fast_without_touching_the_network(tmp_path: Path) -> None:
    """The real command, with every proxy variable pointing at a recorder: no connection is tried."""
    proxy = ConnectRecorder()
    env = {k: v for k, v in base_env().items() if k not in (*KEYS, "NO_PROXY", "no_proxy")}
    env.update(HTTPS_PROXY=proxy.url, HTTP_PROXY=proxy.url, ALL_PROXY=proxy.url, https_proxy=proxy.url,
               http_proxy=proxy.url)
    start = time.monotonic()
    done = cli("run", str(SEARCH), "--arg", "question=q", "--model", "openai/gpt-4o-mini", "--cache-dir",
               str(tmp_path), stdin="some text", env=env)
    wall = time.monotonic() - start
    proxy.sock.close()
    one_clear_error(done, 5, "configuration error", "OPENAI_API_KEY")
    assert proxy.hits == [], "the client tried the network without a key"
    assert wall < 45, f"{wall:.1f} s (most of it is importing litellm)"


@pytest.mark.parametrize(("model", "variable"), [("gpt-4o-mini", "OPENAI_API_KEY"),
                                                 ("anthropic/claude-3-5-haiku-20241022", "ANTHROPIC_API_KEY")])
def test_a_missing_key_for_other_providers(model: str, variable: str, tmp_path: Path,
                                           monkeypatch: pytest.MonkeyPatch) -> None:
    """In this process, with socket connects and name lookups recorded."""
    for key in KEYS:
        monkeypatch.delenv(key, raising=False)
    tried: list[object] = []
    real_connect, real_lookup = socket.socket.connect, socket.getaddrinfo

    def connect(sock: socket.socket, address: object) -> None:
        tried.append(address)
        real_connect(sock, address)

    def lookup(host: object, *rest: object, **kw: object) -> object:
        tried.append(host)
        return real_lookup(host, *rest, **kw)  # type: ignore[arg-type]

    monkeypatch.setattr(socket.socket, "connect", connect)
    monkeypatch.setattr(socket, "getaddrinfo", lookup)
    done = main("run", str(SEARCH), "--arg", "question=q", "--model", model, "--cache-dir", str(tmp_path),
                stdin="some text")
    one_clear_error(done, 5, "configuration error", variable)
    assert tried == []


# -------------------------------------------------------------------------------- debug


@pytest.mark.parametrize("where", ["before the command", "after it"])
def test_debug_shows_the_traceback_that_is_otherwise_hidden(where: str) -> None:
    plain = cli(*run_args(), stdin=b"\x00\x01binary")
    args = ["--debug", *run_args()] if where == "before the command" else [*run_args(), "--debug"]
    debug = cli(*args, stdin=b"\x00\x01binary")
    one_clear_error(plain, 5, "looks binary")
    assert debug.returncode != 0
    assert "Traceback (most recent call last)" in debug.stderr
    assert "ConfigError" in debug.stderr and "looks binary" in debug.stderr


# ---------------------------------------------------------------------- found under attack

@pytest.mark.parametrize("option", [
    ("check", str(SEARCH), "--window", "inf"), ("check", str(SEARCH), "--input-tokens", "inf"),
    ("check", str(SEARCH), "--output-tokens", "infinity"), ("check", str(SEARCH), "--window", "1e400"),
    ("check", str(SEARCH), "--input-tokens", "nan"), ("run", str(SEARCH), "--max-tokens", "inf"),
    ("bench", "--lengths", "inf"),
], ids=lambda o: " ".join(o[2:] if o[0] != "bench" else o))
def test_an_infinite_count_is_a_usage_error(option: tuple[str, ...]) -> None:
    done = main(*option)
    assert done.returncode == 2 and "Traceback" not in done.stderr and "not a token count" in done.stderr


@pytest.mark.parametrize(("program", "says"), [
    ("def main (doc : Text) : List Int = " + "[" * 400 + "]" * 400, "nests too deeply to be checked"),
    ("def main (doc : Text) : Text = " + " ".join(f"let x{i} = doc in" for i in range(3000)) + " doc",
     "nests too deeply to be read"),
    ("\n".join(["def f0 (x : Text) : Text = x", *(f"def f{i} (x : Text) : Text = f{i - 1} x" for i in range(1, 2000)),
                "def main (doc : Text) : Text = f1999 doc"]), "nests its calls too deeply to be bounded"),
], ids=["brackets", "lets", "definitions"])
def test_a_deeply_nested_program_is_a_located_error(program: str, says: str, tmp_path: Path) -> None:
    path = tmp_path / "deep.lam"
    path.write_text(program + "\n")
    for command in ("check", "run"):
        done = main(command, str(path), stdin="some text")
        assert done.returncode == 1, done.stderr
        assert "Traceback" not in done.stderr and says in done.stderr and len(done.stderr) < 2_000


@pytest.mark.parametrize("lines", [
    ["42", "[1, 2]", '"text"', "null"],  # JSON that is no event
    ['{"event": "leaf_end"}', '{"event": "run_start", "program": [1]}'],  # events missing their fields
])
def test_a_malformed_trace_is_a_clear_error_or_shown(lines: list[str], tmp_path: Path) -> None:
    path = tmp_path / "trace.jsonl"
    path.write_text("\n".join(lines) + "\n")
    done = main("trace", str(path))
    assert done.returncode in (0, 5) and "Traceback" not in done.stderr, done.stderr


@pytest.mark.skipif(not Path("/dev/full").exists(), reason="needs /dev/full")
def test_a_trace_that_cannot_be_written_is_a_configuration_error() -> None:
    done = main("run", str(SEARCH), "--arg", "question=q", "--model", "reference/32k", "--trace", "/dev/full",
                stdin="some text to read")
    assert done.returncode == 5 and "Traceback" not in done.stderr
    assert "cannot write the trace '/dev/full'" in done.stderr


def test_more_instances_than_a_task_makes_is_a_configuration_error(tmp_path: Path) -> None:
    done = main("bench", "--task", "sniah", "--n", "100000", "--lengths", "1k", "--model", "reference/32k",
                "--out", str(tmp_path / "out"))
    assert done.returncode == 5 and "Traceback" not in done.stderr and "at most" in done.stderr


def test_an_unknown_model_is_a_configuration_error_with_no_program_line_and_a_whole_link() -> None:
    done = main("run", str(SEARCH), "--arg", "question=q", "--model", "nosuch/model", stdin="some text")
    assert done.returncode == 5 and "Traceback" not in done.stderr
    assert done.stderr.startswith("configuration error:")  # not located at a line of the plan
    assert "docs.ai" not in done.stderr and "docs.litellm.ai" in done.stderr  # the scrubber keeps links whole


@pytest.mark.parametrize("url", ["ht!tp://bad url", "localhost:8000", "ftp://host/v1", "http://"])
def test_a_malformed_api_base_is_refused_before_any_attempt(url: str) -> None:
    done = main("run", str(SEARCH), "--arg", "question=q", "--model", "openai/test", "--api-base", url,
                stdin="some text")
    assert done.returncode == 5 and "not an http(s) URL" in done.stderr and "attempts" not in done.stderr


def test_a_context_overflow_from_the_server_says_to_lower_the_window() -> None:
    state = ServerState(error_status=400, error_message="This model's maximum context length is 2048 tokens. "
                                                         "However, your messages resulted in 5000 tokens.")
    with OpenAIServer(state) as server:
        # in a process of its own: a real call leaves litellm's logging queue to the next in-process test
        done = cli("run", str(SEARCH), "--arg", "question=q", "--model", "openai/test", "--api-base",
                   server.base_url, "--window", "8k", "--no-cache", stdin="some text to read")
    assert done.returncode == 5 and "Traceback" not in done.stderr
    assert "longer than its context" in done.stderr and "--window" in done.stderr


def test_a_length_no_document_could_have_is_a_usage_error(tmp_path: Path) -> None:
    done = main("bench", "--task", "sniah", "--lengths", "8k,1e10", "--n", "1", "--model", "reference/32k",
                "--out", str(tmp_path / "out"))
    assert done.returncode == 2 and "Traceback" not in done.stderr
    assert "a length is at most 16,000,000 tokens" in done.stderr


@pytest.mark.parametrize(("program", "window", "tokens"), [
    ("examples/summarise.lam", "1k", "100m"),  # the merges' fan-out at every level is in the tens of thousands
    ("examples/summarise.lam", "8k", "100m"),
    ("fanout", "8k", "10m"),  # a divide whose fan-out is as large as the document allows
], ids=["summarise-1k", "summarise-8k", "fanout"])
def test_the_bound_of_a_huge_document_is_found_without_a_hang(program: str, window: str, tokens: str,
                                                              tmp_path: Path) -> None:
    if program == "fanout":
        program = str(tmp_path / "fan.lam")
        Path(program).write_text('def main (doc : Text) : Text =\n  divide 500 1000000 (\\p -> llm "Sum up: {p}") '
                                 '(\\x y -> llm "Merge {x} and {y}") doc\n')
    # A hang guard, not a speed target: the fan-out loop took over 100 s at 1m tokens before it stopped
    # at its fixed point; each of these cases now ends in about 2 s.
    done = cli("check", program, "--input-tokens", tokens, "--window", window, timeout=60)
    assert done.returncode in (0, 1) and "Traceback" not in done.stderr, done.stderr
    assert ("calls ≤" in done.stdout) if window == "8k" else ("more than the window" in done.stderr)


def test_a_fifo_without_a_writer_says_what_it_waits_for(tmp_path: Path) -> None:
    fifo = tmp_path / "doc.fifo"
    os.mkfifo(fifo)
    proc = subprocess.Popen([sys.executable, "-m", "lambda_rlm", "run", str(SEARCH), "--input", str(fifo), "--arg",
                             "question=q", "--model", "reference/32k", "--quiet"], stderr=subprocess.PIPE,
                            stdout=subprocess.DEVNULL, env=base_env(), cwd=ROOT, text=True)
    guard = threading.Timer(60, proc.kill)  # a silent wait would otherwise hang this test: end it, and fail
    guard.start()
    try:
        assert proc.stderr is not None
        line = proc.stderr.readline()  # said before the open that blocks
        assert "waiting for a writer" in line and str(fifo) in line
        with open(fifo, "w") as writer:  # a writer comes: the run goes on and answers from what it wrote
            writer.write("The number is 7342.\n")
        assert proc.wait(timeout=60) == 0
    finally:
        guard.cancel()
        proc.kill()


def test_a_very_long_question_is_read_in_linear_time_by_the_reference_model(tmp_path: Path) -> None:
    doc = tmp_path / "doc.txt"
    doc.write_text("The access code is 7342.\n")
    # A hang guard: the reference reader's question pattern was quadratic, over 120 s on 125k characters.
    done = cli("ask", "x" * 125_000, str(doc), "--model", "reference/32k", "--quiet", "--no-cache", timeout=60)
    assert done.returncode == 0 and "Traceback" not in done.stderr, done.stderr[-500:]


SLOW_IMPORT = """import sys, time


class SlowLitellm:  # litellm's import takes 8 s more in this process: a deadline must not count it
    def find_spec(self, name, path=None, target=None):
        if name == "litellm":
            sys.meta_path.remove(self)
            time.sleep(8)
        return None


sys.meta_path.insert(0, SlowLitellm())
"""


def test_the_deadline_counts_from_when_the_model_client_is_loaded(tmp_path: Path) -> None:
    (tmp_path / "sitecustomize.py").write_text(SLOW_IMPORT)
    env = {**base_env(), "PYTHONPATH": os.pathsep.join(filter(None, [str(tmp_path), os.environ.get("PYTHONPATH")]))}
    doc = tmp_path / "doc.txt"
    doc.write_text("The access code for the north gate is 7342.\n")
    # An in-process model loads litellm at its first leaf: a 6 s deadline that counted the 8 s import
    # would stop the run before its first request.
    done = cli("ask", "What is the access code for the north gate?", str(doc), "--model", "reference/32k",
               "--deadline", "6", "--no-cache", "--quiet", env=env)
    assert done.returncode == 0 and "Traceback" not in done.stderr, done.stderr
    assert done.stdout.strip() == "7342"


def test_a_run_cut_by_its_deadline_prints_no_coroutine_warning(tmp_path: Path) -> None:
    doc = tmp_path / "big.txt"
    doc.write_text(" ".join(("alpha", "beta", "gamma", "delta")[i % 4] for i in range(200_000)))
    said = []
    for deadline in ("0.1", "0.3", "0.8"):  # cut at different points of the reads in flight
        done = cli("ask", "What is the access code?", str(doc), "--model", "reference/4k", "--deadline", deadline,
                   "--no-cache", "--quiet")
        assert done.returncode in (0, 4) and "Traceback" not in done.stderr, done.stderr
        said.append(done.stderr)
    assert not any("never awaited" in err or "RuntimeWarning" in err for err in said), said


def test_a_question_longer_than_half_the_window_is_a_configuration_error(tmp_path: Path) -> None:
    doc = tmp_path / "doc.txt"
    doc.write_text("The access code is 7342.\n")
    done = main("ask", "why " * 20_000, str(doc), "--model", "reference/4k", "--quiet", "--no-cache")
    one_clear_error(done, 5, "the question is 20,001 tokens long", "at most half the window")
    assert "<plan>" not in done.stderr and "cost error" not in done.stderr  # not blamed on a plan's line


def test_rich_markup_in_a_trace_is_shown_as_written(tmp_path: Path) -> None:
    events = [
        {"event": "run_start", "program": "p[/]", "model": "m[bold red]x", "bound": {"calls": 1}},
        {"event": "leaf_start", "key": "k[/]0123456789", "prompt_chars": "[/]"},
        {"event": "leaf_end", "key": "k[/]0123456789", "prompt_tokens": "[/]", "latency_s": "x", "cost_usd": "[b]"},
        {"event": "leaf_error", "key": "k[/]0123456789", "kind": "leaf", "message": "reply [/] [bold red]RED"},
        {"event": "hole_start", "hole": 1, "name": "h[/]", "type": "[i]Text", "depth": 0},
        {"event": "hole_end", "hole": 1, "ok": False, "error": "[/]", "calls": "[/]", "cost_usd": "[u]"},
        {"event": "run_error", "kind": "leaf", "message": "oops [/]"},
    ]
    path = tmp_path / "trace.jsonl"
    path.write_text("\n".join(json.dumps(e) for e in events) + "\n")
    done = main("trace", str(path))
    assert done.returncode == 0 and "Traceback" not in done.stderr, done.stderr
    assert "p[/]" in done.stdout and "m[bold red]x" in done.stdout and "[bold red]RED" in done.stdout
