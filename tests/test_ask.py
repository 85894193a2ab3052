"""`ask`: the rule classifier as a table, the menu call, direct vs plan, and every task plan run end
to end through litellm with a deterministic reader, within its static bound."""

from __future__ import annotations

import argparse
import json
import re
from pathlib import Path
from typing import Any

import pytest
from providers import ScriptedProvider, prompt_of, registered

import lambda_rlm
from lambda_rlm.cli.ask import add_parser
from lambda_rlm.cli.ask import run as run_cli
from lambda_rlm.core.errors import BudgetExceeded, ConfigError
from lambda_rlm.runtime.session import FALLBACK_WINDOW, Config
from lambda_rlm.strategies import plan as ask_module
from lambda_rlm.strategies.ask import ask
from lambda_rlm.strategies.plan import TASKS, AskResult, check_plans, classify, parse_menu_reply

# ---------------------------------------------------------------------- documents

NEEDLE = re.compile(r"The special magic number for (\w+) is (\d+)\.")
TOPIC = re.compile(r"This part is about (\w+)\.")
RECORD = re.compile(r"user=(\w+) category=(\w+)")
PARTIAL_RECORD = re.compile(r"user=(\w+)(?: category=(\w+))?")
KEY = re.compile(r"Key fact: [^.]*\.")
OWNER = re.compile(r"(\w+) owns the red car\.")
COLOUR = re.compile(r"(\w+)'s favourite colour is (\w+)\.")
QUESTION = re.compile(r"(?:Question|Request): (.*?)\s*$")


def filler(tokens: int, seed: int = 0) -> str:
    """Plain prose of about `tokens` tokens in paragraphs, mentioning nothing a reader looks for."""
    words = ["the", "river", "report", "quietly", "measured", "seven", "lanterns", "across", "a", "field"]
    out, n = [], 0
    while n < tokens:
        out.append(" ".join(words[(seed + i * 7 + n) % len(words)] for i in range(9)).capitalize() + ".")
        n += 11
        if len(out) % 6 == 0:
            out.append("\n\n")
    return " ".join(out)


def planted(tokens: int, facts: list[str]) -> str:
    """Filler with each fact as its own paragraph, spread evenly through the document."""
    parts = [filler(tokens // (len(facts) + 1), seed=i) for i in range(len(facts) + 1)]
    body = parts[0]
    for fact, part in zip(facts, parts[1:], strict=True):
        body += f"\n\n{fact}\n\n{part}"
    return body


USERS = {  # user -> categories (a user may have several records)
    "alice": ["jazz", "sports"], "bob": ["jazz"], "carol": ["news"], "dave": ["jazz", "jazz"],
    "erin": ["sports"], "frank": ["news", "sports"], "grace": ["jazz"], "heidi": ["sports"],
}
RECORDS = [f"Record: user={u} category={c}" for u, cs in USERS.items() for c in cs]


# ---------------------------------------------------------------------- the reader


def reader(messages: list[dict[str, Any]]) -> str:
    """A reader that answers only from the prompt it receives, in the format its system message asks."""
    system, prompt = str(messages[0]["content"]), prompt_of(messages)
    asked = QUESTION.search(prompt)
    question = asked.group(1) if asked else ""
    if "Kinds of question" in prompt:
        return MENU_REPLIES.get(question, "1")
    if "Answer the question below using only the document above" in prompt:
        return _needle(prompt, question) or "NOT FOUND"
    if "states the answer to the question" in prompt:
        return _needle(prompt, question) or "NONE"
    if "Reply with the one category" in prompt:
        found = TOPIC.search(prompt)
        return found.group(1) if found else "NONE"
    if "maps the number of every item" in system:  # label_each: one label per numbered record
        return json.dumps({k: (RECORD.search(line) or TOPIC.search(line) or re.search(r"()(\w+)", line)).groups()[-1]
                           for k, line in re.findall(r"^\[(\d+)\] (.*)$", prompt, re.M)})
    if "List the distinct categories" in prompt:
        return json.dumps(sorted({c for _, c in RECORD.findall(prompt)}))
    if "copy its category, label or type as written in the item" in prompt:
        labels = [c for _, c in RECORD.findall(prompt)]
        return json.dumps(labels) if labels else "NONE"
    if '("item")' in prompt:
        records = [{"item": u, "label": c or None} for u, c in PARTIAL_RECORD.findall(prompt)]
        return json.dumps(records) if records else "NONE"
    if "Summarise the text above" in prompt or "Merge the two summaries" in prompt or "Summarise them" in prompt:
        return " ".join(KEY.findall(prompt)) or "Nothing of note."
    if "Facts found so far" in prompt:  # the second hop: sentences about what the facts name
        passage = prompt.split("</passage>")[0]
        known = set(re.findall(r"[A-Z]\w+", prompt.split("Facts found so far:")[1].split("Copy, word")[0]))
        facts = [m.group(0) for m in (*OWNER.finditer(passage), *COLOUR.finditer(passage)) if m.group(1) in known]
        return " ".join(facts) or "NONE"
    if "Copy, word for word" in prompt:  # the first hop: sentences the question's words point to
        passage = prompt.split("</passage>")[0]
        facts = [m.group(0) for m in OWNER.finditer(passage) if "red car" in question]
        facts += [m.group(0) for m in COLOUR.finditer(passage) if m.group(1) in question]
        return " ".join(facts) or "NONE"
    if "Notes copied from a long document" in prompt:
        notes = prompt.split("Answer the question below")[0]
        owner = OWNER.search(notes)
        colours = dict(COLOUR.findall(notes))
        return colours.get(owner.group(1), "NOT FOUND") if owner else "NOT FOUND"
    raise AssertionError(f"the reader does not know this prompt: {system[:60]} / {prompt[:200]}")


def _needle(prompt: str, question: str) -> str | None:
    for key, value in NEEDLE.findall(prompt):
        if key in question:
            return str(value)
    return None


MENU_REPLIES = {
    "Tell me about the lanterns in the field.": "5",
    "Tell me about the lanterns, please.": "I think 3 or maybe 5",
    "Tell me the favourite colour of whoever owns the red car.": "6. multihop",
}


def config(tmp_path: Path, **kw: Any) -> Config:
    return Config(model="lrtest/reader", window=kw.pop("window", 2048), output_tokens=kw.pop("output_tokens", 256),
                  cache_dir=str(tmp_path / "cache"), **kw)


def answered(question: str, document: str, tmp_path: Path, **kw: Any) -> tuple[AskResult, ScriptedProvider]:
    provider = ScriptedProvider(script=reader)
    task = kw.pop("task", None)
    with registered(lrtest=provider):
        got = ask(question, document, config(tmp_path, **kw), task=task)
    assert got.result.calls <= got.result.bound.calls
    assert got.calls == provider.calls
    return got, provider


# ---------------------------------------------------------------------- the classifier

CLASSIFIER_TABLE = [
    # (question, task, confident)
    ("What is the special magic number for apple?", "search", True),
    ("Who signed the report?", "search", True),
    ("When was the treaty ratified?", "search", True),
    ("Where is the company headquartered?", "search", True),
    ("Is there a clause about arbitration?", "search", True),
    ("Find the invoice total for March.", "search", True),
    ("Tell me about the lanterns in the field.", "search", False),
    ("The password, please", "search", False),
    ("How many users are in category sports?", "aggregate", True),
    ("Count the records labelled location.", "aggregate", True),
    ("What is the most common category?", "aggregate", True),
    ("Which label is least frequent among the questions?", "aggregate", True),
    ("What is the number of items in each category?", "aggregate", True),
    ("Give the total number of complaints.", "aggregate", True),
    ("How often does the word lantern appear?", "aggregate", True),
    ("Show the distribution of ticket priorities.", "aggregate", True),
    ("Which pairs of users both have category jazz?", "pairwise", True),
    ("Which users in the list that I sent both like jazz?", "pairwise", True),
    ("List all pairs of employees who work in the same office.", "pairwise", True),
    ("Which two people were born in the same city?", "pairwise", True),
    ("How many pairs of users share a city?", "pairwise", True),
    ("Which customers have a supplier in common?", "pairwise", True),
    ("Summarise the report.", "summarise", True),
    ("Summarize this paper in three sentences.", "summarise", True),
    ("Give me an overview of the meeting notes.", "summarise", True),
    ("What are the main points of the article?", "summarise", True),
    ("What is this document about?", "summarise", True),
    ("Classify this document as finance, sports or weather.", "classify", True),
    ("Categorise the email: spam, personal or work?", "classify", True),
    ("What kind of document is this: a contract, an invoice or a letter?", "classify", True),
    ("What is the sentiment of the review?", "classify", True),
    ("Which category does this ticket belong to?", "classify", False),
    ("What is the favourite colour of the person who owns the red car?", "multihop", True),
    ("Who is the manager of the employee that wrote the Q3 report?", "multihop", True),
    ("Which author, whose first book won a prize, lives in Paris?", "multihop", True),
    ("Where does Alice's manager's sister live?", "multihop", True),
    ("How many users whose category is sports joined in May?", "aggregate", False),
    ("Which is right?\nA) red\nB) blue", "choice", True),
    ("How many parameters does `f` declare?\n(A) 1\n(B) 2\n(C) 3\nAnswer with the letter.", "choice", True),
    ("Which two people share an office?\na. Ann and Bo\nb. Cy and Di", "choice", True),
    ("Which of these is listed?\nA) only one choice", "search", True),
]


@pytest.mark.parametrize(("question", "task", "confident"), CLASSIFIER_TABLE)
def test_rules_classify_the_question(question: str, task: str, confident: bool) -> None:
    assert classify(question) == (task, confident)


def test_the_table_covers_every_task() -> None:
    assert {task for _, task, _ in CLASSIFIER_TABLE} == set(TASKS) and len(CLASSIFIER_TABLE) >= 30


@pytest.mark.parametrize(("reply", "task"), [
    ("3", "aggregate"), ("3.", "aggregate"), ("3. aggregate", "aggregate"), ("**5**", "summarise"),
    ("summarize", "summarise"), ("Multi-hop", "multihop"), (" 6) multihop\n", "multihop"),
    ("I think 3 or maybe 5", None), ("3 or 5", None), ("3. summarise", None), ("8", None), ("0", None),
        ("7", "choice"),
    ("The answer is 4", None), ("aggregate, maybe", None), ("", None), ("12", None),
])
def test_menu_replies_are_parsed_strictly(reply: str, task: str | None) -> None:
    assert parse_menu_reply(reply) == task


def test_every_plan_is_checked_at_load() -> None:
    plans = check_plans()
    assert set(plans) == {*TASKS, "direct", "task_menu"}
    for name, program in plans.items():
        assert [i.name for i in program.inputs] == ["doc", "question"], name
        sized = program.uses_partition or program.uses("batch")  # leaves of τ tokens or of `batch` records
        assert sized == (name in TASKS), name


def test_the_package_exports_ask_as_a_function(monkeypatch: pytest.MonkeyPatch) -> None:
    # The module is not named `ask`: importing a submodule binds its name on the package, which
    # would shadow the lazily exported function after its first use.
    monkeypatch.setitem(lambda_rlm._LAZY, "ask", "strategies.ask")
    assert lambda_rlm.ask is ask and lambda_rlm.ask is ask


def test_unknown_task_and_plan_names_are_config_errors(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="no task type 'poetry'"):
        ask("q?", "short", config(tmp_path), task="poetry")
    with pytest.raises(ConfigError, match="no plan named"):
        ask_module.plan_source("../direct")


# ---------------------------------------------------------------------- every task, end to end


def test_search_finds_the_needle(tmp_path: Path) -> None:
    doc = planted(12_000, ["The special magic number for banana is 11111.",
                           "The special magic number for apple is 48213."])
    got, _ = answered("What is the special magic number for apple?", doc, tmp_path)
    assert (got.task, got.plan, got.used_model) == ("search", "search", False)
    # The needle's chunk ranks first, so one leaf answers where the bound allows one per chunk.
    assert got.value == "48213" and got.result.calls < got.result.bound.calls and got.result.bound.tau is not None


# Shares the question's words, so it ranks first and is read alone; it states no number, so the
# readers below give nothing grounded there and the next wave reads several chunks at once.
DECOY_APPLE = "The special magic number for apple, the apple number, is special: ask the apple office."
DECOY_GATE = "The access code for the north gate: the north gate access code is kept by the gate office."


def test_search_prefers_an_answer_written_in_its_chunk(tmp_path: Path) -> None:
    doc = planted(12_000, [DECOY_APPLE, "The special magic number for apple is 48213."])

    def inventive(messages: list[dict[str, Any]]) -> str:
        prompt = prompt_of(messages)
        return "48213" if "48213" in prompt else "77777"  # invents a value wherever the needle is not

    provider = ScriptedProvider(script=inventive)
    with registered(lrtest=provider):
        got = ask("What is the special magic number for apple?", doc, config(tmp_path))
    assert got.value == "48213" and got.result.calls > 2 and got.result.calls <= got.result.bound.calls


def test_search_prefers_the_grounded_answer_whose_surroundings_match_the_question(tmp_path: Path) -> None:
    """A sloppy reader copies the first number of every chunk: both answers are written in their
    chunks and each is given once, so the first used to win; the one next to the question's words wins now."""
    doc = planted(12_000, [DECOY_GATE, "Invoice 5518 was paid in full by the harbour office in March.",
                           "The access code for the north gate is 7342."])

    def sloppy(messages: list[dict[str, Any]]) -> str:
        chunk = prompt_of(messages).split("</document>")[0]
        number = re.search(r"\b\d{4}\b", chunk)
        return number.group(0) if number else "NONE"

    provider = ScriptedProvider(script=sloppy)
    with registered(lrtest=provider):
        got = ask("What is the access code for the north gate?", doc, config(tmp_path))
    assert got.plan == "search" and got.result.calls > 2
    assert got.value == "7342"


def test_support_counts_the_question_words_near_the_answer() -> None:
    from lambda_rlm.combinators.evidence import support

    text = "Invoice 5518 was paid. " + "filler " * 100 + "The access code for the north gate is 7342."
    question = "What is the access code for the north gate?"
    assert support(question, text, "7342") == 4  # access, code, north, gate
    assert support(question, text, "5518") == 0  # the gate's words are more than 300 characters away
    assert support(question, text, "9999") == -1 and support(question, text, " ") == -1


def test_classify_takes_the_majority_of_the_parts(tmp_path: Path) -> None:
    doc = planted(12_000, ["This part is about finance.", "This part is about weather.",
                           "This part is about finance.", "This part is about finance."])
    got, _ = answered("Classify this document: is it about finance, sports or weather?", doc, tmp_path)
    assert (got.task, got.plan) == ("classify", "classify")
    assert got.value == "finance"


@pytest.mark.parametrize(("question", "answer"), [
    ("How many records are in category jazz?", "5"),
    ("What is the most common category?", "jazz"),
    ("Which category is least common?", "news"),
    ("How many distinct categories are there?", "3"),
    ("How many records are there per category?", "jazz: 5\nsports: 4\nnews: 2"),
    ("How many records are there?", "11"),
])
def test_aggregate_counts_symbolically(tmp_path: Path, question: str, answer: str) -> None:
    doc = planted(12_000, RECORDS)
    got, _ = answered(question, doc, tmp_path)
    assert (got.task, got.plan) == ("aggregate", "aggregate")
    assert got.value == answer and got.result.calls > 1
    batch = got.result.bound.batch  # records per labelling leaf: the reply of 256 tokens must hold them
    assert batch is not None and 1 <= batch <= 256 // 4 and got.result.calls <= got.result.bound.calls


@pytest.mark.parametrize(("question", "answer"), [
    ("Which pairs of users both have category jazz?",
     [("alice", "bob"), ("alice", "dave"), ("alice", "grace"), ("bob", "dave"), ("bob", "grace"),
      ("dave", "grace")]),
    ("List all pairs of users who share a category.",
     [("alice", "bob"), ("alice", "dave"), ("alice", "erin"), ("alice", "frank"), ("alice", "grace"),
      ("alice", "heidi"), ("bob", "dave"), ("bob", "grace"), ("carol", "frank"), ("dave", "grace"),
      ("erin", "frank"), ("erin", "heidi"), ("frank", "heidi")]),
])
def test_pairwise_crosses_records_symbolically(tmp_path: Path, question: str, answer: list[tuple[str, str]]) -> None:
    doc = planted(12_000, [*RECORDS, "Record: user=ivan (category not given)"])  # ivan's label is null
    got, _ = answered(question, doc, tmp_path)
    assert (got.task, got.plan) == ("pairwise", "pairwise")
    assert list(got.value) == answer and got.result.calls > 1


FACTS = ["Key fact: the dam opened in 1931.", "Key fact: the river flooded 2 times.",
         "Key fact: the town moved uphill under Mayor Ostrander."]  # each states a number or a name


def test_summarise_keeps_the_facts_symbolically_and_summarises_them_in_one_call(tmp_path: Path) -> None:
    got, provider = answered("Summarise the history of the town.", planted(12_000, FACTS), tmp_path)
    assert (got.task, got.plan) == ("summarise", "summarise")
    # the summary of the sentences that state a number or a name, then those sentences verbatim: the
    # one about the town the request names first (BM25), the others in the document's order
    kept = [FACTS[2], FACTS[0], FACTS[1]]
    assert got.value == " ".join(kept) + "\n\nKey facts:\n" + "\n".join(kept)
    assert provider.calls == got.result.calls == 1 < got.result.bound.calls


def test_summarise_without_a_fact_to_keep_recurses_once_and_merges_in_order(tmp_path: Path) -> None:
    got, _ = answered("Summarise the history of the town.", filler(12_000), tmp_path)
    assert got.value == "Nothing of note."
    k = got.result.bound.k
    assert k is not None and got.result.bound.depth == 1
    assert got.result.calls + got.result.cache_hits == 2 * k - 1  # k leaves, k - 1 merges (some alike)


def test_multihop_reads_every_chunk_again_with_the_first_hop(tmp_path: Path) -> None:
    doc = planted(12_000, ["Dana's favourite colour is teal.", "Evan's favourite colour is green.",
                           "Dana owns the red car."])  # the second hop comes first
    got, provider = answered("What is the favourite colour of the person who owns the red car?", doc, tmp_path)
    assert (got.task, got.plan) == ("multihop", "multihop")
    assert got.value == "teal"
    chunks = sum("Facts found so far" in prompt_of(s.messages) for s in provider.sent)
    assert chunks > 1 and got.result.calls == 2 * chunks + 1  # two rounds over the chunks, one answer


def test_multihop_stops_after_one_round_when_nothing_is_found(tmp_path: Path) -> None:
    got, provider = answered("What is the favourite colour of the person who owns the red car?", filler(12_000),
                             tmp_path)
    assert got.plan == "multihop" and got.value == "NOT FOUND"
    assert not any("Facts found so far" in prompt_of(s.messages) for s in provider.sent)
    assert got.result.calls == provider.calls > 1


def test_a_given_task_skips_the_classifier(tmp_path: Path) -> None:
    doc = planted(12_000, RECORDS)
    got, _ = answered("Which users like jazz, and with whom?", doc, tmp_path, task="pairwise")
    assert (got.task, got.plan, got.used_model) == ("pairwise", "pairwise", False)
    assert ("alice", "bob") in got.value


# ---------------------------------------------------------------------- direct, menu and budget


@pytest.mark.parametrize("question", [q for q, _, _ in CLASSIFIER_TABLE[::4]])
def test_short_documents_are_answered_in_one_direct_call(tmp_path: Path, question: str) -> None:
    doc = planted(300, ["The special magic number for apple is 48213."])
    got, provider = answered(question, doc, tmp_path)
    assert got.plan == "direct" and got.task == classify(question)[0]
    assert got.calls == provider.calls == got.result.bound.calls == 1 and not got.used_model
    assert got.value == ("48213" if "apple" in question else "NOT FOUND")


def test_a_document_just_over_the_window_leaves_the_direct_plan(tmp_path: Path) -> None:
    question = "What is the special magic number for apple?"
    fitting = planted(1_000, ["The special magic number for apple is 48213."])  # ~1,050 tokens
    assert answered(question, fitting, tmp_path)[0].plan == "direct"
    assert answered(question, fitting, tmp_path, window=1_536)[0].plan == "search"
    assert answered(question, fitting, tmp_path, max_leaf_tokens=600)[0].plan == "search"


def test_an_unsure_question_asks_the_menu_once_when_the_document_is_long(tmp_path: Path) -> None:
    doc = planted(12_000, ["Key fact: the lanterns were lit at dusk."])
    got, _ = answered("Tell me about the lanterns in the field.", doc, tmp_path)
    assert (got.task, got.plan, got.used_model) == ("summarise", "summarise", True)
    assert got.classifier is not None and got.classifier.calls == 1
    assert got.value == "Key fact: the lanterns were lit at dusk."


def test_an_unreadable_menu_reply_keeps_the_rules(tmp_path: Path) -> None:
    doc = planted(12_000, ["The special magic number for lanterns is 31337."])
    got, _ = answered("Tell me about the lanterns, please.", doc, tmp_path)
    assert (got.task, got.used_model) == ("search", True)
    assert got.value == "31337"


def test_a_failed_menu_call_keeps_the_rules(tmp_path: Path) -> None:
    def mute_menu(messages: list[dict[str, Any]]) -> str:
        return "" if "Kinds of question" in prompt_of(messages) else reader(messages)

    doc = planted(12_000, ["The special magic number for lanterns is 31337."])
    provider = ScriptedProvider(script=mute_menu)
    with registered(lrtest=provider):
        got = ask("Tell me about the lanterns in the field.", doc, config(tmp_path, reasks=1))
    assert (got.task, got.used_model, got.classifier, got.value) == ("search", False, None, "31337")
    assert provider.calls == 2 + got.result.calls  # the menu call and its re-ask, then the plan


def test_an_unsure_question_on_a_short_document_makes_no_menu_call(tmp_path: Path) -> None:
    got, provider = answered("Tell me about the lanterns in the field.", filler(200), tmp_path)
    assert got.plan == "direct" and not got.used_model and provider.calls == 1


def test_the_menu_call_counts_against_the_call_budget(tmp_path: Path) -> None:
    import asyncio

    doc = planted(12_000, ["Dana owns the red car.", "Dana's favourite colour is teal."])
    question = "Tell me the favourite colour of whoever owns the red car."  # unsure; the menu picks multihop
    planned = asyncio.run(ask_module.achoose(question, doc, config(tmp_path), "multihop", use_model=False))
    provider = ScriptedProvider(script=reader)
    with registered(lrtest=provider):
        with pytest.raises(BudgetExceeded, match="more than --max-calls"):
            ask(question, doc, config(tmp_path / "a", max_calls=planned.bound.calls))
        assert provider.calls == 1  # the menu call, then the plan refused before any call
        got = ask(question, doc, config(tmp_path / "b", max_calls=planned.bound.calls + 1))
    assert (got.task, got.used_model, got.value) == ("multihop", True, "teal")
    assert got.calls <= planned.bound.calls + 1


# ---------------------------------------------------------------------- the command line


def cli_args(*argv: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="lambda-rlm")
    add_parser(parser.add_subparsers(dest="command", required=True))
    return parser.parse_args(["ask", *argv])


def test_dry_run_explains_and_stops_without_calling_the_model(tmp_path: Path,
                                                              capsys: pytest.CaptureFixture[str]) -> None:
    doc = tmp_path / "doc.txt"
    doc.write_text(planted(12_000, RECORDS), encoding="utf-8")
    provider = ScriptedProvider(script=reader)
    with registered(lrtest=provider):
        code = run_cli(cli_args("Tell me about the lanterns in the field.", str(doc), "--dry-run",
                                "--model", "lrtest/reader", "--window", "2048", "--cache-dir", str(tmp_path)))
    out = capsys.readouterr().out
    assert code == 0 and provider.calls == 0
    assert out.startswith("task: search (rules, unsure; no model call (dry run))")
    assert "plan: search" in out and "τ = " in out and "k = " in out and "calls ≤ " in out
    assert "depth ≤ 0" in out and "prompt ≤ " in out and "def find_in" in out
    k = int(re.search(r"k = ([\d,]+)", out)[1].replace(",", ""))  # type: ignore[index]
    assert ("the best one alone, then 8 at a time, stopping after the first wave that answers: from 1 piece to all "
            f"of them (at most {k}") in out


def test_dry_run_json_is_machine_readable(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    doc = tmp_path / "doc.txt"
    doc.write_text(planted(12_000, RECORDS), encoding="utf-8")
    code = run_cli(cli_args("How many records are in category jazz?", str(doc), "--dry-run", "--json",
                            "--model", "lrtest/reader", "--window", "2048"))
    shown = json.loads(capsys.readouterr().out)
    assert code == 0 and shown["task"] == shown["plan"] == "aggregate"
    assert shown["bound"]["calls"] >= 2 and shown["bound"]["batch"] > 0 and "label_each" in shown["source"]


def test_explain_prints_the_plan_then_runs_it(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    doc = tmp_path / "doc.txt"
    doc.write_text(planted(12_000, RECORDS), encoding="utf-8")
    provider = ScriptedProvider(script=reader)
    with registered(lrtest=provider):
        code = run_cli(cli_args("What is the most common category?", str(doc), "--explain", "--quiet",
                                "--model", "lrtest/reader", "--window", "2048", "--cache-dir", str(tmp_path)))
    said = capsys.readouterr()
    assert code == 0 and provider.calls > 1
    assert said.err.startswith("task: aggregate (rules, confident)")  # the explanation on stderr
    assert said.out == "jazz\n"  # and the answer alone on stdout, so `answer=$(… --explain)` holds it


def test_task_option_and_json_output(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    doc = tmp_path / "doc.txt"
    doc.write_text(planted(300, ["The special magic number for apple is 48213."]), encoding="utf-8")
    provider = ScriptedProvider(script=reader)
    with registered(lrtest=provider):
        code = run_cli(cli_args("What is the special magic number for apple?", str(doc), "--task", "multihop",
                                "--json", "--model", "lrtest/reader", "--window", "2048",
                                "--cache-dir", str(tmp_path)))
    shown = json.loads(capsys.readouterr().out)
    assert code == 0 and shown["value"] == "48213"
    assert (shown["task"], shown["plan"], shown["calls"], shown["total_calls"]) == ("multihop", "direct", 1, 1)


def test_the_model_window_comes_from_the_model_when_not_given() -> None:
    from lambda_rlm.models import local

    small = local.SMALL_MODEL
    assert ask_module.model_window(small) == local.context_window(small) < 10_000
    assert ask_module.model_window("lrtest/unknown-model") is None
    assert (ask_module.model_window("openai/gpt-4o-mini") or 0) >= 100_000
    assert ask_module.resolve_config(None, small).window == local.context_window(small)
    assert ask_module.resolve_config(None, "lrtest/x").window == FALLBACK_WINDOW == 8192
    assert ask_module.resolve_config(Config(window=1234), "lrtest/x").window == 1234
