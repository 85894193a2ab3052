"""Graphs of sub-problems (AGoT) end to end: a scripted model proposes sub-problems, judges them and answers
them; nested graphs, dependency edges, concurrency, budgets and the static bound are checked on the real
runtime path (litellm custom provider, oracle, cache, trace)."""

from __future__ import annotations

import asyncio
import io
import json
import re
from pathlib import Path
from typing import Any

import pytest
from providers import ScriptedProvider, Sent, priced_model, prompt_of, registered
from rich.console import Console

from lambda_rlm import compile
from lambda_rlm.cli.progress import render_trace
from lambda_rlm.core.errors import BudgetExceeded, CostError, LeafError
from lambda_rlm.runtime.session import Config, Result, default_tokenizer, run
from lambda_rlm.runtime.trace import read
from lambda_rlm.strategies import graph as agot

ROOT = Path(__file__).resolve().parent.parent
DOC = "Ana ran 5 km on Monday. Ben ran 7 km on Monday. The club counts every km run."
QUESTION = "How many km did the club count on Monday?"


def program(depth: int = 2, layers: int = 3, nodes: int = 3) -> str:
    return ("def main (doc : Text) (question : Text) : Text =\n"
            f"  graph {{depth = {depth}, layers = {layers}, nodes = {nodes}}} question (peek doc 0 200)")


def proposal(*tasks: tuple[str, list[int]], final: bool = False) -> str:
    return json.dumps({"final": final, "tasks": [{"task": task, "parents": ps} for task, ps in tasks]})


FINAL = proposal(final=True)
# The top graph: two independent look-ups, then a node that depends on both (and on a node 9 that
# does not exist: dropped with a note); "Ben's distance" is judged complex and becomes a nested graph.
PLAN = {
    QUESTION: [proposal(("Ana's distance", []), ("Ben's distance", [])),
               proposal(("Add the distances", [1, 2, 9])), FINAL],
    "Ben's distance": [proposal(("Find Ben's run", [])), proposal(("Read its km", [1]))],
}
COMPLEX = {"Ben's distance"}


class Model(ScriptedProvider):
    """Answers the four kinds of graph prompts from a plan: proposals per question and layer, complexity by
    task, answers `A(task)` and finals `F(question: the answers it was shown)`."""

    def __init__(self, plan: dict[str, list[str]], complex_: set[str], latency_s: float = 0.0,
                 words: int = 0) -> None:
        super().__init__(script=self.answer)
        self.plan, self.complex, self.latency_s, self.words = plan, complex_, latency_s, words

    async def before_reply(self, sent: Sent) -> None:
        if self.latency_s:
            await asyncio.sleep(self.latency_s)

    def answer(self, messages: list[dict[str, Any]]) -> str:
        prompt = prompt_of(messages)
        if "<document>" in prompt:  # a leaf of the program around the graph
            return "NOTE " + prompt.split("<document>\n", 1)[1].split(".", 1)[0]
        pad = " ".join(["filler"] * self.words)
        question = re.findall(r"^Question: (.*)$", prompt, re.M)[0]
        if "Break the question into sub-problems" in prompt:
            layer = int(re.search(r"this is layer (\d+) of", prompt).group(1))  # type: ignore[union-attr]
            replies = self.plan.get(question, [])
            return replies[layer - 1] if layer <= len(replies) else FINAL
        if "Is this sub-problem too hard" in prompt:
            task = re.search(r"One sub-problem of it: (.*)", prompt).group(1)  # type: ignore[union-attr]
            return "yes" if task in self.complex else "no"
        if "Answer this sub-problem only" in prompt:
            return f"A({re.search(r'Sub-problem: (.*)', prompt).group(1)}) {pad}".strip()  # type: ignore[union-attr]
        assert "Now answer the question" in prompt
        shown = re.findall(r"^    answer: (.*?)(?: filler.*)?$", prompt, re.M)
        return f"F({question}: {'; '.join(shown)}) {pad}".strip()


def config(tmp_path: Path, **kw: Any) -> Config:
    return Config(model="lrgraph/m", window=kw.pop("window", 16000), output_tokens=kw.pop("output_tokens", 128),
                  cache_dir=str(tmp_path / "cache"), trace_path=str(tmp_path / "trace.jsonl"), **kw)


def graph_run(tmp_path: Path, model: Model, source: str | Path | None = None, **kw: Any) -> Result:
    with registered(lrgraph=model):
        result = run(source or program(), kw.pop("doc", DOC), config(tmp_path, **kw), question=QUESTION)
    assert result.calls <= result.bound.calls
    return result


def events(result: Result, kind: str) -> list[dict[str, Any]]:
    return [e for e in result.trace if e["event"] == kind]


def prompts(model: Model, marker: str) -> list[str]:
    return [p for p in (prompt_of(s.messages) for s in model.sent) if marker in p]


def test_a_graph_with_a_nested_expansion_and_a_dependency_edge(tmp_path: Path) -> None:
    model = Model(PLAN, COMPLEX)
    result = graph_run(tmp_path, model)
    ben = "F(Ben's distance: A(Find Ben's run); A(Read its km))"
    assert result.value == (f"F({QUESTION}: A(Ana's distance); {ben}; A(Add the distances))")
    # The nodes' answers: a node sees only its ancestors' answers.
    (ana,) = [p for p in prompts(model, "Sub-problem: Ana's distance")]
    assert "answer:" not in ana
    (add,) = prompts(model, "Sub-problem: Add the distances")
    assert "[1] Ana's distance\n    answer: A(Ana's distance)" in add and f"answer: {ben}" in add
    (read_km,) = prompts(model, "Sub-problem: Read its km")
    assert "Established earlier:" not in read_km  # the nested graph's node had no ancestors at the top
    assert "[1] Find Ben's run\n    answer: A(Find Ben's run)" in read_km
    # Calls: top 3 proposals (the third says final) + 3 complexity checks + 2 answers + final; nested, at the
    # depth limit so without complexity checks, 3 proposals + 2 answers + final.
    assert result.calls == model.calls == 9 + 6
    nodes = {e["index"] if e["kind"] != "final" else "final": e for e in events(result, "graph_node")
             if e["depth"] == 1}
    assert {k: e["kind"] for k, e in nodes.items()} == {1: "simple", 2: "expanded", 3: "simple", "final": "final"}
    assert nodes[3]["parents"] == [1, 2] and nodes["final"]["parents"] == [3]
    assert nodes[2]["calls"] == 1 + 6 and nodes[1]["calls"] == 2 and nodes["final"]["calls"] == 1
    (note,) = events(result, "graph_note")
    assert "parents [9] dropped" in note["note"] and note["layer"] == 2
    top, nested = events(result, "graph_start")
    assert nested["parent"] == nodes[2]["node"] and nested["depth"] == 2 and top["parent"] is None
    ends = {e["graph"]: e for e in events(result, "graph_end")}
    assert ends[top["graph"]]["calls"] == result.calls and ends[nested["graph"]]["calls"] == 6
    # Every leaf event is tagged with the graph or node it was made for.
    assert all("hole" in e for e in events(result, "leaf_end"))


def test_the_trace_renders_as_a_tree_with_cost_per_node(tmp_path: Path) -> None:
    graph_run(tmp_path, Model(PLAN, COMPLEX))
    out = io.StringIO()
    render_trace(read(tmp_path / "trace.jsonl"), Console(file=out, width=200))
    tree = out.getvalue()
    assert re.search(r"graph depth 1: How many km.*✓ 15 calls", tree)
    assert re.search(r"\[2\] layer 1  Ben's distance  expanded ✓ 7 calls", tree)
    assert re.search(r"\[3\] layer 2 ← 1, 2  Add the distances  simple ✓ 2 calls", tree)
    assert re.search(r"graph depth 2: Ben's distance.*✓ 6 calls", tree)
    assert "parents [9] dropped" in tree
    assert tree.index("[2] layer 1") < tree.index("graph depth 2") < tree.index("Find Ben's run")
    assert tree.index("Find Ben's run") < tree.index("[3] layer 2")


def test_every_node_judged_simple_is_answered(tmp_path: Path) -> None:
    """AGoT's released code forgets nodes judged simple below the depth limit; here each gets its answer call."""
    plan = {QUESTION: [proposal(("a", []), ("b", []), ("c", [])), proposal(("d", [1]), ("e", [2, 3]))]}
    model = Model(plan, set())
    result = graph_run(tmp_path, model, program(depth=3, layers=2, nodes=3))
    assert len(prompts(model, "Is this sub-problem too hard")) == 5
    # The final node's parents are the sinks; it sees them and their ancestors, so every answer.
    assert [e["parents"] for e in events(result, "graph_node") if e["kind"] == "final"] == [[4, 5]]
    assert sorted(re.findall(r"A\((\w)\)", result.value)) == ["a", "b", "c", "d", "e"]
    assert {p.split("Sub-problem: ")[1].split("\n")[0] for p in prompts(model, "Answer this sub-problem only")} == {
        "a", "b", "c", "d", "e"}
    assert [e["kind"] for e in events(result, "graph_node")].count("simple") == 5


def test_the_worst_case_reaches_the_static_bound_exactly(tmp_path: Path) -> None:
    """Every layer full, every node complex where it may be, long replies: calls equal G(1), and no prompt
    exceeds the bound's largest prompt, nor their sum its total."""
    # Distinct tasks everywhere: a repeated prompt would be served by the cache and not counted.
    tasks = [(f"task {i} " + "word " * 12, [1, 2]) for i in range(4)]
    plan = {QUESTION: [proposal(*[(t, []) for t, _ in tasks[:2]]), proposal(*tasks[2:])]}
    for t, _ in tasks:
        plan[t.strip()] = [proposal(("sub one", []), ("sub two", [])), proposal(("sub three", [1, 2]),
                                                                                  ("sub four", [1]))]
    model = Model(plan, {t.strip() for t, _ in tasks}, words=400)
    result = graph_run(tmp_path, model, program(depth=2, layers=2, nodes=2), output_tokens=96)
    assert agot.calls(agot.Limits(2, 2, 2)) == 2 * (1 + 2 * (1 + (2 * (1 + 2 * 1) + 1))) + 1 == 35
    assert result.calls == result.bound.calls == 35
    count = default_tokenizer("lrgraph/m").count
    sizes = [sum(count(str(m["content"])) for m in s.messages) for s in model.sent]
    assert max(sizes) <= result.bound.max_prompt_tokens and sum(sizes) <= result.bound.total_prompt_tokens
    assert max(sizes) > result.bound.max_prompt_tokens / 3  # the bound is not vacuous


def test_nested_graphs_never_deadlock_with_one_permit(tmp_path: Path) -> None:
    """With concurrency 1, a graph that held the permit while awaiting its nodes (or a node while awaiting
    its nested graph) could never finish; the oracle holds it around the request alone."""
    model = Model(PLAN, COMPLEX, latency_s=0.01)
    result = graph_run(tmp_path, model, concurrency=1, deadline_s=30)
    assert result.value.startswith("F(") and model.max_in_flight == 1


def test_graphs_inside_map_keep_their_own_frames(tmp_path: Path) -> None:
    """One graph per chunk, each expanding a node: every graph's calls and events stay its own."""
    source = ("def main (doc : Text) (question : Text) : List Text =\n"
              "  map (\\chunk -> graph {depth = 2, layers = 1, nodes = 1} question chunk) (split doc 6)")
    model = Model({QUESTION: [proposal(("Look it up", []))], "Look it up": [FINAL]}, {"Look it up"})
    result = graph_run(tmp_path, model, source)
    n = len(result.value)
    # Per chunk: propose, check, the nested graph's propose and final, final. The checks of all chunks
    # are one prompt (a check does not see the context), so some may come from the cache.
    assert n >= 3 and len(events(result, "leaf_end")) == 5 * n
    starts = events(result, "graph_start")
    tops = [e for e in starts if e["depth"] == 1]
    assert len(tops) == n and all(e["parent"] is None for e in tops)
    expanded = {e["node"] for e in events(result, "graph_node") if e["kind"] == "expanded"}
    assert {e["parent"] for e in starts if e["depth"] == 2} == expanded and len(expanded) == n
    top_calls = [e["calls"] for e in events(result, "graph_end") if e["graph"] in {t["graph"] for t in tops}]
    assert sum(top_calls) == result.calls and set(top_calls) <= {4, 5}


def test_independent_nodes_run_concurrently(tmp_path: Path) -> None:
    plan = {QUESTION: [proposal(("a", []), ("b", []), ("c", []))]}
    model = Model(plan, set(), latency_s=0.05)
    graph_run(tmp_path, model, program(depth=1, layers=1, nodes=3), concurrency=8)
    assert model.max_in_flight == 3


def test_a_money_budget_cuts_the_graph_off_cleanly_and_a_rerun_loses_nothing(tmp_path: Path) -> None:
    with priced_model("lrgraph/m", 1e-6):
        with pytest.raises(BudgetExceeded) as info:
            graph_run(tmp_path, Model(PLAN, COMPLEX), max_usd=0.0015, concurrency=1)
        cut = read(tmp_path / "trace.jsonl")
        done = [e for e in cut if e["event"] == "leaf_end"]
        assert "budget" in info.value.format()
        assert [e["kind"] for e in cut if e["event"] == "run_error"] == ["budget exceeded"]
        assert [e["ok"] for e in cut if e["event"] == "graph_end"][-1] is False
        failed = [e for e in cut if e["event"] == "graph_node" and not e["ok"]]
        assert failed and all(e["error"].startswith("budget exceeded") for e in failed)
        assert 3 <= len(done) < 15
        model = Model(PLAN, COMPLEX)
        result = graph_run(tmp_path, model)
    assert result.value.startswith("F(")
    hits = {e["key"] for e in events(result, "leaf_end") if e["cached"]}
    assert {e["key"] for e in done} <= hits and model.calls == 15 - len(hits)


def test_a_call_budget_below_the_bound_refuses_the_graph_before_any_call(tmp_path: Path) -> None:
    model = Model(PLAN, COMPLEX)
    with pytest.raises(BudgetExceeded, match=f"may make up to {agot.calls(agot.Limits(2, 3, 3))} calls"):
        graph_run(tmp_path, model, max_calls=20)
    assert model.calls == 0


def test_an_ill_formed_proposal_is_re_asked_then_fails_as_a_leaf_error(tmp_path: Path) -> None:
    model = Model({QUESTION: ["I would split this into two parts."] * 3}, set())
    with pytest.raises(LeafError):
        graph_run(tmp_path, model, reasks=2)
    trace = read(tmp_path / "trace.jsonl")
    assert len([e for e in trace if e["event"] == "reask"]) == 2
    assert [e["ok"] for e in trace if e["event"] == "graph_end"] == [False]


def test_too_many_nodes_are_dropped_and_a_final_marker_ends_the_graph_early(tmp_path: Path) -> None:
    plan = {QUESTION: [proposal(("a", []), ("b", []), ("c", [])), FINAL]}
    model = Model(plan, set())
    result = graph_run(tmp_path, model, program(depth=1, layers=4, nodes=2))
    assert result.value == f"F({QUESTION}: A(a); A(b))"
    assert [e["note"] for e in events(result, "graph_note")] == ["1 sub-problems beyond 2 dropped"]
    assert len(prompts(model, "Break the question")) == 2 and result.calls == 2 + 2 + 1


# ---------------------------------------------------------------------- static rules


def test_the_bound_formula() -> None:
    assert agot.calls(agot.Limits(1, 3, 3)) == 3 * (1 + 3) + 1 == 13
    assert agot.calls(agot.Limits(2, 3, 3)) == 3 * (1 + 3 * (1 + 13)) + 1 == 130
    prog = compile(program(depth=2, layers=3, nodes=3))
    b = prog.cost(10_000, window=32_000, output_tokens=128, arg_tokens={"question": 20})
    assert b.calls == 130 and [leaf.type for leaf in b.leaves] == ["graph: its largest call"]


@pytest.mark.parametrize(("limits", "message"), [
    ("{depth = 5, layers = 2, nodes = 2}", "the graph's depth must be between 1 and 4, not 5"),
    ("{depth = 1, layers = 0, nodes = 2}", "the graph's layers must be between 1 and 8, not 0"),
    ("{depth = 1, layers = 2, nodes = default 2 (parse_int doc)}", "the graph's nodes must be known before the run"),
    ("{depth = 1, layers = 2, nodes = tokens doc}", "the graph's nodes must be between 1 and 8, not 1000"),
])
def test_limits_must_be_known_numbers_within_the_caps(limits: str, message: str) -> None:
    prog = compile(f"def main (doc : Text) : Text = graph {limits} \"q\" (peek doc 0 100)")
    with pytest.raises(CostError, match=message):
        prog.cost(1000)


def test_a_graph_that_cannot_fit_the_window_is_refused_before_the_run() -> None:
    prog = compile("def main (doc : Text) : Text = graph {depth = 2, layers = 3, nodes = 3} \"q\" doc")
    with pytest.raises(CostError) as info:
        prog.cost(5000, window=8000)
    assert "this graph can send prompts of up to" in info.value.message and info.value.span is not None


def test_the_example_runs_with_a_scripted_model(tmp_path: Path) -> None:
    doc = ("The north gate code is 4471. " * 3 + "Night shifts start at 22:00. ") * 20
    model = Model({QUESTION: [proposal(("What is the code?", [])), FINAL]}, set())
    result = graph_run(tmp_path, model, ROOT / "examples" / "graph.lam", doc=doc, window=8000, output_tokens=512)
    assert result.value.startswith(f"F({QUESTION}: A(What is the code?)")
