"""Grounded hops: of what a leaf copied, only the sentences its text holds are kept; end to end through litellm,
a made-up fact never reaches the next hop."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from providers import ScriptedProvider, prompt_of, registered

from lambda_rlm import compile as compile_program
from lambda_rlm import run
from lambda_rlm.combinators.evidence import grounded
from lambda_rlm.core.values import Some
from lambda_rlm.runtime.session import Config

TEXT = "Bob owns the red car. It was parked.  Alice likes\ngreen.\nThe end"


def test_only_sentences_the_text_holds_are_kept() -> None:
    reply = Some("Bob owns the red car. Carol owns the blue car. Alice likes green.")
    assert grounded(TEXT, reply) == Some("Bob owns the red car. Alice likes green.")
    assert grounded(TEXT, Some("Bob owns the red car")) == Some("Bob owns the red car")  # no full stop
    assert grounded(TEXT, Some("Carol owns the blue car.")) is None
    assert grounded(TEXT, None) is None


def test_grounded_has_its_type_and_costs_no_call() -> None:
    prog = compile_program("def main (doc : Text) : Option Text = grounded doc (some doc)")
    assert prog.type == "Text -> Option Text" and prog.cost(input_tokens=1000).calls == 0


def test_a_made_up_fact_never_reaches_the_next_hop(tmp_path: Path) -> None:
    program = """
def hop (chunk : Text) : Option Text =
  llm "<passage>{chunk}</passage> Copy the sentences about the red car."

def next (facts : Text) : Text =
  llm "Facts: {facts} Who is it?"

def main (doc : Text) : Text =
  next (default "nothing" (grounded doc (hop doc)))
"""

    def model(messages: list[dict[str, Any]]) -> str:
        prompt = prompt_of(messages)
        if prompt.startswith("<passage>"):
            return "Bob owns the red car. Mallory stole the red car."  # the second sentence is made up
        return prompt

    provider = ScriptedProvider(script=model)
    with registered(lrtest=provider):
        result = run(compile_program(program), TEXT, Config(model="lrtest/x", cache_dir=str(tmp_path)))
    assert "Bob owns the red car." in result.value and "Mallory" not in result.value
