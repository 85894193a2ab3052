"""The reference provider through real litellm: it answers from what is inside its window and nothing else."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import litellm
import pytest
from providers import registered  # noqa: F401 - sets the offline cost map before litellm loads
from tiny_task import Gates

from lambda_rlm.bench.tasks import reference
from lambda_rlm.core import types as t
from lambda_rlm.core.errors import ConfigError
from lambda_rlm.models.decode import instruction
from lambda_rlm.strategies.plan import compile_plan, model_window
from lambda_rlm.text.tokens import cl100k


def _leaf_type(plan: str) -> Any:
    return next(iter(compile_plan(plan).typing.leaf_types.values()))


SEARCH_SYSTEM = instruction(_leaf_type("search"))
NEEDLE = "The access code for the Alder gate is 4821."
QUESTION = "What is the access code for the Alder gate?"


@pytest.fixture(scope="module", autouse=True)
def provider() -> None:
    reference.register("reference/4k", "reference/4k?latency=0.01", tasks=[Gates()])


def filler(tokens: int) -> str:
    """Sentences of about `tokens` tokens, with no code in them."""
    sentence = "The harbour ledger notes the cargo and the tide. "
    return sentence * (tokens // cl100k().count(sentence) + 1)


def ask(model: str, system: str, user: str) -> tuple[str, int]:
    messages = [{"role": "system", "content": system}, {"role": "user", "content": user}]
    response: Any = asyncio.run(litellm.acompletion(model=model, messages=messages))
    return response.choices[0].message.content, response.usage.prompt_tokens


def search_prompt(text: str, question: str = QUESTION) -> str:
    return (f"<document>\n{text}\n</document>\nThe text above is one part of a longer document.\n"
            f"Question: {question}\nAnswer with the exact words from the text, or NONE if the text does not say.")


def direct_prompt(text: str) -> str:
    return (f"<document>\n{text}\n</document>\nAnswer the question below using only the document above.\n"
            f"If the document does not contain the answer, reply NOT FOUND.\nQuestion: {QUESTION}")


def test_the_window_is_known_to_litellm_and_the_runtime() -> None:
    assert model_window("reference/4k") == 4096
    assert reference.spec("reference/32k") == reference.Spec(32768, 0.0)
    assert reference.spec("reference/1m?latency=0.5") == reference.Spec(1 << 20, 0.5)
    for bad in ("reference/huge", "reference/10", "reference/4k?speed=2", "openai/4k"):
        with pytest.raises(ConfigError):
            reference.spec(bad)


def test_a_search_leaf_is_answered_when_the_needle_is_in_its_chunk() -> None:
    text, tokens = ask("reference/4k", SEARCH_SYSTEM, search_prompt(filler(500) + NEEDLE + filler(500)))
    assert text == "4821"
    assert tokens > 1000  # usage is counted with cl100k over every message


def test_a_search_leaf_without_the_needle_replies_none() -> None:
    assert ask("reference/4k", SEARCH_SYSTEM, search_prompt(filler(800)))[0] == "NONE"
    # A question no task recognises is not answered either.
    assert ask("reference/4k", SEARCH_SYSTEM, search_prompt(NEEDLE, "Who built the Alder gate?"))[0] == "NONE"


def test_a_needle_beyond_the_window_is_not_seen() -> None:
    inside = filler(1000) + NEEDLE + filler(200)
    beyond = filler(5000) + NEEDLE + filler(200)
    assert ask("reference/4k", "Reply with the answer only.", direct_prompt(inside))[0] == "4821"
    reply, tokens = ask("reference/4k", "Reply with the answer only.", direct_prompt(beyond))
    assert tokens > 4096 and reply == "NOT FOUND"
    # The same prompt through a model with a larger window is answered: only the window differs.
    reference.register("reference/8k")
    assert ask("reference/8k", "Reply with the answer only.", direct_prompt(beyond))[0] == "4821"


def test_numbered_records_get_one_label_each_from_the_choices() -> None:
    from lambda_rlm.combinators.records import label_prompt

    items = "\n".join(["[1] What is a good recipe for ramen with chickpeas?", "[2] Do I need a visa to visit Japan?",
                       "[3] The river report measured seven lanterns."])
    system = instruction(t.TLabels(("1", "2", "3"), ("food", "travel")))
    reply, _ = ask("reference/4k", system, label_prompt("", ("food", "travel"), items, "3"))
    assert json.loads(reply) == {"1": "food", "2": "travel", "3": "food"}  # the unreadable one: a guess


def test_item_leaves_get_json_label_lists_and_records() -> None:
    items = "Entry: Orla (invoice).\nEntry: Bram (complaint).\nEntry: Cato (invoice)."
    labels_system = instruction(t.Option(t.List(t.TEXT)))  # a leaf listing the labels of free items
    records_system = instruction(t.Option(t.List(t.TRecord.of({"item": t.TEXT, "label": t.Option(t.TEXT)}))))
    labels, _ = ask("reference/4k", labels_system, f"<items>\n{items}\n</items>\nFor every item above, copy its label.")
    assert json.loads(labels) == ["invoice", "complaint", "invoice"]
    records, _ = ask("reference/4k", records_system, f"<records>\n{items}\n</records>\nFor every entry above ...")
    assert json.loads(records)[1] == {"item": "Bram", "label": "complaint"}
    assert ask("reference/4k", labels_system, f"<items>\n{filler(100)}\n</items>\nCopy the labels.")[0] == "NONE"


def test_note_copying_follows_proper_names_from_the_question_and_the_facts() -> None:
    passage = ("Orla Vance works at the Kettering depot. The weather was mild. "
               "Kettering depot is in Halvardby. Bram Stoke likes tea.")
    first = reference.reply("reply NONE.", f"<passage>\n{passage}\n</passage>\nCopy ...\nQuestion: Where does Orla "
                            "Vance work?", [])
    assert first == "Orla Vance works at the Kettering depot."
    facts = "Facts found so far:\nOrla Vance works at the Kettering depot.\nCopy, word for word, every sentence"
    second = reference.reply("reply NONE.", f"<passage>\n{passage}\n</passage>\n{facts}\nQuestion: In which town "
                             "does Orla Vance work?", [])
    assert second == "Orla Vance works at the Kettering depot. Kettering depot is in Halvardby."
    assert reference.reply("reply NONE.", "<passage>\nThe weather was mild.\n</passage>\nQuestion: Where is Orla?",
                           []) == "NONE"


def test_the_menu_is_answered_by_the_rule_classifier() -> None:
    reply = reference.reply("", "Kinds of question about a long document:\n1. search\n...\nQuestion: How many "
                            "invoices are there?", [])
    assert reply == "3"  # aggregate


def test_latency_is_simulated_when_asked_for() -> None:
    import time

    start = time.perf_counter()
    assert ask("reference/4k?latency=0.01", SEARCH_SYSTEM, search_prompt(NEEDLE))[0] == "4821"
    assert time.perf_counter() - start >= 0.01




def test_ask_reads_the_reference_window_off_the_model_name() -> None:
    from lambda_rlm.strategies.plan import resolve_config

    assert resolve_config(model="reference/4k").window == 4096
    assert resolve_config(model="reference/32k?latency=0.01").window == 32768


def test_the_reference_model_s_revision_keys_its_cache() -> None:
    """A reply the reference model gave before its readers changed is never served from the cache:
    the provider's revision is part of every leaf's cache key."""
    from lambda_rlm.bench.tasks.reference import PROVIDER
    from lambda_rlm.models.backend import Backend
    from lambda_rlm.runtime.session import Config

    assert PROVIDER.revision
    identity = Backend.make(Config(model="reference/8k").llm).identity
    assert identity == f"reference/8k@{PROVIDER.revision}"
