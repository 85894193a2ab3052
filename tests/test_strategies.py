"""Strategies: one protocol for direct, plan, ask and search; a new one is one object, run by name in bench."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from lambda_rlm.core.errors import ConfigError
from lambda_rlm.strategies.strategy import Search, Strategy, strategy, strategy_names

ROOT = Path(__file__).resolve().parents[1]

PLUGIN = '''
from dataclasses import dataclass

from lambda_rlm.strategies.strategy import Plan


@dataclass(frozen=True)
class Tail:
    """The plan over the document's second half only."""

    name: str = "tail"

    async def answer(self, question, document, config, *, task=None, on_event=None, session=None):
        return await Plan().answer(question, document[len(document) // 2:], config, task=task,
                                   on_event=on_event, session=session)


TAIL = Tail()
'''


def test_the_built_in_strategies_follow_one_protocol() -> None:
    assert strategy_names()[:4] == ["direct", "plan", "ask", "search4"]
    for name in ("direct", "plan", "ask", "search4", "search2"):
        found = strategy(name)
        assert isinstance(found, Strategy) and found.name == name
    assert strategy("search2") == Search(2)
    with pytest.raises(ConfigError, match="no strategy named 'guess'"):
        strategy("guess")


def test_a_plug_in_strategy_runs_as_a_bench_baseline(tmp_path: Path) -> None:
    site = tmp_path / "site"
    info = site / "tail_plugin-0.1.dist-info"
    info.mkdir(parents=True)
    (site / "tail_plugin.py").write_text(textwrap.dedent(PLUGIN))
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: tail-plugin\nVersion: 0.1\n")
    (info / "entry_points.txt").write_text("[lambda_rlm.strategies]\ntail = tail_plugin:TAIL\n")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(site), os.environ.get("PYTHONPATH")])),
           "LAMBDA_RLM_CACHE_DIR": str(tmp_path / "cache")}
    out = tmp_path / "out"
    done = subprocess.run([sys.executable, "-m", "lambda_rlm", "bench", "--task", "sniah", "--lengths", "8k",
                           "--n", "2", "--baseline", "plan,tail", "--model", "reference/4k", "--out", str(out),
                           "--quiet", "--read-all"], env=env, cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    records = [json.loads(line) for line in (out / "results.jsonl").read_text().splitlines()]
    tail = [r for r in records if r["baseline"] == "tail"]
    plan = [r for r in records if r["baseline"] == "plan"]
    assert len(tail) == 2 and all(r["error"] is None and r["calls"] >= 1 for r in tail)
    # it read half the document: about half the plan's prompt tokens (both read every piece: --read-all)
    assert sum(r["prompt_tokens"] for r in tail) < 0.75 * sum(r["prompt_tokens"] for r in plan)
    assert "tail" in done.stdout
