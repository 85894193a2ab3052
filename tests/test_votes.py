"""Votes: `vote n f x` and `vote_each n f x` sample a leaf n times and keep the majority; their types,
their bound by hand, and both end to end through litellm with a provider whose samples differ."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from providers import SamplingProvider, registered

from lambda_rlm import compile as compile_program
from lambda_rlm import run
from lambda_rlm.analysis.cost import MESSAGE_OVERHEAD, CostModel
from lambda_rlm.core.errors import TypeCheckError
from lambda_rlm.runtime.session import Config

LEAF = '''
def colour (doc : Text) : Text =
  llm """
    {doc}
    Which colour is named above?
    """
'''


def test_the_constructs_have_their_types() -> None:
    assert compile_program(LEAF + "def main (doc : Text) : Text = vote 3 colour doc").type == "Text -> Text"
    each = "def main (doc : Text) : List Text = vote_each votes (\\d -> [colour d, colour d]) doc"
    assert compile_program(LEAF + each).type == "Text -> List Text"
    with pytest.raises(TypeCheckError):  # vote_each votes over a list
        compile_program(LEAF + "def main (doc : Text) : Text = vote_each 3 colour doc")
    with pytest.raises(TypeCheckError):  # the number of samples is an Int
        compile_program(LEAF + 'def main (doc : Text) : Text = vote "3" colour doc')


def test_the_bound_by_hand() -> None:
    model = CostModel(window=10_000, output_tokens=100)  # tokens are bytes, 64 per instruction
    one = compile_program(LEAF + "def main (doc : Text) : Text = colour doc").bound(model, 500)
    per_call = one.max_prompt_tokens
    assert (one.calls, one.total_prompt_tokens) == (1, per_call)
    # the template keeps its last line break
    assert per_call == 500 + len("\nWhich colour is named above?\n") + 64 + MESSAGE_OVERHEAD
    three = compile_program(LEAF + "def main (doc : Text) : Text = vote 3 colour doc").bound(model, 500)
    assert (three.calls, three.max_prompt_tokens, three.total_prompt_tokens) == (3, per_call, 3 * per_call)
    # `votes` is the model's profile: exactly that many samples, whatever the document
    prog = compile_program(LEAF + "def main (doc : Text) : Text = vote votes colour doc")
    assert prog.bound(model, 500).calls == 1
    from dataclasses import replace
    assert prog.bound(replace(model, votes=5), 500).calls == 5
    # the number of samples is kept within 1-16, in the bound as at run time
    many = compile_program(LEAF + "def main (doc : Text) : Text = vote (tokens doc) colour doc")
    assert many.bound(model, 500).calls == 16
    assert compile_program(LEAF + "def main (doc : Text) : Text = vote 0 colour doc").bound(model, 500).calls == 1


def greedy_red_else_blue(prompt: str, temperature: float) -> str:
    return "red" if temperature == 0 else "blue"


def test_the_majority_of_samples_wins_and_a_tie_goes_to_the_first(tmp_path: Path) -> None:
    provider = SamplingProvider(greedy_red_else_blue)
    config = Config(model="lrtest/sampling", window=4096, cache_dir=str(tmp_path))
    with registered(lrtest=provider):
        three = run(compile_program(LEAF + "def main (doc : Text) : Text = vote 3 colour doc"), "a red car", config)
        two = run(compile_program(LEAF + "def main (doc : Text) : Text = vote 2 colour doc"), "a red car", config)
    assert three.value == "blue" and two.value == "red"
    # three requests, not one cached three times: sample 0 at temperature 0, the others drawn
    temperatures = sorted(float(s.params.get("temperature") or 0.0) for s in provider.sent)
    assert temperatures == [0.0, 0.7, 0.7] and three.calls == 3
    assert two.calls == 0 and two.cache_hits == 2  # vote 2's samples are vote 3's first two
    # sample 0 is the leaf itself: a run without a vote finds it in the cache
    with registered(lrtest=provider):
        plain = run(compile_program(LEAF + "def main (doc : Text) : Text = colour doc"), "a red car", config)
    assert (plain.value, plain.calls, provider.calls) == ("red", 0, 3)


LABELS = '''
def main (doc : Text) : List Text =
  concat_map (vote_each votes (label_each "" ["bug", "feature"])) (batches 4 (records doc))
'''


def test_labels_are_voted_record_by_record(tmp_path: Path) -> None:
    def labeller(prompt: str, temperature: float) -> str:
        # greedy: record 2 wrong; the samples: record 2 right, record 3 wrong in only one of them
        body = prompt.split("<items>\n", 1)[1].split("\n</items>", 1)[0]
        found = dict(re.findall(r"^\[(\d+)\] (.*)$", body, re.M))
        right = {k: "bug" if "crash" in line else "feature" for k, line in found.items()}
        if temperature == 0:
            return json.dumps({**right, "2": "feature"})
        labeller.drawn += 1  # type: ignore[attr-defined]
        return json.dumps({**right, "3": "feature"} if labeller.drawn == 1 else right)  # type: ignore[attr-defined]

    labeller.drawn = 0  # type: ignore[attr-defined]
    log = "user1 paid\nuser2 reported a crash\nuser3 reported a crash\nuser4 paid"
    provider = SamplingProvider(labeller)
    config = Config(model="lrtest/labels", window=4096, cache_dir=str(tmp_path), label_votes=3, concurrency=1)
    with registered(lrtest=provider):
        result = run(compile_program(LABELS), log, config)
    assert result.value == ("feature", "bug", "bug", "feature")
    assert provider.calls == result.calls == result.bound.calls == 3


def test_a_vote_count_out_of_range_is_refused() -> None:
    from lambda_rlm.core.errors import ConfigError

    with pytest.raises(ConfigError, match="label_votes"):
        Config(label_votes=0)
