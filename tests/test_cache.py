"""The leaf cache: identical reruns make no requests, keys separate what differs, and the SQLite
store survives two writer processes and a writer killed mid-write."""

from __future__ import annotations

import asyncio
import json
import multiprocessing
import os
import signal
import sqlite3
import subprocess
import sys
import textwrap
import time
from pathlib import Path
from typing import Any

import pytest

from lambda_rlm.core import types as t
from lambda_rlm.core.errors import ConfigError
from lambda_rlm.core.values import Record
from lambda_rlm.models.cache import Entry, LeafCache, default_cache_dir
from lambda_rlm.models.llm import Oracle
from lambda_rlm.models.settings import ModelSettings

pytestmark = pytest.mark.filterwarnings("ignore::UserWarning:pydantic.*")

PAIR = t.TRecord.of({"word": t.TEXT, "count": t.INT})


def scripted(reply: Any = lambda prompt: prompt) -> tuple[Any, Any]:
    """A scripted provider and its registration; imported here so that the spawned cache
    writers below, which import this module, do not pay for importing litellm."""
    from providers import ScriptedProvider, registered

    provider = ScriptedProvider(reply=reply)
    return provider, registered(lrtest=provider)


def answer(oracle: Oracle, prompts: list[str], type_: t.Type) -> list[Any]:
    async def main() -> list[Any]:
        return list(await asyncio.gather(*(oracle.leaf(p, type_) for p in prompts)))

    return asyncio.run(main())


def test_identical_rerun_makes_zero_provider_calls(tmp_path: Path) -> None:
    provider, registration = scripted(lambda prompt: '[{"word": "a", "count": 2}]')
    prompts = [f"count words in chunk {i}" for i in range(5)]
    with registration:
        first = Oracle(ModelSettings("lrtest/m"), cache=LeafCache(tmp_path))
        fresh = answer(first, prompts, t.List(PAIR))
        first.close()
        assert provider.calls == 5
        second = Oracle(ModelSettings("lrtest/m"), cache=LeafCache(tmp_path))
        again = answer(second, prompts, t.List(PAIR))
        second.close()
    assert provider.calls == 5
    assert [r.value for r in again] == [r.value for r in fresh]
    assert again[0].value == (Record({"word": "a", "count": 2}),)
    assert all(r.cached and r.attempts == 0 for r in again)
    counters = second.budget.snapshot()
    assert (counters.cache_hits, counters.requests, counters.calls) == (5, 0, 5)


def test_use_cache_false_asks_every_time(tmp_path: Path) -> None:
    provider, registration = scripted(lambda prompt: "x")
    with registration:
        oracle = Oracle(ModelSettings("lrtest/m"))
        answer(oracle, ["same", "same"], t.TEXT)
        answer(oracle, ["same"], t.TEXT)
    assert provider.calls == 3
    assert not tmp_path.joinpath("leaves.sqlite3").exists()


def test_cache_keys_differ_by_type_model_prompt_and_parameters(tmp_path: Path) -> None:
    with scripted()[1]:

        def key(prompt: str, type_: t.Type, model: str = "lrtest/m", **config: Any) -> str:
            oracle = Oracle(ModelSettings(model, **config), cache=LeafCache(tmp_path))
            return oracle.request(prompt, type_).key()

        base = key("p", t.INT)
        variants = [
            key("p", t.FLOAT),
            key("p", t.List(t.INT)),
            key("p", t.Option(t.INT)),
            key("p", t.INT, model="lrtest/other"),
            key("q", t.INT),
            key("p", t.INT, temperature=0.5),
            key("p", t.INT, output_tokens=100),
            key("p", t.INT, api_base="http://127.0.0.1:9/v1"),
        ]
        assert base == key("p", t.INT)
        assert len({base, *variants}) == len(variants) + 1
        # Settings that do not change the request do not change the key.
        assert base == key("p", t.INT, concurrency=2, max_attempts=9, timeout_s=5)


def test_key_is_the_hash_of_canonical_json_naming_the_type(tmp_path: Path) -> None:
    with scripted()[1]:
        request = Oracle(ModelSettings("lrtest/m")).request("p", t.List(PAIR))
    canonical = json.loads(request.canonical())
    assert canonical["type"] == "List {count : Int, word : Text}"
    assert canonical["model"] == "lrtest/m" and canonical["version"]
    assert len(request.key()) == 64


def test_cache_is_created_lazily_and_defaults_to_the_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    target = tmp_path / "nested" / "cache"
    monkeypatch.setenv("LAMBDA_RLM_CACHE_DIR", str(target))
    assert default_cache_dir() == target
    cache = LeafCache()
    assert not target.exists()
    assert cache.get("k") is None
    assert (target / "leaves.sqlite3").exists()
    monkeypatch.delenv("LAMBDA_RLM_CACHE_DIR")
    assert default_cache_dir() == Path.home() / ".cache" / "lambda-rlm"


def test_an_unusable_cache_dir_is_a_config_error(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    with pytest.raises(ConfigError, match="cannot open the leaf cache"):
        LeafCache(blocker / "cache").get("k")


def test_entries_round_trip_and_the_last_write_wins(tmp_path: Path) -> None:
    cache = LeafCache(tmp_path)
    cache.put("k", Entry("List Int", [1, 2], "[1, 2]", 10, 3, 0.5))
    assert cache.get("k") == Entry("List Int", [1, 2], "[1, 2]", 10, 3, 0.5)
    cache.put("k", Entry("List Int", [3], "[3]", 1, 1, 0.0))
    assert cache.get("k") == Entry("List Int", [3], "[3]", 1, 1, 0.0)
    assert len(cache) == 1
    journal = sqlite3.connect(cache.path).execute("PRAGMA journal_mode").fetchone()[0]
    assert journal == "wal"


def test_values_are_stored_as_json_not_pickles(tmp_path: Path) -> None:
    cache = LeafCache(tmp_path)
    cache.put("k", Entry("Text", "héllo", "héllo", 1, 1, 0.0))
    cache.close()
    (value,) = (
        sqlite3.connect(tmp_path / "leaves.sqlite3").execute("SELECT value FROM leaves").fetchone()
    )
    assert json.loads(value) == "héllo"


def test_a_damaged_row_is_a_miss_and_is_replaced(tmp_path: Path) -> None:
    cache = LeafCache(tmp_path)
    cache.put("k", Entry("Int", 1, "1", 1, 1, 0.0))
    with sqlite3.connect(cache.path) as conn:
        conn.execute("UPDATE leaves SET value = 'not json' WHERE key = 'k'")
    assert cache.get("k") is None
    cache.put("k", Entry("Int", 2, "2", 1, 1, 0.0))
    assert cache.get("k") is not None and cache.get("k").value == 2  # type: ignore[union-attr]


def _write_entries(directory: str, worker: int, count: int) -> None:
    cache = LeafCache(directory)
    for i in range(count):
        # Keys below count // 2 are written by both workers (same content), the rest by one.
        key = f"shared-{i}" if i < count // 2 else f"w{worker}-{i}"
        cache.put(key, Entry("List Int", [i, i], f"[{i}, {i}]", i, 1, 0.0))
    cache.close()


def test_two_processes_share_one_cache_dir(tmp_path: Path) -> None:
    context = multiprocessing.get_context("spawn")
    workers = [context.Process(target=_write_entries, args=(str(tmp_path), w, 200)) for w in (1, 2)]
    for process in workers:
        process.start()
    for process in workers:
        process.join(timeout=60)
        assert process.exitcode == 0
    cache = LeafCache(tmp_path)
    assert len(cache) == 100 + 2 * 100
    for key in ["shared-0", "shared-99", "w1-150", "w2-199"]:
        entry = cache.get(key)
        assert entry is not None and entry.value == [int(key.split("-")[1])] * 2
    conn = sqlite3.connect(cache.path)
    assert conn.execute("PRAGMA integrity_check").fetchone() == ("ok",)


KILLED_WRITER = textwrap.dedent(
    """
    import sys
    from lambda_rlm.models.cache import Entry, LeafCache

    cache = LeafCache(sys.argv[1])
    big = "x" * 20_000  # large rows make the kill likely to land inside a write
    i = 0
    while True:
        cache.put(f"k{i}", Entry("Text", big + str(i), big, i, 1, 0.0))
        if i == 20:
            print("writing", flush=True)
        i += 1
    """
)


def test_a_writer_killed_mid_write_leaves_a_readable_cache(tmp_path: Path, repo_root: Path) -> None:
    env = {**os.environ, "PYTHONPATH": str(repo_root)}
    writer = subprocess.Popen(
        [sys.executable, "-c", KILLED_WRITER, str(tmp_path)],
        stdout=subprocess.PIPE,
        text=True,
        env=env,
    )
    assert writer.stdout is not None and writer.stdout.readline().strip() == "writing"
    time.sleep(0.3)
    writer.send_signal(signal.SIGKILL)
    writer.wait(timeout=10)
    assert writer.returncode == -signal.SIGKILL
    cache = LeafCache(tmp_path)
    count = len(cache)
    assert count > 20
    conn = sqlite3.connect(cache.path)
    assert conn.execute("PRAGMA integrity_check").fetchone() == ("ok",)
    for (key,) in conn.execute("SELECT key FROM leaves"):
        entry = cache.get(key)
        assert entry is not None and entry.value == "x" * 20_000 + key[1:]
    cache.put("after", Entry("Int", 1, "1", 1, 1, 0.0))  # and it still takes writes
    assert cache.get("after") is not None
