"""The static bound of every example, recomputed by hand from the partition rule and the prompt sizes."""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from lambda_rlm import compile
from lambda_rlm.analysis.cost import MESSAGE_OVERHEAD, CostModel
from lambda_rlm.analysis.partition import fanout_for
from lambda_rlm.core.errors import CostError
from lambda_rlm.lang import syntax

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"
N, W, OUT, Q = 1_000_000, 8000, 512, 20  # document, window, output per call, question tokens
MODEL = CostModel(window=W, output_tokens=OUT, count=len, instruction_tokens=lambda ty: 0)


def literal_size(program_name: str, def_name: str) -> tuple[int, int]:
    """(characters of literal text, number of interpolations) of the leaf template in a definition."""
    prog = compile(EXAMPLES / f"{program_name}.lam")
    d = next(d for d in prog.defs if d.name == def_name)
    node = d.body
    while not isinstance(node, syntax.Llm):
        node = node.body  # type: ignore[union-attr]
    assert isinstance(node.prompt, syntax.TextLit)
    parts = node.prompt.parts
    return sum(len(p) for p in parts if isinstance(p, str)), sum(1 for p in parts if not isinstance(p, str))


def leaf_tau(template: int, holes: int, others: int) -> int:
    """The partition rule's τ: the chunk fills what the window leaves after template and output."""
    return W - OUT - MESSAGE_OVERHEAD - template - holes - others


def chunks(n: int, tau: int) -> int:
    return math.ceil(n / (tau - tau // 10))


def bound(name: str) -> tuple[int, int | None, int | None]:
    prog = compile(EXAMPLES / f"{name}.lam")
    b = prog.bound(MODEL, N, {i.name: Q for i in prog.inputs[1:]})
    assert b.max_prompt_tokens + OUT <= W
    return b.calls, b.tau, b.depth


@pytest.mark.parametrize(("name", "leaf"), [("search", "find_in"), ("classify", "label"),
                                             ("aggregate", "categories"), ("multihop", "notes_on")])
def test_map_over_chunks(name: str, leaf: str) -> None:
    template, holes = literal_size(name, leaf)
    tau = leaf_tau(template, holes, Q)
    calls, got_tau, depth = bound(name)
    extra = 1 if name == "multihop" else 0  # the final answer reads the notes
    assert (got_tau, calls, depth) == (tau, chunks(N, tau) + extra, 0)


def test_pairwise_reads_records_from_chunks_and_pairs_them_symbolically() -> None:
    template, holes = literal_size("pairwise", "people")
    tau = leaf_tau(template, holes, 0)
    assert bound("pairwise") == (chunks(N, tau), tau, 0)


def test_summarise_divides_once_into_k_pieces_and_merges_them() -> None:
    template, holes = literal_size("summarise", "summarise_part")
    tau = leaf_tau(template, holes, 0)
    k = fanout_for(N, tau)
    assert math.ceil(N / k) + math.ceil(N / k) // 10 <= tau  # one level of recursion is enough
    assert bound("summarise") == (k + (k - 1), tau, 1)


def test_a_short_document_is_one_leaf_and_the_bound_shrinks_with_it() -> None:
    prog = compile(EXAMPLES / "search.lam")
    assert prog.bound(MODEL, 500, {"question": Q}).calls == 1
    assert prog.bound(MODEL, 0, {"question": Q}).calls == 0


def test_divide_with_fixed_sizes_by_hand() -> None:
    prog = compile("def main (doc : Text) : Text = divide 100 4 (\\c -> llm \"{c}\") (\\a b -> a ++ b) doc")
    # n = 1000: pieces ≤ 250+25 = 275 > 100 → ≤ 4 pieces of ≤ 275; those split into ≤ 4 of ≤ 69+6 = 75 ≤ 100.
    b = prog.bound(MODEL, 1000)
    assert (b.calls, b.depth) == (16, 2)
    assert b.max_prompt_tokens == 100 + 1 + MESSAGE_OVERHEAD


def test_a_leaf_over_the_window_is_rejected_with_its_location() -> None:
    prog = compile("def main (doc : Text) : Text =\n  llm \"Summarise {doc}\"")
    assert prog.bound(MODEL, 1000).calls == 1
    with pytest.raises(CostError) as info:
        prog.bound(MODEL, 100_000)
    assert info.value.span is not None and info.value.span.line == 2
    assert "more than the window of 8,000" in info.value.message


def test_both_branches_count_unless_the_condition_is_known() -> None:
    prog = compile("def main (doc : Text) (q : Text) : Text =\n"
                   "  if tokens doc <= 1000 then llm \"{doc}\" else concat (map (\\c -> llm \"{c}\") (split doc 500))")
    assert prog.bound(MODEL, 800, {"q": 5}).calls == 1          # known to fit: the else branch is dead
    assert prog.bound(MODEL, 5000, {"q": 5}).calls == chunks(5000, 500)  # either may run: the worse counts


def test_a_function_chosen_by_a_branch_is_charged_as_the_worse_one() -> None:
    prog = compile("def main (doc : Text) (q : Text) : List Text =\n"
                   "  let f = if tokens q > 3 then (\\c -> llm \"{c}\") else (\\c -> \"{c}\") in\n"
                   "  map f (split doc 100)")
    assert prog.bound(MODEL, 1000, {"q": 5}).calls == chunks(1000, 100)


def test_a_fold_over_a_million_lines_is_bounded_quickly() -> None:
    import time

    prog = compile("def main (doc : Text) : Int =\n"
                   "  fold (\\n line -> if contains line \"x\" then n + 1 else n) 0 (lines doc)")
    t = time.perf_counter()
    assert prog.bound(MODEL, 1_000_000).calls == 0
    assert time.perf_counter() - t < 5
    leafy = compile("def main (doc : Text) : Text =\n"
                    "  fold (\\acc c -> llm \"{c}\") \"\" (split doc 1000)")
    assert leafy.bound(MODEL, 100_000).calls == chunks(100_000, 1000)


def test_divide_with_sizes_decided_at_run_time_is_bounded_by_their_worst_case() -> None:
    # k comes from the model: any k up to the number of tokens must be covered by the bound.
    prog = compile("def main (doc : Text) : Text =\n"
                   "  let k = default 2 (parse_int (llm \"How many parts? {peek doc 0 50}\")) in\n"
                   "  divide 100 k (\\c -> llm \"{c}\") (\\a b -> a ++ b) doc")
    b = prog.bound(MODEL, 400)
    assert b.calls >= 1 + 400  # the first call, then as many one-token pieces as there are tokens


def test_holes_cost_their_allowance_wherever_they_are_evaluated() -> None:
    """examples/holes.lam: one hole per chunk of 2,000 tokens and one more. Each costs W + B(1) calls:
    W = 1 + 2 writer calls, B(1) = 4 + (3 + (4 + (3 + 4))) = 18 (hole_calls 4, max depth 3)."""
    prog = compile(EXAMPLES / "holes.lam")
    b = prog.bound(MODEL, N, {"question": Q})
    per_hole = 3 + 18
    assert b.calls == (chunks(N, 2000) + 1) * per_hole
    assert b.max_prompt_tokens == W - OUT  # a body's leaf may be sent anything that fits the window
    assert [leaf.type for leaf in b.leaves] == ["writer of ?note_on_chunk_for_question", "writer of ?answer_from_notes"]


def test_a_graph_costs_its_worst_case_wherever_it_is_evaluated() -> None:
    """examples/graph.lam: one notes leaf per chunk of 2,000 tokens, then a graph of depth 2 with 2 layers of
    at most 2 nodes: G(2) = 2·(1 + 2·1) + 1 = 7 and G(1) = 2·(1 + 2·(1 + 7)) + 1 = 35 calls (lambda_rlm/graph.py).
    The largest prompt is the final call of a graph nested under a layer-2 node: the notes (2 · (512 + 2)),
    what it was given (its node's ancestors: one layer's tasks, 512, and two answers), its question (a task,
    512), every node of its own (2 layers' tasks and 4 answers), one token per part, and the framing."""
    from lambda_rlm.strategies import graph as agot

    calls, _, _ = bound("graph")
    assert calls == chunks(N, 2000) + 35 == chunks(N, 2000) + agot.calls(agot.Limits(2, 2, 2))
    prog = compile(EXAMPLES / "graph.lam")
    b = prog.bound(MODEL, N, {"question": Q})
    nodes = [agot.Node(i, 1 if i <= 2 else 2, "", () if i <= 2 else (1, 2)) for i in range(1, 5)]
    skeleton = len(agot.final_prompt("", (("", ""),) * 2, "", nodes))
    given = 2 * (OUT + 2) + (OUT + 2 * OUT) + OUT + 2 + 2 * 2  # context, known, question, their parts
    own = 2 * OUT + 4 * OUT + 2 * 4
    assert b.max_prompt_tokens == skeleton + given + own + MESSAGE_OVERHEAD
