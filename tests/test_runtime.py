"""End to end: programs run through litellm against deterministic custom providers, within their bounds."""

from __future__ import annotations

import asyncio
import json
import re
from pathlib import Path
from typing import Any

import pytest
from providers import ScriptedProvider, SleepingProvider, registered

from lambda_rlm import compile
from lambda_rlm.core.errors import BudgetExceeded, LeafError
from lambda_rlm.runtime.session import Config, Result, arun, run

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = ROOT / "examples"
NEEDLE = re.compile(r"The special magic number for (\w+) is (\d+)\.")
RECORD = re.compile(r"user=(\w+) category=(\w+)")


def reader(messages: list[dict[str, Any]]) -> str:
    """A reader that answers only from what its prompt contains, in the format the system asks for."""
    system = str(messages[0]["content"])
    prompt = next(str(m["content"]) for m in messages if m["role"] == "user")
    if "JSON" in system and "user" in system:
        return json.dumps([{"user": u, "category": c} for u, c in RECORD.findall(prompt)])
    if "JSON" in system:
        return json.dumps([c for _, c in RECORD.findall(prompt)])
    found = NEEDLE.search(prompt)
    if "NONE" in system:
        return found.group(2) if found else "NONE"
    if "Notes taken" in prompt:
        return NEEDLE.search(prompt).group(2) if found else "unknown"
    words = prompt.split()
    return " ".join(words[:12])


def filler(tokens: int, seed: int = 0) -> str:
    words = ["the", "river", "report", "quietly", "measured", "seven", "lanterns", "across", "a", "field"]
    out, n = [], 0
    while n < tokens:
        sentence = " ".join(words[(seed + i * 7 + n) % len(words)] for i in range(9)).capitalize() + "."
        out.append(sentence)
        n += 11
        if len(out) % 6 == 0:
            out.append("\n\n")
    return " ".join(out)


def needle_doc(tokens: int, key: str = "apple", value: str = "48213", depth: float = 0.6) -> str:
    body = filler(tokens)
    cut = body.rfind(". ", 0, int(len(body) * depth)) + 2
    return body[:cut] + f"The special magic number for {key} is {value}. " + body[cut:]


def config(tmp_path: Path, **kw: Any) -> Config:
    return Config(model="lrtest/reader", window=kw.pop("window", 2048), output_tokens=kw.pop("output_tokens", 64),
                  cache_dir=str(tmp_path / "cache"), **kw)


def within_bound(result: Result) -> Result:
    assert result.calls <= result.bound.calls
    return result


def test_search_finds_the_needle_and_stays_within_its_bound(tmp_path: Path) -> None:
    provider = ScriptedProvider(script=reader)
    with registered(lrtest=provider):
        result = within_bound(run(EXAMPLES / "search.lam", needle_doc(20_000), config(tmp_path),
                                  question="What is the special magic number for apple?"))
    assert result.value == "48213"
    assert result.calls == provider.calls > 1
    assert result.bound.calls >= result.calls and result.bound.tau is not None


def test_rerun_is_served_from_the_cache(tmp_path: Path) -> None:
    provider = ScriptedProvider(script=reader)
    doc = needle_doc(6_000)
    with registered(lrtest=provider):
        first = run(EXAMPLES / "search.lam", doc, config(tmp_path), question="magic number for apple?")
        calls = provider.calls
        second = run(EXAMPLES / "search.lam", doc, config(tmp_path), question="magic number for apple?")
    assert second.value == first.value == "48213"
    assert provider.calls == calls and second.calls == 0 and second.cache_hits == first.calls


def test_budget_below_the_bound_refuses_before_any_call(tmp_path: Path) -> None:
    provider = ScriptedProvider(script=reader)
    with registered(lrtest=provider), pytest.raises(BudgetExceeded) as info:
        run(EXAMPLES / "search.lam", needle_doc(20_000), config(tmp_path, max_calls=2), question="q?")
    assert "--max-calls 2" in info.value.message and provider.calls == 0


def test_map_fans_out_under_the_concurrency_limit(tmp_path: Path) -> None:
    provider = SleepingProvider(lambda prompt: "x", latency_s=0.05)
    program = "def main (doc : Text) : List Text = map (\\c -> llm \"{c}\") (split doc 20)"
    with registered(lrtest=provider):
        result = within_bound(run(program, filler(2_000), config(tmp_path, concurrency=4)))
    assert len(result.value) == result.calls == provider.calls > 8
    assert provider.max_in_flight == 4


def test_a_failing_leaf_aborts_the_run_unless_recovered(tmp_path: Path) -> None:
    provider = ScriptedProvider(lambda prompt: "not a number")
    failing = "def main (doc : Text) : Int = llm \"How many? {doc}\""
    recovered = "def main (doc : Text) : Int = recover (\\d -> (llm \"How many? {d}\" : Int)) (-1) doc"
    with registered(lrtest=provider):
        with pytest.raises(LeafError) as info:
            run(failing, "three apples", config(tmp_path, reasks=1))
        assert "did not decode" in info.value.message
        assert run(recovered, "three apples", config(tmp_path, reasks=1)).value == -1


def test_a_failing_leaf_inside_the_library_is_located_at_the_users_call(tmp_path: Path) -> None:
    provider = ScriptedProvider(lambda prompt: "not a list at all")
    program = tmp_path / "kinds.lam"
    program.write_text('import labels\n\ndef main (doc : Text) : List Text =\n'
                       '  labels_of "" ["fruit", "tool"] (lines doc)\n')
    with registered(lrtest=provider), pytest.raises(LeafError) as info:
        run(compile(program), "a pear\nan apple\n", config(tmp_path, reasks=0))
    error = info.value
    assert error.span is not None and error.span.source.name == str(program)
    assert error.span.line == 4  # the user's own call of labels_of, not a line of the library
    assert any(note.startswith("inside <lib>/") for note in error.notes)  # where in the library it failed
    assert f"{program}:4:3: leaf error" in error.format()


@pytest.mark.parametrize("fan_out", ["map", "divide"])
def test_a_failed_leaf_stops_its_siblings_before_the_run_raises(tmp_path: Path, fan_out: str) -> None:
    # Leaves queued behind the failing one must not go on calling (and paying) after the error.
    sources = {
        "map": 'def main (doc : Text) : List Int = map (\\c -> (llm "{c}" : Int)) (split doc 20)',
        "divide": 'def main (doc : Text) : Int = divide 20 2 (\\c -> (llm "{c}" : Int)) (\\a b -> a + b) doc',
    }
    doc = " ".join(f"word{i}" for i in range(400))
    provider = ScriptedProvider(lambda prompt: "not a number" if "word40 " in prompt else "7")

    async def scenario() -> tuple[int, int]:
        cfg = config(tmp_path, concurrency=1, reasks=0, use_cache=False)
        with pytest.raises(LeafError):
            await arun(sources[fan_out], doc, cfg)
        raised_at = provider.calls
        await asyncio.sleep(0.5)  # what was left running would call the provider meanwhile
        return raised_at, provider.calls

    clean = ScriptedProvider(lambda prompt: "7")
    with registered(lrtest=clean):
        run(sources[fan_out], doc, config(tmp_path, concurrency=1, use_cache=False))
    with registered(lrtest=provider):
        raised_at, later = asyncio.run(scenario())
    assert later == raised_at
    assert raised_at < clean.calls  # the run stopped at the failing leaf, short of all the leaves


def test_inputs_are_checked_against_main(tmp_path: Path) -> None:
    from lambda_rlm.core.errors import ConfigError

    with pytest.raises(ConfigError, match="needs the input 'question'"):
        run(EXAMPLES / "search.lam", "doc", config(tmp_path))
    with pytest.raises(ConfigError, match="no input named nope"):
        run(EXAMPLES / "search.lam", "doc", config(tmp_path), question="q", nope=1)


SIZES = [0, 1, 300, 5_000, 60_000, pytest.param(1_000_000, marks=pytest.mark.slow)]


@pytest.mark.parametrize("name", ["search", "classify", "aggregate", "pairwise", "summarise", "multihop"])
@pytest.mark.parametrize("tokens", SIZES)
def test_no_example_exceeds_its_bound(tmp_path: Path, name: str, tokens: int) -> None:
    program = compile(EXAMPLES / f"{name}.lam")
    inputs = {i.name: "users in category sports" for i in program.inputs[1:]}
    doc = needle_doc(tokens) if tokens else ""
    provider = ScriptedProvider(script=reader)
    window = 8192 if tokens > 100_000 else 1024
    with registered(lrtest=provider):
        result = run(program, doc, config(tmp_path, window=window), **inputs)
    assert provider.calls == result.calls <= result.bound.calls
    if tokens > 1_000 and name != "summarise":
        assert result.calls > result.bound.calls // 2  # the bound is tight, not just safe


@pytest.mark.parametrize(("leaf", "bad", "good"), [
    ("llm \"Sum up: {c}\"", "  \n\t ", "fine"),  # Text: only a blank reply fails, and shows as nothing
    ("(llm \"Count the words: {c}\" : Int)", "many " * 400, "3"),  # the bad reply is shown, up to the cap
])
def test_a_re_asked_leaf_stays_within_the_prompt_bound(tmp_path: Path, leaf: str, bad: str, good: str) -> None:
    from lambda_rlm.models.llm import MESSAGE_OVERHEAD_TOKENS
    from lambda_rlm.text.tokens import cl100k

    def first_bad(messages: list[dict[str, Any]]) -> str:
        return good if len(messages) > 2 else bad  # a re-ask carries the bad reply and a correction

    provider = ScriptedProvider(script=first_bad)
    program = f"def main (doc : Text) : List _ = map (\\c -> {leaf}) (split doc tau)"
    with registered(lrtest=provider):
        result = within_bound(run(program.replace("List _", "List Text" if "Int" not in leaf else "List Int"),
                                  filler(6_000), config(tmp_path, window=2048, output_tokens=300)))
    count = cl100k().count
    sent = [sum(count(str(m["content"])) + MESSAGE_OVERHEAD_TOKENS for m in s.messages) for s in provider.sent]
    assert len(sent) == 2 * len(result.value) and result.value[0] == (good if "Int" not in leaf else 3)
    assert max(sent) <= result.bound.max_prompt_tokens  # the re-asks, the largest prompts, included
