"""Records: numbering, cutting between records, labels decoded against the record numbers (exactly one
per record, from a known set), their bound by hand, and the labelling leaf end to end through litellm."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
from providers import ScriptedProvider, prompt_of, registered

from lambda_rlm import compile as compile_program
from lambda_rlm import run
from lambda_rlm.analysis.cost import MESSAGE_OVERHEAD, CostModel
from lambda_rlm.combinators.records import SHOWN_TOKENS, label_prompt, listed
from lambda_rlm.core import types as t
from lambda_rlm.core.errors import LambdaError, TypeCheckError
from lambda_rlm.models import decode
from lambda_rlm.runtime.session import Config
from lambda_rlm.text.records import Extent, content, extent, records

LOG = "\n".join(f"2024-03-{d:02d} 10:00 user{d} {'paid the invoice' if d % 3 else 'reported a crash'}"
                for d in range(1, 13))


# ---------------------------------------------------------------------- records and what they give to read


def test_every_non_blank_line_is_a_record() -> None:
    assert records("alpha\n\n  beta\ngamma\n") == ["alpha", "beta", "gamma"]
    assert extent("alpha\n\n  beta\ngamma\n") == Extent(3, 5)
    assert extent("") == Extent(0, 0)


def test_blocks_of_labelled_lines_are_one_record_each() -> None:
    mails = "\n\n".join(f"From: p{i}@x.org\nSubject: item {i}\nBody: hello" for i in range(6))
    found = records(mails)
    assert len(found) == 6 and found[2] == "From: p2@x.org\nSubject: item 2\nBody: hello"


@pytest.mark.parametrize(("record", "shown"), [
    ("Date: Jan 27, 2023 || User: 42003 || Instance: What is the forecast for Seattle?",
     "What is the forecast for Seattle?"),
    ("2024-03-01 | ERROR | disk full on /var while writing the nightly backup",
     "disk full on /var while writing the nightly backup"),
    ("id: 7 | name: Ann", "id: 7 | name: Ann"),  # no field long enough to be content: shown whole
    ("The meeting moved to Friday, as agreed.", "The meeting moved to Friday, as agreed."),
])
def test_a_row_is_shown_by_its_content_field(record: str, shown: str) -> None:
    assert content(record) == shown


@pytest.mark.parametrize(("question", "labels"), [
    ("How many?\nEach record's text belongs to one of these categories: Food, travel, music.",
     ("food", "travel", "music")),
    ("Which label is most common? Labels: bug, feature or question", ("bug", "feature", "question")),
    ("How many records are about food?", ()),
])
def test_listed_reads_the_labels_a_question_offers(question: str, labels: tuple[str, ...]) -> None:
    assert listed(question) == labels


# ---------------------------------------------------------------------- decoding: exactly one label per number


LABELS = t.TLabels(("4", "5", "6"), ("bug", "feature"))


def test_a_reply_with_one_choice_per_number_decodes_in_order() -> None:
    assert decode.decode('{"4": "bug", "5": "Feature", "6": "bug"}', LABELS) == ("bug", "feature", "bug")
    assert decode.decode('["bug", "bug", "feature"]', LABELS) == ("bug", "bug", "feature")


@pytest.mark.parametrize(("reply", "said"), [
    ('{"4": "bug", "5": "bug"}', "no label for item 6"),
    ('{"4": "bug", "5": "bug", "6": "bug", "7": "bug"}', "item 7 does not exist"),
    ('["bug", "bug"]', "gave 2 labels for 3 items"),
    ('{"4": "bug", "5": "idea", "6": "bug"}', "item 5's label 'idea' is not one of: bug, feature"),
    ('{"4": "bug", "5": "", "6": "bug"}', "item 5 has no label"),
])
def test_a_reply_with_missing_extra_or_unknown_labels_is_refused(reply: str, said: str) -> None:
    with pytest.raises(decode.DecodeError, match=re.escape(said)):
        decode.decode(reply, LABELS)


def test_the_schema_lets_a_grammar_write_only_the_numbers_in_order_with_a_choice_each() -> None:
    schema = decode.response_format(LABELS)["json_schema"]["schema"]
    assert list(schema["properties"]) == schema["required"] == ["4", "5", "6"]
    assert schema["additionalProperties"] is False
    assert all(p == {"type": "string", "enum": ["bug", "feature"]} for p in schema["properties"].values())


# ---------------------------------------------------------------------- types and the bound by hand

PROGRAM = """
def main (doc : Text) : List Text =
  concat_map (label_each "" ["bug", "feature"]) (batches 4 (records doc))
"""


def test_the_constructs_have_their_types() -> None:
    assert compile_program(PROGRAM).type == "Text -> List Text"
    assert compile_program("def main (doc : Text) : List (List Text) = batches batch (records doc)").type == \
        "Text -> List (List Text)"
    with pytest.raises(TypeCheckError):
        compile_program('def main (doc : Text) : List Text = label_each "" [1, 2] (records doc)')


def test_the_bound_by_hand() -> None:
    prog = compile_program(PROGRAM)
    model = CostModel(window=100_000, output_tokens=300)  # tokens are bytes, 64 per instruction
    n = 5000
    # 12 records of at most 60 bytes: 3 batches of 4, each item "[k] ", its content (a part of the
    # record: a token more at each end where it was cut out) and a line break (and a split token).
    item = len("[4] ") + 60 + 2 + 2
    fixed = max(len(label_prompt("", ("",), "", "")), len(label_prompt("", (), "", "")))  # both forms
    prompt = fixed + 0 + 4 * item + 2 * (len("feature") + len(" | ")) + 3 * len("4") + 6
    per_call = prompt + 64 + MESSAGE_OVERHEAD
    b = prog.bound(model, n, input_records=Extent(12, 60))
    assert (b.calls, b.max_prompt_tokens, b.total_prompt_tokens) == (3, per_call, 3 * per_call)
    # Without the records' extent every token may be a record, shown by at most SHOWN_TOKENS (128).
    unknown = prog.bound(model, n)
    assert unknown.calls == n // 4
    assert unknown.max_prompt_tokens == per_call + 4 * (SHOWN_TOKENS - (60 + 2))


def test_batch_is_the_most_records_whose_prompt_and_reply_fit_capped_by_the_profile() -> None:
    prog = compile_program(PROGRAM.replace("batches 4", "batches batch"))
    model = CostModel(window=100_000, output_tokens=300)
    reply = len('"NN": "", ') + len("feature") + 2  # one entry of the reply, for up to 99 items
    b = prog.bound(model, 5000, input_records=Extent(600, 60))
    assert b.batch is not None and b.batch * reply + 2 <= 300 < (b.batch + 1) * reply + 2
    assert b.calls == -(-600 // b.batch)
    capped = prog.bound(model, 5000, input_records=Extent(600, 60), max_leaf_records=5)
    assert (capped.batch, capped.calls) == (5, 120)


# ---------------------------------------------------------------------- end to end through litellm


def labeller(messages: list[dict[str, Any]]) -> str:
    """A reader that labels each numbered record by its words."""
    body = prompt_of(messages).split("<items>\n", 1)[1].split("\n</items>", 1)[0]
    found = re.findall(r"^\[(\d+)\] (.*)$", body, re.M)
    return json.dumps({k: "bug" if "crash" in line else "feature" for k, line in found})


COUNTING = PROGRAM.replace(": List Text =", ": List (Text, Int) =\n  counts (").replace("batches 4", "batches 12")
COUNTING = COUNTING.rstrip() + ")\n"


def test_labels_are_counted_over_every_record(tmp_path: Path) -> None:
    provider = ScriptedProvider(script=labeller)
    config = Config(model="lrtest/labels", window=4096, cache_dir=str(tmp_path))
    with registered(lrtest=provider):
        result = run(compile_program(COUNTING), LOG, config)
    assert sorted(result.value) == [("bug", 4), ("feature", 8)]
    assert provider.calls == result.calls == 1 <= result.bound.calls
    system = provider.sent[0].messages[0]["content"]
    assert "maps the number of every item" in system


def test_a_reply_of_the_wrong_length_is_re_asked_never_padded_or_cut(tmp_path: Path) -> None:
    def short_first(messages: list[dict[str, Any]]) -> str:
        full = json.loads(labeller(messages))
        if len(messages) == 2:  # the first ask: drop the last label
            return json.dumps(dict(list(full.items())[:-1]))
        assert "no label for item 12" in messages[-1]["content"]
        return json.dumps(full)

    provider = ScriptedProvider(script=short_first)
    config = Config(model="lrtest/labels", window=4096, cache_dir=str(tmp_path), reasks=1)
    with registered(lrtest=provider):
        result = run(compile_program(COUNTING), LOG, config)
    assert sorted(result.value) == [("bug", 4), ("feature", 8)] and provider.calls == 2

    always_short = ScriptedProvider(script=lambda m: json.dumps(dict(list(json.loads(labeller(m)).items())[:-1])))
    config = Config(model="lrtest/short", window=4096, cache_dir=str(tmp_path / "other"), reasks=1)
    with registered(lrtest=always_short), pytest.raises(LambdaError, match="no label for item 12"):
        run(compile_program(COUNTING), LOG, config)
    assert always_short.calls == 2
