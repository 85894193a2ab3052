"""Names in sentences: `linked question doc` follows the question's proper names from sentence to sentence,
and `stating doc` keeps the sentences that state a number or a name (no model call); their types and
bounds, the per-hop cap, and the multi-hop plan through litellm answering from the chain in one call,
or reading the chunks when the question names nothing."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from providers import ScriptedProvider, registered

from lambda_rlm import compile as compile_program
from lambda_rlm import run
from lambda_rlm.analysis.cost import CostModel
from lambda_rlm.runtime.session import Config
from lambda_rlm.strategies.plan import compile_plan
from lambda_rlm.text.names import linked, names, sentences, stating

FILLER = ("The season was long and the work was slow, but the harbour kept its rhythm through the winter. "
          "However, nothing that anyone wrote down that year was of much use to the archive. ") * 30
CHAIN = ["Priya Ndlovu's mentor is Tomas Egger.", "Tomas Egger reports to Ines Varga, who manages the team.",
         "Ines Varga works at the Corran boatyard."]
DISTRACTOR = "Halden Brisk works at the Mossel foundry."


def story() -> str:
    third = len(FILLER) // 3
    cut = [FILLER.rfind(". ", 0, third * k) + 2 for k in (1, 2)]
    parts = [FILLER[:cut[0]], FILLER[cut[0]:cut[1]], FILLER[cut[1]:]]
    # the chain's sentences out of order and apart, with a distractor chain in between
    return f"{parts[0]}{CHAIN[2]} {parts[1]}{DISTRACTOR} {CHAIN[0]} {parts[2]}{CHAIN[1]}"


def test_names_are_capitalised_words_the_text_never_writes_in_lower_case() -> None:
    common = {"the", "however", "harbour"}
    assert names("However, the Harbour of Corran hired Ines Varga's crew.", common) == {"Corran", "Ines", "Varga"}
    assert sentences("One. Two!\nthree") == ["One.", "Two!", "three"]


def test_linked_follows_names_hop_by_hop() -> None:
    question = "Where does Priya Ndlovu's mentor's manager work?"
    assert linked(question, story()) == CHAIN  # hop order, not document order; no distractor
    assert linked(question, story(), hops=2) == CHAIN[:2]
    assert linked("Where does the mentor's manager work?", story()) == []  # no name to start from
    assert linked("Where does Zelda work?", story()) == []  # a name the text does not have


def test_a_hop_keeps_the_sentences_most_relevant_to_the_question() -> None:
    doc = " ".join([f"Ada Quill planted tree number {i} by the lake." for i in range(20)]
                   + ["Ada Quill was born in the town of Wexby.", "Wexby lies in the province of Ostmark."])
    got = linked("In which province was Ada Quill born?", doc, per_hop=3)
    assert "Ada Quill was born in the town of Wexby." in got and len(got) == 3 + 1
    assert got[-1] == "Wexby lies in the province of Ostmark."


def test_the_construct_has_its_type_and_costs_no_call() -> None:
    prog = compile_program("def main (doc : Text) (q : Text) : List Text = linked q doc")
    assert prog.type == "Text -> Text -> List Text"
    bound = prog.bound(CostModel(window=4096, output_tokens=100), 10_000, {"q": 50})
    assert (bound.calls, bound.total_prompt_tokens) == (0, 0)
    # the sentences it gives can be shown to a leaf once cut to a size
    leaf = ('def main (doc : Text) (q : Text) : Text = '
            'let notes = join "\\n" (linked q doc) in llm "{peek notes 0 1000} Answer: {q}"')
    one = compile_program(leaf).bound(CostModel(window=4096, output_tokens=100), 10_000, {"q": 50})
    assert one.calls == 1


def test_the_multihop_plan_answers_from_the_chain_in_one_call(tmp_path: Path) -> None:
    seen: list[str] = []

    def reasoner(messages: list[dict[str, Any]]) -> str:
        prompt = messages[1]["content"]
        seen.append(prompt)
        return "Corran boatyard" if "Notes copied" in prompt and all(s in prompt for s in CHAIN) else "NONE"

    provider = ScriptedProvider(script=reasoner)
    config = Config(model="lrtest/hops", window=2048, cache_dir=str(tmp_path))
    with registered(lrtest=provider):
        result = run(compile_plan("multihop"), story(), config,
                     question="Where does Priya Ndlovu's mentor's manager work?")
    assert result.value == "Corran boatyard" and provider.calls == result.calls == 1 < result.bound.calls
    # the notes run in the chain's order, and hold nothing of the filler or the other chain
    notes = seen[0]
    assert notes.index(CHAIN[0]) < notes.index(CHAIN[1]) < notes.index(CHAIN[2])
    assert DISTRACTOR not in notes and "harbour" not in notes


def test_a_question_naming_nothing_is_answered_by_reading_the_chunks(tmp_path: Path) -> None:
    provider = ScriptedProvider(script=lambda messages: "NONE")
    config = Config(model="lrtest/nonames", window=2048, cache_dir=str(tmp_path))
    with registered(lrtest=provider):
        result = run(compile_plan("multihop"), story(), config, question="Where does the mentor's manager work?")
    assert result.value == "NOT FOUND"
    assert provider.calls == result.calls > 1  # every chunk was read


def test_an_answer_not_copied_from_the_chain_sends_the_plan_to_read_the_chunks(tmp_path: Path) -> None:
    def inventive(messages: list[dict[str, Any]]) -> str:
        return "the Atlantis shipyard" if "Notes copied" in messages[1]["content"] else "NONE"

    provider = ScriptedProvider(script=inventive)
    config = Config(model="lrtest/inventive", window=2048, cache_dir=str(tmp_path))
    with registered(lrtest=provider):
        result = run(compile_plan("multihop"), story(), config,
                     question="Where does Priya Ndlovu's mentor's manager work?")
    assert result.value == "NOT FOUND"  # the chunks were read, and no leaf copied a note
    assert provider.calls == result.calls > 2



def test_stating_keeps_the_sentences_with_a_number_or_a_name() -> None:
    doc = ("Oddly enough, the harbour was quiet. Later, the boats came back. The ferry carried 4,118 people. "
           "Nobody expected much. The new mayor, Ines Varga, opened the bridge. Later, it rained. Ines Varga left.")
    # "Oddly", "Later" and "Nobody" only ever open a sentence: no names; "Ines" and "Varga" are
    assert stating(doc) == ["The ferry carried 4,118 people.", "The new mayor, Ines Varga, opened the bridge.",
                            "Ines Varga left."]
    assert stating("the river ran on. nothing happened.") == []


def test_stating_has_its_type_and_costs_no_call() -> None:
    prog = compile_program("def main (doc : Text) : List Text = stating doc")
    assert prog.type == "Text -> List Text"
    assert prog.bound(CostModel(window=4096, output_tokens=100), 10_000).calls == 0
