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


def test_results_and_programs_print_short_and_values_are_plain_json(tmp_path: Path) -> None:
    import json

    program = lambda_rlm.compile('def main (doc : Text) : List (Option Int) = [some (len (lines doc)), none]')
    assert repr(program) == "<Program <string> (main : Text -> List (Option Int))>"
    result = lambda_rlm.run(program, DOC, Config(model="reference/4k", window=4096, cache_dir=str(tmp_path)))
    assert json.dumps(result.json_value) == "[3, null]"
    assert repr(result).startswith("<Result value=[3, None] calls=0 bound=0") and len(repr(result)) < 200


def test_an_async_listener_is_refused_clearly(tmp_path: Path) -> None:
    import pytest

    async def listener(event: dict[str, object]) -> None:
        pass

    config = Config(model="reference/4k", window=4096, cache_dir=str(tmp_path))
    with pytest.raises(lambda_rlm.ConfigError, match="on_event must be a plain function"):
        lambda_rlm.run("def main (doc : Text) : Int = 1", DOC, config, on_event=listener)  # type: ignore[arg-type]
    with pytest.raises(lambda_rlm.ConfigError, match="on_event must be a plain function"):
        lambda_rlm.ask(QUESTION, DOC, config, on_event=listener)  # type: ignore[arg-type]
