"""The sync API inside a running event loop, as in a notebook cell: `run` and `ask` work there too."""

from __future__ import annotations

import asyncio
from pathlib import Path

from providers import registered  # noqa: F401 - sets the offline cost map before litellm loads

import lambda_rlm
from lambda_rlm import Config

DOC = "The weather was calm.\nThe special magic number for north-gate is 7342.\nNothing else happened.\n"
QUESTION = "What is the special magic number for north-gate mentioned in the provided text?"


def test_run_and_ask_work_inside_a_running_event_loop(tmp_path: Path) -> None:
    config = Config(model="reference/4k", window=4096, cache_dir=str(tmp_path))

    async def cell() -> tuple[object, object]:
        ran = lambda_rlm.run("def main (doc : Text) : Int = len (lines doc)", DOC, config)
        asked = lambda_rlm.ask(QUESTION, DOC, config)
        return ran.value, asked.value

    assert asyncio.run(cell()) == (3, "7342")
