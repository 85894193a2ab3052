"""Ranked reading: `ranked` orders pieces by BM25 relevance (no model call) and `scan` reads them in
waves until one answers; types, the bound by hand, and end to end through litellm."""

from __future__ import annotations

from pathlib import Path

import pytest
from providers import ScriptedProvider, registered

from lambda_rlm import compile as compile_program
from lambda_rlm import run
from lambda_rlm.analysis.cost import CostModel
from lambda_rlm.core.errors import TypeCheckError
from lambda_rlm.runtime.session import Config
from lambda_rlm.text.records import Extent
from lambda_rlm.text.relevance import ranked

FIND = '''
def find_in (question : Text) (chunk : Text) : Option Text =
  llm """
    {chunk}
    If the text above answers the question below, reply with the answer only; else reply NONE.
    Question: {question}
    """
'''
SCAN = FIND + '''
def main (doc : Text) (question : Text) : List Text =
  scan (\\a -> a != "") (\\c -> filter_map id [find_in question c]) (ranked question (records doc))
'''
EVERY = FIND + '''
def main (doc : Text) (question : Text) : List Text =
  concat_map (\\c -> filter_map id [find_in question c]) (records doc)
'''
# Each line is a record, and a piece; each shares "north" with the question.
FILLER = [f"Line {i} describes the north harbour, its boats and the weather of a quiet winter day." for i in range(12)]


def document(fact: str, at: int) -> str:
    paragraphs = [*FILLER]
    paragraphs[at] = fact
    return "\n".join(paragraphs)


def test_ranking_puts_the_piece_sharing_the_rarest_words_first_and_keeps_ties_in_order() -> None:
    pieces = ["The weather was fine.", "The access code for the north gate is 7342.", "Boats, boats.", "Gates."]
    assert ranked("What is the access code for the north gate?", pieces)[0] == 1
    assert ranked("nothing in common", pieces) == [0, 1, 2, 3]
    assert ranked("anything", []) == []


def test_the_constructs_have_their_types() -> None:
    assert compile_program(SCAN).type == "Text -> Text -> List Text"
    with pytest.raises(TypeCheckError):  # the test must be a predicate over what f gives
        compile_program(SCAN.replace('scan (\\a -> a != "")', "scan (\\a -> a + 1 > 0)"))


def test_the_bound_is_reading_every_piece() -> None:
    model = CostModel(window=2000, output_tokens=50)
    scanned = compile_program(SCAN).bound(model, 1000, {"question": 12}, input_records=Extent(12, 90))
    everything = compile_program(EVERY).bound(model, 1000, {"question": 12}, input_records=Extent(12, 90))
    assert scanned.calls == everything.calls == 12  # one call a record
    assert (scanned.max_prompt_tokens, scanned.total_prompt_tokens) == (
        everything.max_prompt_tokens, everything.total_prompt_tokens)


def reader(prompt: str) -> str:
    return "7342" if "code for the north gate is 7342" in prompt else "NONE"


QUESTION = "What is the access code for the north gate?"


def test_the_most_relevant_piece_is_read_first_and_reading_stops_there(tmp_path: Path) -> None:
    provider = ScriptedProvider(reader)
    config = Config(model="lrtest/read", window=2000, output_tokens=50, concurrency=1, cache_dir=str(tmp_path))
    doc = document("The access code for the north gate is 7342.", at=11)  # the last paragraph
    with registered(lrtest=provider):
        result = run(compile_program(SCAN), doc, config, question=QUESTION)
    assert result.value == ("7342",) and provider.calls == result.calls == 1 < result.bound.calls
    assert result.pieces_read == {"read": 1, "of": result.bound.calls}  # reported, as read


def test_read_all_reads_every_piece_even_after_one_answers(tmp_path: Path) -> None:
    provider = ScriptedProvider(reader)
    config = Config(model="lrtest/read", window=2000, output_tokens=50, concurrency=1, cache_dir=str(tmp_path),
                    read_all=True)
    doc = document("The access code for the north gate is 7342.", at=11)
    with registered(lrtest=provider):
        result = run(compile_program(SCAN), doc, config, question=QUESTION)
    assert result.value == ("7342",) and provider.calls == result.calls == result.bound.calls > 1
    assert result.pieces_read == {"read": result.bound.calls, "of": result.bound.calls}


def test_the_top_piece_is_read_alone_then_a_wave_is_as_many_pieces_as_requests_in_flight(tmp_path: Path) -> None:
    provider = ScriptedProvider(reader)
    config = Config(model="lrtest/read", window=2000, output_tokens=50, concurrency=4, cache_dir=str(tmp_path))
    doc = document("The access code for the north gate is 7342.", at=5).replace(
        FILLER[2], "Access code? The north gate access code, the access code of the north gate: not yet posted.")
    with registered(lrtest=provider):
        result = run(compile_program(SCAN), doc, config, question=QUESTION)
    # The decoy ranks first and is read alone; it does not answer, so the next wave reads 4 at once.
    assert result.value == ("7342",) and provider.calls == 1 + 4
    assert result.pieces_read is not None and result.pieces_read["read"] == 5 < result.pieces_read["of"]


def test_with_no_answer_every_piece_is_read_and_no_more(tmp_path: Path) -> None:
    provider = ScriptedProvider(reader)
    config = Config(model="lrtest/read", window=2000, output_tokens=50, concurrency=1, cache_dir=str(tmp_path))
    with registered(lrtest=provider):
        result = run(compile_program(SCAN), document("Nothing here about gates.", at=3), config, question=QUESTION)
    assert result.value == () and provider.calls == result.calls == result.bound.calls
    assert result.pieces_read == {"read": result.bound.calls, "of": result.bound.calls}


def test_an_answer_in_the_lowest_ranked_piece_is_still_found(tmp_path: Path) -> None:
    # the answering paragraph shares no word with the question: it ranks last, and is read last
    provider = ScriptedProvider(lambda prompt: "7342" if "Zulu entry: 7342" in prompt else "NONE")
    config = Config(model="lrtest/read", window=2000, output_tokens=50, concurrency=1, cache_dir=str(tmp_path))
    with registered(lrtest=provider):
        result = run(compile_program(SCAN), document("Zulu entry: 7342.", at=0), config, question=QUESTION)
    assert result.value == ("7342",) and provider.calls == result.bound.calls
    assert "Zulu entry" in provider.sent[-1].messages[-1]["content"]
