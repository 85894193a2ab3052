"""The lookup tasks (sniah, multihop, codeqa): seeded sizes, the scorers, a checked codeqa key, honest readers."""

from __future__ import annotations

import ast
import re
from functools import cache
from pathlib import Path

import pytest

from lambda_rlm.bench.tasks.base import Instance
from lambda_rlm.bench.tasks.codeqa import CodeQA, stdlib_root
from lambda_rlm.bench.tasks.multihop import MultiHop
from lambda_rlm.bench.tasks.sniah import SNIAH
from lambda_rlm.text.tokens import cl100k

TASKS = {"sniah": SNIAH(), "multihop": MultiHop(), "codeqa": CodeQA()}


@cache
def count(text: str) -> int:
    return cl100k().count(text)


@cache
def made(task: str, length: int, n: int, seed: int) -> tuple[Instance, ...]:
    return tuple(TASKS[task].generate(length, n, seed, count))


# ---------------------------------------------------------------------- determinism and size


@pytest.mark.parametrize("task", TASKS)
def test_same_seed_same_bytes_other_seed_other_bytes(task: str) -> None:
    a = made(task, 8000, 4, 1)
    b = TASKS[task].generate(8000, 4, 1, count)  # a fresh run, not the cached one
    def fields(xs: tuple[Instance, ...] | list[Instance]) -> list[tuple[object, ...]]:
        return [(x.id, x.document, x.question, x.answer) for x in xs]

    assert fields(a) == fields(b)
    c = made(task, 8000, 4, 2)
    assert a[0].document != c[0].document and [x.question for x in a] != [x.question for x in c]
    assert len({x.id for x in a}) == 4


@pytest.mark.parametrize("task", TASKS)
@pytest.mark.parametrize("length", [1000, 8000, 128_000])
def test_documents_are_the_length_asked_for(task: str, length: int) -> None:
    n = 2 if length == 1000 else 5
    for inst in made(task, length, n, 3):
        assert abs(count(inst.document) - length) <= 0.02 * length, (task, length)


def test_a_million_tokens_is_fast_and_within_two_percent() -> None:
    docs = SNIAH().generate(1_000_000, 3, 0, cl100k().count)
    assert abs(cl100k().count(docs[1].document) - 1_000_000) <= 20_000


def test_codeqa_refuses_more_than_the_stdlib_holds() -> None:
    with pytest.raises(ValueError, match="stdlib"):
        CodeQA().generate(10_000_000, 1, 0, lambda text: len(text) // 4)


@pytest.mark.parametrize("task", ["multihop", "codeqa"])
def test_questions_of_one_document_share_it(task: str) -> None:
    insts = made(task, 8000, 4, 1)
    assert all(x.document is insts[0].document for x in insts)


# ---------------------------------------------------------------------- sniah


def test_sniah_needle_depths_spread_over_the_document() -> None:
    insts = made("sniah", 8000, 5, 1)
    positions = []
    for x in insts:
        key = x.meta["key"]
        needle = f"One of the special magic numbers for {key} is: {x.answer}."
        assert x.document.count(needle) == 1 and x.document.count("special magic") == 1
        assert x.question == f"What is the special magic number for {key} mentioned in the provided text?"
        assert re.fullmatch(r"[a-z]+-[a-z]+", key) and re.fullmatch(r"\d{7}", x.answer)
        positions.append(x.document.index(needle) / len(x.document))
    assert positions == sorted(positions) and positions[0] < 0.05 and positions[-1] > 0.95


@pytest.mark.parametrize(("predicted", "score"), [
    ("4812345", 1.0), ("The special magic number is 4812345.", 1.0), ("4812345\n", 1.0),
    ("481234", 0.0), ("4 812 345", 0.0), (None, 0.0), ("", 0.0), (4812345, 1.0),
    ("48123456", 1.0),  # RULER's string match: the gold string occurs in the prediction
])
def test_sniah_scores_by_ruler_string_match(predicted: object, score: float) -> None:
    inst = Instance("sniah", "x", "doc", "q", "4812345")
    assert SNIAH().score(predicted, inst) == score


def test_sniah_reader_needs_the_needle() -> None:
    task, x = SNIAH(), made("sniah", 8000, 3, 1)[1]
    assert task.read_answer(x.question, x.document) == x.answer
    needle = f"One of the special magic numbers for {x.meta['key']} is: {x.answer}."
    assert task.read_answer(x.question, x.document.replace(needle, "")) is None
    other = f"One of the special magic numbers for some-other is: 1111111. {needle}"
    assert task.read_answer(x.question, other) == x.answer
    assert task.read_answer("What is the special magic number for nothing-here mentioned in the provided text?",
                            x.document) is None


# ---------------------------------------------------------------------- multihop


def test_multihop_chains_are_scattered_single_sentences() -> None:
    insts = made("multihop", 32_000, 10, 4)
    hops = set()
    for x in insts:
        facts = x.meta["facts"]
        hops.add(len(facts))
        assert 2 <= len(facts) <= 4 and len(set(x.meta["depths"])) == len(facts)
        for fact in facts:
            assert x.document.count(fact) == 1 and fact.count(". ") == 0 and fact.endswith(".")
        assert x.answer in facts[-1]
    assert hops == {2, 3, 4}


@pytest.mark.parametrize(("predicted", "score"), [
    ("Halvardby", 1.0), ("halvardby.", 1.0), ("  Halvardby ", 1.0), ("The Halvardby", 1.0),
    ("Halvard", 0.0), ("It is Halvardby", 0.0), (None, 0.0), ("NOT FOUND", 0.0),
])
def test_multihop_scores_by_exact_match_after_normalisation(predicted: object, score: float) -> None:
    assert MultiHop().score(predicted, Instance("multihop", "x", "doc", "q", "Halvardby")) == score


def test_multihop_place_answers_ignore_the_article() -> None:
    inst = Instance("multihop", "x", "doc", "q", "Brackenridge depot")
    assert MultiHop().score("the Brackenridge Depot", inst) == 1.0
    assert MultiHop().score("Brackenridge", inst) == 0.0


def test_multihop_reader_follows_the_whole_chain_only() -> None:
    task = MultiHop()
    for x in made("multihop", 16_000, 8, 5):
        facts = x.meta["facts"]
        assert task.read_answer(x.question, x.document) is not None
        assert task.score(task.read_answer(x.question, x.document), x) == 1.0
        assert task.score(task.read_answer(x.question, " ".join(reversed(facts))), x) == 1.0
        for missing in facts:  # any one link cut out: the chain is broken
            assert task.read_answer(x.question, x.document.replace(missing, "")) is None
        assert task.read_answer(x.question, " ".join(facts[: len(facts) // 2])) is None


def test_hand_written_chain() -> None:
    text = ("Orla Vance's manager is Tomas Reyk. Some filler here. Tomas Reyk works at the Brackenridge depot. "
            "Halvardby is home to the Brackenridge depot. Halvardby lies in the province of Eastmarch.")
    task = MultiHop()
    assert task.read_answer("In which town is the depot where Orla Vance's manager works?", text) == "Halvardby"
    assert task.read_answer("In which province is the town that is home to the depot where Orla Vance's manager "
                            "works?", text) == "Eastmarch"
    assert task.read_answer("Where does Tomas Reyk work?", text) == "the Brackenridge depot"
    assert task.read_answer("Who is Orla Vance's mentor?", text) is None
    assert task.read_answer("In which town is the depot where Ivo Petch's manager works?", text) is None


_WORD = re.compile(r"\b[A-Z][a-z]+")
_COMMON = {"In", "Who", "Where", "Which", "What", "The", "It"}


def _names(text: str) -> set[str]:
    return {w for w in _WORD.findall(text) if w not in _COMMON}


def test_multihop_chains_close_in_one_round_per_fact_of_name_matching_notes() -> None:
    """What the plan's leaves do (copy sentences sharing a capitalised word with the question or the
    notes), by hand over paragraph chunks: a chain of k facts is complete after k rounds, not before."""
    for x in made("multihop", 64_000, 12, 6):
        chunks = x.document.split("\n\n")
        sentences = [s for c in chunks for s in re.split(r"(?<=\.) ", c)]
        notes: list[str] = []
        rounds = 0
        while rounds < 5:
            rounds += 1
            known = _names(x.question) | _names(" ".join(notes))
            notes = [s for s in sentences if _names(s) & known]
            if MultiHop().read_answer(x.question, "\n".join(notes)) is not None:
                break
        assert rounds == len(x.meta["facts"]) and len(notes) == rounds  # no distractor shares a name
        assert MultiHop().score(MultiHop().read_answer(x.question, "\n".join(notes)), x) == 1.0


# ---------------------------------------------------------------------- codeqa


@pytest.mark.parametrize(("predicted", "score"), [
    ("B", 1.0), ("B)", 1.0), ("(B)", 1.0), ("B.", 1.0), (" B\n", 1.0), ("spam", 1.0),
    ("A", 0.0), ("C)", 0.0), ("eggs", 0.0), ("B) spam", 0.0), ("b", 0.0), ("The answer is B", 0.0),
    ("", 0.0), (None, 0.0), (2, 0.0), ("spam eggs", 0.0),
])
def test_codeqa_accepts_the_letter_or_the_choice_text(predicted: object, score: float) -> None:
    question = "Which?\nA) eggs\nB) spam\nC) ham\nD) toast\nAnswer with the letter of the correct choice."
    assert CodeQA().score(predicted, Instance("codeqa", "x", "doc", question, "B")) == score


def _function(path: str, lineno: int, name: str) -> ast.FunctionDef | ast.AsyncFunctionDef:
    tree = ast.parse(Path(stdlib_root(), path).read_text(encoding="utf-8"))
    found = [n for n in ast.walk(tree) if isinstance(n, ast.FunctionDef | ast.AsyncFunctionDef)
             and n.lineno == lineno and n.name == name]
    assert len(found) == 1
    return found[0]


def _body(fn: ast.AST) -> list[ast.AST]:
    out: list[ast.AST] = []
    for child in ast.iter_child_nodes(fn):
        if not isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda | ast.ClassDef):
            out += [child, *_body(child)]
    return out


def _choices(question: str) -> list[str]:
    return re.findall(r"^[A-D]\) (.*)$", question, re.MULTILINE)


@pytest.mark.parametrize(("length", "seed"), [(8000, 1), (64_000, 2)])
def test_codeqa_answer_key_holds_against_the_stdlib_source(length: int, seed: int) -> None:
    kinds = set()
    for x in made("codeqa", length, 16, seed):
        choices, kind = _choices(x.question), x.meta["kind"]
        kinds.add(kind)
        assert len(choices) == 4 and len(set(choices)) == 4 and x.answer in "ABCD"
        assert x.question.endswith("\nAnswer with the letter of the correct choice.")
        gold = choices["ABCD".index(x.answer)]
        others = [c for c in choices if c != gold]
        fn = _function(x.meta["path"], x.meta["lineno"], x.meta["function"].split(".")[-1])
        assert f"# ===== file: {x.meta['path']} =====" in x.document
        assert len(re.findall(rf"\bdef\s+{fn.name}\s*\(", x.document)) == 1  # one function of that name
        a = fn.args
        params = [p.arg for p in (*a.posonlyargs, *a.args, *a.kwonlyargs)] + [
            p.arg for p in (a.vararg, a.kwarg) if p is not None]
        if kind == "return":
            returns = [ast.unparse(n.value) for n in _body(fn) if isinstance(n, ast.Return) and n.value is not None]
            assert returns == [gold] and gold not in others
        elif kind == "param":
            assert gold in params and not set(others) & set(params)
        elif kind == "count":
            assert int(gold) == len(params) and all(int(o) != len(params) for o in others)
        else:
            obj, attr = re.search(r"`(\w+)\.(\w+)\(`", x.question).groups()  # type: ignore[union-attr]
            assert any(isinstance(n, ast.Call) and isinstance(n.func, ast.Attribute) and n.func.attr == attr
                       and isinstance(n.func.value, ast.Name) and n.func.value.id == obj for n in _body(fn))
            assert len(re.findall(rf"(?<![\w.]){obj}\.{attr}\(", x.document)) == 1  # no other function calls it
            assert gold.split(".")[-1] == fn.name
        assert CodeQA().score(x.answer, x) == 1.0 and CodeQA().score(gold, x) == 1.0
    assert len(kinds) >= 3


def test_codeqa_reader_needs_the_evidence() -> None:
    task = CodeQA()
    for x in made("codeqa", 32_000, 12, 7):
        assert task.read_answer(x.question, x.document) == x.answer
        name = x.meta["function"].split(".")[-1]
        if x.meta["kind"] == "calls":
            call = re.search(r"`(\w+\.\w+)\(`", x.question).group(1)  # type: ignore[union-attr]
            cut = x.document.replace(f"{call}(", "other_call(")
        else:
            cut = re.sub(rf"\bdef\s+{name}\s*\(", "def renamed(", x.document)
        assert task.read_answer(x.question, cut) is None


# ---------------------------------------------------------------------- readers keep to their own questions


def test_each_reader_ignores_the_other_tasks_questions() -> None:
    insts = {name: made(name, 8000, 2, 1)[0] for name in TASKS}
    for reader_name, reader in TASKS.items():
        for name, x in insts.items():
            got = reader.read_answer(x.question, x.document)
            assert (got is not None) == (name == reader_name), (reader_name, name)
        assert reader.read_items(insts[reader_name].document) is None


def test_the_reference_reader_knows_plainly_stated_facts_and_nothing_else() -> None:
    from lambda_rlm.bench.tasks.reference import plain_fact

    text = "For the winter season, the access code for the north gate is 7342. The gate was painted."
    assert plain_fact("What is the access code for the north gate?", text) == "7342"
    assert plain_fact("what was the Access Code for the north gate", text) == "7342"
    assert plain_fact("What is the access code for the south gate?", text) is None  # not stated
    assert plain_fact("Who painted the gate?", text) is None  # not a "the X is Z" fact
    assert plain_fact("What is the length of the pier?", "The length of the pier is 4.25 metres.") == "4.25 metres"
