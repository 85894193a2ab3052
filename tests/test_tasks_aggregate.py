"""The oolong and pairs tasks: determinism, lengths, the papers' scores, the reference readers, and each
task's plan run end to end through litellm with a reader that answers leaves from what they show."""

from __future__ import annotations

import itertools
import json
import re
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from providers import ScriptedProvider, prompt_of, registered

from lambda_rlm.bench import tasks
from lambda_rlm.bench.tasks.base import Instance
from lambda_rlm.bench.tasks.oolong import CATEGORIES, Oolong, keywords
from lambda_rlm.bench.tasks.pairs import Pairs
from lambda_rlm.runtime.session import Config
from lambda_rlm.strategies.ask import ask
from lambda_rlm.text.tokens import cl100k

TOKENIZER = cl100k()
COUNT = TOKENIZER.count
OOLONG, PAIRS = Oolong(), Pairs()
LINE = re.compile(r"^Date: .* \|\| User: (\d{5}) \|\| Instance: (.*)$")


def made(task: Any, length: int, n: int = 12, seed: int = 0) -> list[Instance]:
    return task.generate(length, n, seed, COUNT)  # type: ignore[no-any-return]


def instance(answer: Any) -> Instance:
    return Instance("t", "t-0", "", "", answer)


# ---------------------------------------------------------------------- generation


@pytest.mark.parametrize("task", [OOLONG, PAIRS], ids=["oolong", "pairs"])
def test_the_registry_loads_both_tasks_with_their_plans(task: Any) -> None:
    loaded = tasks.load(task.name)
    assert (type(loaded), loaded.plan) == (type(task), {"oolong": "aggregate", "pairs": "pairwise"}[task.name])


@pytest.mark.parametrize("task", [OOLONG, PAIRS], ids=["oolong", "pairs"])
def test_same_arguments_give_the_same_bytes_and_seeds_differ(task: Any) -> None:
    first, again, other = made(task, 8000), made(task, 8000), made(task, 8000, seed=1)
    assert [(i.id, i.document, i.question, i.answer) for i in first] == [
        (i.id, i.document, i.question, i.answer) for i in again]
    assert first[0].document != other[0].document


@pytest.mark.parametrize("task", [OOLONG, PAIRS], ids=["oolong", "pairs"])
@pytest.mark.parametrize("length", [1000, 8000, 128_000])
def test_documents_are_the_asked_length_and_shared_by_the_instances(task: Any, length: int) -> None:
    got = made(task, length, n=20)
    assert len(got) == 20 and len({i.id for i in got}) == 20
    assert len({id(i.document) for i in got}) == 1  # the runner tokenizes each distinct document once
    assert abs(COUNT(got[0].document) - length) <= 0.02 * length


@pytest.mark.parametrize("task", [OOLONG, PAIRS], ids=["oolong", "pairs"])
def test_every_line_is_a_record_the_reader_labels_as_generated(task: Any) -> None:
    doc = made(task, 32_000)[0].document
    lines = doc.splitlines()
    assert all(LINE.match(line) for line in lines)
    labels = [label for _, label in task.read_items(doc)]
    assert len(labels) == len(lines) and None not in labels and set(labels) <= set(CATEGORIES)


def test_every_category_has_keywords_no_other_category_shares() -> None:
    found = keywords()
    assert set(found) == set(CATEGORIES) and all(found.values())
    for a, b in itertools.combinations(CATEGORIES, 2):
        assert not found[a] & found[b]


def test_oolong_answers_are_the_counts_of_the_document() -> None:
    got = made(OOLONG, 32_000, n=30)
    tally = Counter(label for _, label in OOLONG.read_items(got[0].document))
    listed = got[0].meta["categories"]
    assert set(tally) == set(listed) and len(listed) == 6
    by_kind: dict[str, list[Instance]] = {}
    for i in got:
        by_kind.setdefault(i.meta["kind"], []).append(i)
        assert listed and ", ".join(listed) in i.question.splitlines()[1]  # the question lists the categories
    assert set(by_kind) == {"count", "most", "least", "more", "less"}
    for i in by_kind["count"]:
        assert i.answer == tally[i.question.split("about ")[1].split("?")[0]]
    assert by_kind["most"][0].answer == max(tally, key=tally.__getitem__)
    assert by_kind["least"][0].answer == min(tally, key=tally.__getitem__)
    for i in by_kind["more"] + by_kind["less"]:
        a, b = re.findall(r"common, (\w+) or (\w+)\?", i.question)[0]
        assert tally[a] != tally[b] and i.answer in (a, b)
        assert (tally[i.answer] == max(tally[a], tally[b])) == (i.meta["kind"] == "more")


@pytest.mark.parametrize("length", [8000, 1_000_000])
def test_pairs_gold_sets_stay_small(length: int) -> None:
    got = made(PAIRS, length, n=15)
    sizes = [len(i.answer) for i in got]
    assert min(sizes) >= 1 and max(sizes) <= 300
    for i in got:
        assert i.answer == sorted(i.answer) and all(a < b for a, b in i.answer)


# ---------------------------------------------------------------------- scoring

@pytest.mark.parametrize(("predicted", "gold", "score"), [
    ("12", 12, 1.0), (12, 12, 1.0), ("13", 12, 0.75), ("10", 12, 0.75 ** 2), ("There are 9 records.", 12, 0.75 ** 3),
    ("12 or 15", 12, 1.0), ("1,234", 1234, 1.0), ("none", 12, 0.0), (None, 12, 0.0), (True, 1, 0.0), ("", 0, 0.0),
    ("Sports", "sports", 1.0), ("  the sports. ", "sports", 1.0), ("sport", "sports", 0.0), ("12", "sports", 0.0),
])
def test_oolong_scores_as_published(predicted: Any, gold: Any, score: float) -> None:
    assert OOLONG.score(predicted, instance(gold)) == pytest.approx(score)


GOLD = [["11111", "22222"], ["11111", "33333"], ["22222", "33333"], ["33333", "44444"]]


@pytest.mark.parametrize(("predicted", "score"), [
    (GOLD, 1.0),
    ([("22222", "11111"), ("33333", "11111"), ["33333", "22222"], ("44444", "33333")], 1.0),  # order inside a pair
    ([("11111", "22222"), ("11111", "22222"), ("11111", "33333")], 2 * 2 / (2 + 4)),  # duplicates count once
    ([("11111", "22222"), ("55555", "66666")], 2 * 1 / (2 + 4)),
    ("(11111, 22222)\n(33333, 11111)\n(22222, 33333)\n(44444, 33333)", 1.0),
    ("11111 - 22222\n33333 - 44444", 2 * 2 / (2 + 4)),
    (json.dumps(GOLD), 1.0),
    ([(11111, 22222)], 2 * 1 / (1 + 4)),
    ([], 0.0), ("NONE", 0.0), ("no idea", 0.0), ([("11111",)], 0.0), (42, 0.0), (None, 0.0), ([["a", "b", "c"]], 0.0),
])
def test_pairs_score_is_f1_over_unordered_pairs(predicted: Any, score: float) -> None:
    assert PAIRS.score(predicted, instance(GOLD)) == pytest.approx(score)


@pytest.mark.parametrize(("predicted", "score"), [([], 1.0), ("NONE", 1.0), ("[]", 1.0), ([("1", "2")], 0.0)])
def test_pairs_empty_gold(predicted: Any, score: float) -> None:
    assert PAIRS.score(predicted, instance([])) == score


# ---------------------------------------------------------------------- the reference readers

@pytest.mark.parametrize("task", [OOLONG, PAIRS], ids=["oolong", "pairs"])
def test_a_record_cut_at_a_chunk_edge_is_not_an_item(task: Any) -> None:
    lines = made(task, 8000)[0].document.splitlines()
    whole = task.read_items("\n".join(lines[3:6]))
    assert whole is not None and [u for u, _ in whole] == [LINE.match(x).group(1) for x in lines[3:6]]  # type: ignore[union-attr]
    tail, head = lines[2][len(lines[2]) // 2:], lines[6][: len(lines[6]) - 5]  # cut mid-record at both edges
    cut = task.read_items("\n".join([tail, *lines[3:6], head]))
    assert cut == whole
    assert task.read_items(lines[2][:-1]) is None  # only the closing "?" missing
    assert task.read_items("The river report measured seven lanterns.") is None


@pytest.mark.parametrize("task", [OOLONG, PAIRS], ids=["oolong", "pairs"])
@pytest.mark.parametrize("length", [1000, 8000])
def test_read_answer_on_the_whole_document_scores_full_marks(task: Any, length: int) -> None:
    for i in made(task, length, n=20, seed=3):
        assert task.score(task.read_answer(i.question, i.document), i) == 1.0, i.question


@pytest.mark.parametrize("task", [OOLONG, PAIRS], ids=["oolong", "pairs"])
def test_readers_ignore_other_tasks(task: Any) -> None:
    mine, theirs = made(task, 1000)[0], made(PAIRS if task is OOLONG else OOLONG, 1000)[0]
    assert task.read_answer(theirs.question, mine.document) is None
    assert task.read_answer("What is the special magic number for apple?", mine.document) is None
    assert task.read_answer(mine.question, "The special magic number for apple is 41.") is None


def test_the_least_common_category_may_be_one_not_visible() -> None:
    q = "Which category is the least common?\nEach record's text belongs to one of these categories: food, sports."
    text = "Date: Mar 04, 2023 || User: 48213 || Instance: Where can I buy tickets for the Lakers game on Monday?"
    assert OOLONG.read_answer(q, text) == "food"


# ---------------------------------------------------------------------- end to end through the plans

TAGS = {"<items>": "</items>", "<records>": "</records>"}


def leaf_reader(messages: list[dict[str, Any]]) -> str:
    """Answers the aggregate and pairwise leaves from the chunk they show, through the tasks' read_items."""
    prompt = prompt_of(messages)
    for start, end in TAGS.items():
        if start in prompt:
            chunk = prompt.split(start, 1)[1].split(end, 1)[0]
            if "maps the number of every item" in messages[0]["content"]:  # label_records: one per number
                return json.dumps({k: OOLONG.read_label(line)  # each record is shown by its text alone
                                   for k, line in re.findall(r"^\[(\d+)\] (.*)$", chunk, re.M)})
            items = OOLONG.read_items(chunk)
            if items is None:
                return "NONE"
            if start == "<items>":
                return json.dumps([label for _, label in items])
            return json.dumps([{"item": u, "label": label} for u, label in items], separators=(",", ":"))
    raise AssertionError(f"not a leaf of the aggregate or pairwise plan: {prompt[:200]}")


@pytest.mark.parametrize("task", [OOLONG, PAIRS], ids=["oolong", "pairs"])
def test_the_plan_answers_every_question_kind_within_its_bound(task: Any, tmp_path: Path) -> None:
    got = made(task, 3000, n=30, seed=5)
    kinds = {i.meta.get("kind", len(i.meta.get("wanted", []))): i for i in got}  # one of each kind
    provider = ScriptedProvider(script=leaf_reader)
    config = Config(model="lrtest/reader", window=2048, output_tokens=256, cache_dir=str(tmp_path / "cache"))
    calls = []
    with registered(lrtest=provider):
        for i in kinds.values():
            result = ask(i.question, i.document, config, task=task.plan, direct=False)
            assert (result.plan, task.score(result.value, i)) == (task.plan, 1.0), (i.question, result.value)
            assert result.result.calls <= result.result.bound.calls
            calls.append(result.result.calls + result.result.cache_hits)
    assert len(kinds) == (5 if task is OOLONG else 2)
    # Every question reads the same leaves (the ask is not in them), so only the first one calls the model.
    assert calls[0] > 1 and set(calls) == {calls[0]} and provider.calls == calls[0]
    ask_line, notes_line = got[0].question.splitlines()
    for p in (prompt_of(s.messages) for s in provider.sent):
        # What describes the records is shown with them (before them: a small model labels better
        # knowing the labels first, and the prompt has no question whose prefix could be shared).
        assert 0 <= p.index(notes_line) < p.index("<items>") < p.index("</items>")
        assert all(i.question.splitlines()[0] not in p for i in kinds.values())  # the ask is not shown
