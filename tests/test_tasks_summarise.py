"""The summarise task: seeded documents with key facts, key-fact recall, an honest reader, the plan end to end."""

from __future__ import annotations

import asyncio
from functools import cache
from pathlib import Path

import pytest
from providers import registered  # noqa: F401 - sets the offline cost map before litellm loads

from lambda_rlm.bench import runner
from lambda_rlm.bench.tasks import load, names, reference
from lambda_rlm.bench.tasks.base import Instance
from lambda_rlm.bench.tasks.summarise import KEY_FACTS, Summarise
from lambda_rlm.runtime.session import Config
from lambda_rlm.strategies.plan import classify
from lambda_rlm.text.tokens import cl100k

TASK = Summarise()


@cache
def count(text: str) -> int:
    return cl100k().count(text)


@cache
def made(length: int, n: int, seed: int) -> tuple[Instance, ...]:
    return tuple(TASK.generate(length, n, seed, count))


def test_it_is_a_built_in_task_answered_by_the_summarise_plan() -> None:
    assert "summarise" in names() and load("summarise") == TASK
    assert classify(made(8000, 1, 0)[0].question)[0] == TASK.plan == "summarise"


@pytest.mark.parametrize("length", [2000, 8000, 32000])
def test_documents_are_the_length_asked_for_with_every_fact_planted_once(length: int) -> None:
    for instance in made(length, 3, 1):
        assert abs(count(instance.document) - length) <= length * 0.02
        assert len(instance.answer) == KEY_FACTS == len(set(instance.answer))
        for fact in instance.meta["facts"]:
            assert instance.document.count(fact) == 1


def test_same_seed_same_bytes_other_seed_other_bytes() -> None:
    assert [i.document for i in made(8000, 2, 1)] == [i.document for i in TASK.generate(8000, 2, 1, count)]
    assert made(8000, 1, 1)[0].document != made(8000, 1, 2)[0].document


def test_facts_are_spread_over_the_document() -> None:
    instance = made(32000, 1, 3)[0]
    where = sorted(instance.document.index(f) / len(instance.document) for f in instance.meta["facts"])
    assert where[0] < 0.2 and where[-1] > 0.8


@pytest.mark.parametrize(("kept", "recall"), [(5, 1.0), (3, 0.6), (0, 0.0)])
def test_key_fact_recall_counts_the_numbers_kept(kept: int, recall: float) -> None:
    instance = made(8000, 1, 4)[0]
    summary = " ".join(instance.meta["facts"][:kept]) + " The essay is about patience."
    assert TASK.score(summary, instance) == recall


def test_a_number_counts_with_or_without_separators_but_not_as_part_of_another() -> None:
    instance = Instance("summarise", "x", "", "", ["4118262", "1000001"])
    assert TASK.score("It carried 4,118,262 people; 4118262 again.", instance) == 0.5
    assert TASK.score("codes 41182620 and 11000001", instance) == 0.0
    assert TASK.score(None, instance) == 0.0


def test_the_reader_keeps_only_the_facts_it_sees() -> None:
    instance = made(8000, 1, 5)[0]
    half = instance.document[: len(instance.document) // 2]
    seen = TASK.read_answer(instance.question, half) or ""
    assert 0 < TASK.score(seen, instance) < 1
    assert TASK.read_answer(instance.question, "Nothing here but essay sentences.") is None
    assert TASK.read_answer("What is the special magic number for x?", instance.document) is None


def test_the_plan_on_the_reference_model_keeps_every_fact_and_direct_only_its_prefix(tmp_path: Path) -> None:
    model = "reference/4k"
    reference.register(model)
    instances = TASK.generate(16000, 2, 7, count)
    config = Config(model=model, window=4096, cache_dir=str(tmp_path))
    for instance in instances:
        answer = asyncio.run(runner.plan(TASK, instance, config, lambda e: None))
        assert TASK.score(answer, instance) == 1.0
        cut = asyncio.run(runner.direct(TASK, instance, config, lambda e: None))
        assert TASK.score(cut, instance) < 1.0
