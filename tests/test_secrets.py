"""Secrets and isolation: an API key never reaches traces, cache files, error messages or logs, even
when the provider echoes it back; the cache stores JSON text, never pickles, and never unpickles.

Runs go to the real local OpenAI-compatible server (tests/openai_server.py), which can answer with
an error whose message repeats the bearer token, as careless providers do.
"""

from __future__ import annotations

import io
import json
import logging
import os
import sqlite3
import subprocess
import sys
import traceback
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from openai_server import OpenAIServer

from lambda_rlm.core.errors import LambdaError
from lambda_rlm.models.cache import DB_NAME
from lambda_rlm.runtime.session import Config, run

ROOT = Path(__file__).resolve().parent.parent
SECRET = "sk-test-SECRET-1234"
ECHO = "Incorrect API key provided: {key}. You can find your API key at https://example.test/keys"
PROGRAM = """
def facts (chunk : Text) : List {user : Text, category : Text} = llm "Records in: {chunk}"
def first_word (chunk : Text) : Option Text = llm "First word of: {chunk}"
def main (doc : Text) : (List {user : Text, category : Text}, List Text) =
  let chunks = split doc 40 in
  (concat_map facts chunks, filter_map first_word chunks)
"""


def reply(messages: list[dict[str, Any]]) -> str:
    system = str(messages[0]["content"])
    prompt = next(str(m["content"]) for m in messages if m["role"] == "user")
    if "JSON" in system:
        return json.dumps([{"user": "ada", "category": "maths", "note": "extra"}])  # a field the type lacks: dropped
    return prompt.split()[3] if len(prompt.split()) > 3 else "NONE"


@pytest.fixture(scope="module")
def shared() -> Iterator[OpenAIServer]:
    with OpenAIServer() as s:
        yield s


@pytest.fixture
def server(shared: OpenAIServer) -> OpenAIServer:
    shared.state.reset()
    shared.state.reply = reply
    return shared


@pytest.fixture
def logs(caplog: pytest.LogCaptureFixture) -> pytest.LogCaptureFixture:
    """Every log record of every logger (litellm's debug output included)."""
    caplog.set_level(logging.DEBUG)
    return caplog


def config(server: OpenAIServer, tmp_path: Path, **kw: Any) -> Config:
    return Config(model="openai/test-model", api_base=server.base_url, api_key=SECRET, window=1024,
                  output_tokens=64, cache_dir=str(tmp_path / "cache"), trace_path=str(tmp_path / "trace.jsonl"),
                  **kw)


def files_under(path: Path) -> dict[str, bytes]:
    return {str(p): p.read_bytes() for p in sorted(path.rglob("*")) if p.is_file()}


def assert_nowhere(secret: str, tmp_path: Path, *texts: str) -> None:
    """Not in any file the run wrote (trace, database, WAL), nor in the texts given."""
    written = files_under(tmp_path)
    assert written, "the run wrote nothing to look at"
    for name, data in written.items():
        assert secret.encode() not in data, name
    for text in texts:
        assert secret not in text


def test_a_run_leaves_the_key_in_no_trace_cache_file_log_or_output(
        server: OpenAIServer, tmp_path: Path, logs: pytest.LogCaptureFixture,
        capsys: pytest.CaptureFixture[str]) -> None:
    doc = " ".join(f"Word{i} user=u{i}." for i in range(200))
    cfg = config(server, tmp_path)
    result = run(PROGRAM, doc, cfg)
    rerun = run(PROGRAM, doc, cfg)  # from the cache
    assert server.state.auth_headers and set(server.state.auth_headers) == {f"Bearer {SECRET}"}  # really used
    assert result.calls > 4 and rerun.cache_hits == result.calls
    out = capsys.readouterr()
    assert_nowhere(SECRET, tmp_path, logs.text, out.out, out.err, json.dumps(list(result.trace), default=str),
                   repr(result), repr(cfg), repr(cfg.llm), json.dumps(result.stats()))
    records = result.value[0]
    assert all(set(r) == {"user", "category"} for r in records)  # the reply's extra field was dropped


STATUSES = [(401, "ConfigError"), (403, "ConfigError"), (404, "ConfigError"), (400, "LeafError"),
            (422, "LeafError"), (500, "LeafError"), (503, "LeafError")]


@pytest.mark.parametrize(("status", "error"), STATUSES, ids=[str(s) for s, _ in STATUSES])
def test_an_error_that_echoes_the_key_is_scrubbed(status: int, error: str, server: OpenAIServer, tmp_path: Path,
                                                  logs: pytest.LogCaptureFixture) -> None:
    server.state.error_status = status
    server.state.error_message = ECHO
    with pytest.raises(LambdaError) as info:
        run(PROGRAM, "one two three four five", config(server, tmp_path, max_attempts=2))
    exc = info.value
    assert type(exc).__name__ == error
    assert "***" in exc.message  # the echoed key was there, and was replaced
    shown = "".join(traceback.format_exception(exc))  # what --debug prints
    assert_nowhere(SECRET, tmp_path, exc.format(), str(exc), repr(exc), shown, logs.text)


def test_retries_of_rate_limits_log_and_trace_no_key(server: OpenAIServer, tmp_path: Path,
                                                     logs: pytest.LogCaptureFixture) -> None:
    server.state.rate_limit_first = 1_000
    server.state.retry_after = "0.01"
    with pytest.raises(LambdaError) as info:
        run(PROGRAM, "one two three four five", config(server, tmp_path, max_attempts=3))
    assert "RateLimitError" in info.value.message
    assert_nowhere(SECRET, tmp_path, info.value.format(), logs.text)


def test_the_command_line_never_prints_the_key(server: OpenAIServer, tmp_path: Path,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    """The key comes from the environment and the provider echoes it: not on stderr, nor in the
    traceback `--debug` shows (run in this process, where the re-raised error can be formatted)."""
    from lambda_rlm.cli import app as cli

    server.state.error_status = 401
    server.state.error_message = ECHO
    args = ["run", str(ROOT / "examples" / "search.lam"), "--arg", "question=q", "--model", "openai/test-model",
            "--api-base", server.base_url, "--cache-dir", str(tmp_path / "cache"), "--trace",
            str(tmp_path / "trace.jsonl")]
    env = {**os.environ, "LITELLM_LOCAL_MODEL_COST_MAP": "True", "OPENAI_API_KEY": SECRET}
    done = subprocess.run([sys.executable, "-m", "lambda_rlm", *args], input="some text", capture_output=True,
                          text=True, timeout=120, env=env, cwd=ROOT)
    assert done.returncode == 5, done.stderr
    assert "refused the credentials" in done.stderr and "Traceback" not in done.stderr
    monkeypatch.setenv("OPENAI_API_KEY", SECRET)
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(b"some text")))
    with pytest.raises(LambdaError) as info:
        cli.main(["--debug", *args])
    shown = "".join(traceback.format_exception(info.value))
    assert "Traceback" in shown and "refused the credentials" in shown
    assert_nowhere(SECRET, tmp_path, done.stdout, done.stderr, shown)
    assert server.state.auth_headers == [f"Bearer {SECRET}"] * 2


@pytest.mark.parametrize("key", [
    "sk-proj-SECRETabcdef0123456789",
    "gsk_SECRETgroq0123456789",
    "AIzaSECRETgemini0123456789",
    "SECRETplain0123456789abcdef",
])
def test_a_key_from_the_environment_is_scrubbed_whatever_its_shape(
        key: str, server: OpenAIServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", key)
    server.state.error_status = 401
    server.state.error_message = ECHO
    cfg = Config(model="openai/test-model", api_base=server.base_url, window=1024, output_tokens=64,
                 cache_dir=str(tmp_path / "cache"), trace_path=str(tmp_path / "trace.jsonl"))
    with pytest.raises(LambdaError) as info:
        run(PROGRAM, "one two three four five", cfg)
    assert server.state.auth_headers == [f"Bearer {key}"]
    assert_nowhere(key, tmp_path, info.value.format())


# ------------------------------------------------------------------------------- the cache

PICKLE_MARKS = (b"\x80\x02", b"\x80\x03", b"\x80\x04\x95", b"\x80\x05\x95", b"cbuiltins", b"c__builtin__")


def test_the_cache_holds_json_text_and_no_pickle(server: OpenAIServer, tmp_path: Path) -> None:
    result = run(PROGRAM, " ".join(f"Word{i} user=u{i}." for i in range(200)), config(server, tmp_path))
    db = tmp_path / "cache" / DB_NAME
    with sqlite3.connect(db) as conn:
        columns = {row[1]: row[2] for row in conn.execute("PRAGMA table_info(leaves)")}
        rows = conn.execute("SELECT typeof(value), value, typeof(text), type FROM leaves").fetchall()
    assert "BLOB" not in columns.values(), columns
    assert len(rows) == result.calls
    for kind, value, text_kind, type_ in rows:
        assert (kind, text_kind) == ("text", "text")
        json.loads(value)  # every stored value is JSON
        assert type_ in ("List {category : Text, user : Text}", "Option Text")
    for name, data in files_under(tmp_path / "cache").items():
        assert not any(mark in data for mark in PICKLE_MARKS), name


def test_a_planted_pickle_in_the_cache_is_a_miss_not_code(server: OpenAIServer, tmp_path: Path) -> None:
    """A cache row whose value is a pickle that would run code is ignored and the leaf asked again."""
    import pickle

    class Boom:
        def __reduce__(self) -> tuple[Any, tuple[str]]:
            return (Path(tmp_path / "pwned").write_text, ("pwned",))  # what unpickling would run

    program = 'def main (doc : Text) : Option Text = llm "First word of: {doc}"'
    doc = "alpha beta gamma delta"
    first = run(program, doc, config(server, tmp_path))
    assert first.calls == 1
    db = tmp_path / "cache" / DB_NAME
    with sqlite3.connect(db) as conn:
        conn.execute("UPDATE leaves SET value = ?", (pickle.dumps(Boom()),))
    second = run(program, doc, config(server, tmp_path))
    assert second.value == first.value and second.calls == 1 and second.cache_hits == 0
    assert not (tmp_path / "pwned").exists()


# ------------------------------------------------------------------ keys from every source

ROUTER_KEY = "rk-router-SECRET-5678abcd"
ENV_KEY = "ek-environment-SECRET-9012"


def test_a_key_from_a_router_config_or_the_environment_is_scrubbed_from_errors_and_replies(
        server: OpenAIServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Keys given three ways (a router config file, the environment, --api-key), echoed back by the
    server in a 401 and in a reply: none is in stdout, stderr, the trace, the cache or its WAL."""
    monkeypatch.setenv("LRTEST_SERVICE_TOKEN", ENV_KEY)
    (tmp_path / "config").mkdir()
    router = tmp_path / "config" / "router.yaml"  # where the key is written, and meant to be
    router.write_text(f"model_list:\n  - model_name: test\n    litellm_params:\n      model: openai/test-model\n"
                      f"      api_base: {server.base_url}\n      api_key: {ROUTER_KEY}\n")
    env = {**os.environ, "LITELLM_LOCAL_MODEL_COST_MAP": "True", "LRTEST_SERVICE_TOKEN": ENV_KEY}
    out = tmp_path / "out"  # everything the runs write
    out.mkdir()
    base = ["run", str(ROOT / "examples" / "search.lam"), "--arg", "question=q", "--cache-dir",
            str(out / "cache"), "--trace", str(out / "trace.jsonl")]

    def cli(*extra: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "lambda_rlm", *base, *extra], input="some text",
                              capture_output=True, text=True, timeout=120, env=env, cwd=ROOT)

    server.state.error_status, server.state.error_message = 401, ECHO + f" (service token {ENV_KEY})"
    refused = cli("--model", str(router))
    assert refused.returncode == 5 and "Traceback" not in refused.stderr, refused.stderr
    assert server.state.auth_headers == [f"Bearer {ROUTER_KEY}"], refused.stderr  # the router's key was sent

    server.state.reset()
    for key, extra in ((ROUTER_KEY, ["--model", str(router)]),
                       (SECRET, ["--model", "openai/test-model", "--api-base", server.base_url, "--api-key", SECRET])):
        server.state.reply = lambda messages, key=key: f"the key is {key}, and the token {ENV_KEY}"  # type: ignore[misc]
        answered = cli(*extra, "--no-cache")
        assert answered.returncode == 0, answered.stderr
        assert answered.stdout.strip() == "the key is ***, and the token ***"
        for key in (SECRET, ROUTER_KEY, ENV_KEY):
            assert_nowhere(key, out, answered.stdout, answered.stderr, refused.stdout, refused.stderr)
    server.state.reply = lambda messages: f"the key is {ROUTER_KEY}, and the token {ENV_KEY}"
    cached = cli("--model", str(router))  # and through the cache, whose files are searched too
    assert cached.returncode == 0, cached.stderr
    for key in (SECRET, ROUTER_KEY, ENV_KEY):
        assert_nowhere(key, out, cached.stdout, cached.stderr)


def test_a_router_config_that_does_not_parse_is_not_quoted(tmp_path: Path) -> None:
    router = tmp_path / "router.yaml"
    router.write_text(f"model_list:\n  - model_name: test\n    litellm_params: {{api_key: {ROUTER_KEY}\n")
    cfg = Config(model=str(router), cache_dir=str(tmp_path / "cache"))
    with pytest.raises(LambdaError) as info:
        run(PROGRAM, "one two three four five", cfg)
    assert "not valid YAML" in info.value.format() and ROUTER_KEY not in info.value.format()
