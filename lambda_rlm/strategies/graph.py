"""Graphs of sub-problems (AGoT): takes limits, a question and a bounded context, gives the answer of an
adaptive graph of model calls, and the static worst case of that graph for the cost bound.

Layer by layer, one *propose* call (a typed record) gives up to `nodes` sub-problems, each naming the
earlier nodes whose answers it needs (its parents), or says that the question can be answered now
(`final`). The nodes of a layer run concurrently. Below the depth limit a node first gets a cheap
*complexity* call (Bool, the question and the task only); a node judged simple, or any node at the
depth limit, gets one *answer* call that sees the context, what its graph was given and its
ancestors' answers only; a node judged complex becomes a nested graph for its task, which is given
the same. After `layers` layers, or a final marker, a *final* call answers the question from every
node's answer (every node is an ancestor of a node no other depends on). Model text is only ever
shown in later prompts: nothing it says is executed, and a parent that is not an earlier node is
dropped with a `graph_note` in the trace.

Worst case in calls of a graph at depth δ (the top graph is at depth 1, at most D), with L layers
of at most n nodes:

    G(δ) = L·(1 + n·N(δ)) + 1,   N(D) = 1,   N(δ) = 1 + G(δ + 1) for δ < D

where N(δ) is one node: one answer call at depth D; above it, the complexity call and then the
larger of one answer call and a nested graph (G ≥ 3 > 1). Prompts are bounded because everything
the model wrote is cut to the output limit before it is shown again: the tasks of one layer
together (they come from one reply), each answer on its own. A nested graph's question is one task
and it is given its node's ancestors on top of what its parent was given, so it is bounded too.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

from lambda_rlm.analysis import absdomain as a
from lambda_rlm.analysis.cost import MESSAGE_OVERHEAD, CostModel
from lambda_rlm.core import events
from lambda_rlm.core import types as t
from lambda_rlm.core.errors import EvalError, LambdaError
from lambda_rlm.text import chunking

if TYPE_CHECKING:
    from lambda_rlm.runtime.evaluator import Ask
    from lambda_rlm.runtime.expand import Expander, Frame

# Hard limits on the arguments: beyond these the worst case is too large to be useful.
CAPS = {"depth": 4, "layers": 8, "nodes": 8}
TASK = t.TRecord.of({"task": t.TEXT, "parents": t.List(t.INT)})
PROPOSAL = t.TRecord.of({"final": t.BOOL, "tasks": t.List(TASK)})
FINAL_TASK = "(the final answer)"

Known = tuple[tuple[str, str], ...]  # (task, answer) pairs a graph is given by the node it expands


@dataclass(frozen=True, slots=True)
class Limits:
    """Depth of nesting (1: no nested graphs), layers per graph and nodes per layer."""

    depth: int
    layers: int
    nodes: int


@dataclass(frozen=True, slots=True)
class Node:
    """A sub-problem: its number in its graph, its layer, its task, its parents and, once known, its answer."""

    index: int
    layer: int
    task: str
    parents: tuple[int, ...]
    answer: str = ""


def limits_of(record: Mapping[str, Any]) -> Limits:
    """The limits a program passed, checked against CAPS."""
    for name, cap in CAPS.items():
        if not 1 <= record[name] <= cap:
            raise EvalError(f"graph's {name} must be between 1 and {cap}, not {record[name]}")
    return Limits(int(record["depth"]), int(record["layers"]), int(record["nodes"]))


def calls(lim: Limits, depth: int = 1) -> int:
    """G(depth): the most calls a graph at `depth` makes, nested graphs included."""
    node = 1 if depth >= lim.depth else 1 + calls(lim, depth + 1)
    return lim.layers * (1 + lim.nodes * node) + 1


# ---------------------------------------------------------------------- prompts


def _head(context: str, known: Known, question: str) -> list[str]:
    # The context comes first, so that every call of a graph shares the same prompt prefix.
    lines = ["<context>", context, "</context>"]
    if known:
        lines.append("Established earlier:")
        for task, answer in known:
            lines += [f"- {task}", f"  {answer}"]
    return [*lines, f"Question: {question}"]


def _listing(nodes: Sequence[Node]) -> list[str]:
    lines = []
    for nd in nodes:
        uses = f" (uses {', '.join(map(str, nd.parents))})" if nd.parents else ""
        lines += [f"[{nd.index}] {nd.task}{uses}", f"    answer: {nd.answer}"]
    return lines


def propose_prompt(context: str, known: Known, question: str, nodes: Sequence[Node], layer: int,
                   lim: Limits) -> str:
    lines = _head(context, known, question)
    lines.append(f"Break the question into sub-problems, one layer at a time; this is layer {layer} of at most "
                 f"{lim.layers}.")
    if nodes:
        lines += ["Sub-problems answered so far:", *_listing(nodes)]
    lines += [f"Propose at most {lim.nodes} new sub-problems that do not depend on each other, each a task that "
              "can be understood on its own, with the numbers of the earlier sub-problems whose answers it needs "
              "as its parents ([] for none).",
              'If the question can be answered from what is above, reply with "final": true and no tasks.']
    return "\n".join(lines)


def complexity_prompt(question: str, task: str) -> str:
    return "\n".join([f"Question: {question}", f"One sub-problem of it: {task}",
                      "Is this sub-problem too hard to answer in one step, so that it should be broken into "
                      "smaller sub-problems? Reply yes or no."])


def answer_prompt(context: str, known: Known, question: str, ancestors: Sequence[Node], task: str) -> str:
    lines = _head(context, known, question)
    if ancestors:
        lines += ["Answers of the sub-problems this one builds on:", *_listing(ancestors)]
    return "\n".join([*lines, f"Sub-problem: {task}", "Answer this sub-problem only, briefly."])


def final_prompt(context: str, known: Known, question: str, nodes: Sequence[Node]) -> str:
    lines = _head(context, known, question)
    if nodes:
        lines += ["Sub-problems and their answers:", *_listing(nodes)]
    return "\n".join([*lines, "Now answer the question, using the context and the answers above."])


# ---------------------------------------------------------------------- the static bound


@dataclass(frozen=True, slots=True)
class Worst:
    """Calls, prompt tokens over all calls, and the largest prompt."""

    calls: int = 0
    total: int = 0
    peak: int = 0

    def __add__(self, o: Worst) -> Worst:
        return Worst(self.calls + o.calls, self.total + o.total, max(self.peak, o.peak))

    def times(self, k: int) -> Worst:
        return Worst(self.calls * k, self.total * k, self.peak)

    def either(self, o: Worst) -> Worst:
        return Worst(max(self.calls, o.calls), max(self.total, o.total), max(self.peak, o.peak))


@dataclass(frozen=True, slots=True)
class Given:
    """What a graph is given, in tokens: its question, its known pairs (and how many) and the context."""

    question: int
    context: int
    known: int = 0
    entries: int = 0


class Bounder:
    """The worst case of a graph, prompt by prompt: each prompt is its text with every model-written or
    given part left empty (counted once per shape), plus those parts' bounds, plus one token per part
    (a boundary may split a token in two, as cost.Analyser.text counts)."""

    def __init__(self, model: CostModel, lim: Limits) -> None:
        self.model, self.lim = model, lim
        self._counts: dict[tuple[Any, ...], int] = {}

    def graph(self, depth: int, given: Given) -> Worst:
        lim, out = self.lim, self.model.output_tokens
        total = Worst()
        for layer in range(1, lim.layers + 1):
            before = (layer - 1) * lim.nodes
            shown = (layer - 1) * out + before * out  # the tasks of each layer together, each answer
            total += self._call(PROPOSAL, ("propose", layer, given.entries), given, shown, 2 * before)
            total += self._node(depth, given, layer).times(lim.nodes)
        everything = lim.layers * out + lim.layers * lim.nodes * out
        return total + self._call(t.TEXT, ("final", given.entries), given, everything, 2 * lim.layers * lim.nodes)

    def _node(self, depth: int, given: Given, layer: int) -> Worst:
        out, before = self.model.output_tokens, (layer - 1) * self.lim.nodes
        ancestors = (layer - 1) * out + before * out
        answer = self._call(t.TEXT, ("answer", layer, given.entries), given, ancestors + out, 2 * before + 1)
        if depth >= self.lim.depth:
            return answer
        check = self._tokens(t.BOOL, self._count(("complexity",)) + given.question + out + 2)
        nested = self.graph(depth + 1, Given(out, given.context, given.known + ancestors, given.entries + before))
        return check + answer.either(nested)

    def _call(self, ty: t.Type, shape: tuple[Any, ...], given: Given, shown: int, parts: int) -> Worst:
        head = given.context + given.known + given.question + 2 + 2 * given.entries
        return self._tokens(ty, self._count(shape) + head + shown + parts)

    def _tokens(self, ty: t.Type, prompt: int) -> Worst:
        tokens = prompt + self.model.instruction_tokens(ty) + MESSAGE_OVERHEAD
        return Worst(1, tokens, tokens)

    def _count(self, shape: tuple[Any, ...]) -> int:
        """The tokens of a prompt's fixed text: its shape with the largest numbers and no model text."""
        if shape not in self._counts:
            self._counts[shape] = self.model.count(self._skeleton(shape))
        return self._counts[shape]

    def _skeleton(self, shape: tuple[Any, ...]) -> str:
        lim = self.lim
        if shape[0] == "complexity":
            return complexity_prompt("", "")
        known: Known = (("", ""),) * shape[-1]
        layers = {"propose": shape[1] - 1, "answer": shape[1] - 1, "final": lim.layers}[shape[0]]
        # Every node of every earlier layer, each using every node of the layers before its own.
        nodes = [Node((layer - 1) * lim.nodes + j, layer, "", tuple(range(1, (layer - 1) * lim.nodes + 1)))
                 for layer in range(1, layers + 1) for j in range(1, lim.nodes + 1)]
        if shape[0] == "propose":
            return propose_prompt("", known, "", nodes, shape[1], lim)
        if shape[0] == "answer":
            return answer_prompt("", known, "", nodes, "")
        return final_prompt("", known, "", nodes)


def abstract(an: Any, limits: a.AValue, question: a.AValue, context: a.AValue) -> a.AValue:
    """Charge the analyser the worst case of `graph limits question context`; its value is one reply."""
    lim = _static_limits(an, limits)
    for name, v in (("question", question), ("context", context)):
        if not isinstance(v, a.Text) or v.tokens is None:
            an.fail(f"the graph's {name} has no size bound; bound it with split, peek or take")
    assert isinstance(question, a.Text) and isinstance(context, a.Text)
    m: CostModel = an.model
    worst = Bounder(m, lim).graph(1, Given(question.tokens or 0, context.tokens or 0))
    if worst.peak + m.output_tokens > m.window:
        an.fail(f"this graph can send prompts of up to {worst.peak:,} tokens, which with {m.output_tokens:,} output "
                f"tokens is more than the window of {m.window:,}; lower its depth, layers or nodes, or give it a "
                "shorter context")
    leaves = () if an.where is None else (a.Leaf(an.where, worst.peak, m.output_tokens, "graph: its largest call"),)
    an.charge(a.Cost(worst.calls, worst.total, worst.peak, 0, leaves))
    return a.Text(m.output_tokens)


def _static_limits(an: Any, limits: a.AValue) -> Limits:
    found = {}
    for name, cap in CAPS.items():
        v = limits.get(name) if isinstance(limits, a.Rec) else a.TOP
        if not isinstance(v, a.Num) or v.hi is None:
            an.fail(f"the graph's {name} must be known before the run: write it as a number")
        assert isinstance(v, a.Num) and v.hi is not None
        if not 1 <= v.hi <= cap:
            an.fail(f"the graph's {name} must be between 1 and {cap}, not {v.hi:g}")
        found[name] = int(v.hi)
    return Limits(found["depth"], found["layers"], found["nodes"])


# ---------------------------------------------------------------------- evaluation


class Run:
    """One `graph` application: its model calls (through the run's oracle), frames and trace events."""

    def __init__(self, ask: Ask, expander: Expander, tokenizer: Any, lim: Limits, context: str) -> None:
        self.ask, self.x, self.tok, self.lim, self.context = ask, expander, tokenizer, lim, context
        self.out = expander.model.output_tokens

    async def solve(self, depth: int, question: str, known: Known) -> str:
        """The answer of a graph at `depth` for `question`; its calls are counted in its frame."""
        with self.x.frame(f"graph at depth {depth}") as frame:
            parent = None if frame.parent is None else frame.parent.id  # the node (or hole) it expands
            self.x.emit(events.GraphStart(graph=frame.id, parent=parent, depth=depth, question=_excerpt(question),
                                          depth_limit=self.lim.depth, layers=self.lim.layers, nodes=self.lim.nodes,
                                          bound_calls=calls(self.lim, depth)))
            try:
                answer = await self._layers(frame, depth, question, known)
                if frame.calls > calls(self.lim, depth):  # the bound is a theorem; this is its guard
                    raise LambdaError(f"internal error: a graph made {frame.calls} calls, more than its bound of "
                                      f"{calls(self.lim, depth)}", None, ["please report this program as a bug"])
            except BaseException as err:
                self.x.emit(events.GraphEnd(graph=frame.id, ok=False, error=_describe(err), **_usage(frame)))
                raise
            self.x.emit(events.GraphEnd(graph=frame.id, ok=True, **_usage(frame)))
            return answer

    async def _layers(self, frame: Frame, depth: int, question: str, known: Known) -> str:
        nodes: list[Node] = []
        for layer in range(1, self.lim.layers + 1):
            prompt = propose_prompt(self.context, known, question, nodes, layer, self.lim)
            specs = self._accept(await self.ask(prompt, PROPOSAL), len(nodes), layer, frame.id)
            if not specs:
                break
            results = await asyncio.gather(*(self._node(sp, nodes, depth, question, known, frame.id)
                                             for sp in specs), return_exceptions=True)
            # Every sibling has finished (and its calls are cached) before a failure is passed on.
            for r in results:
                if isinstance(r, BaseException):
                    raise r
            nodes += [r for r in results if isinstance(r, Node)]
        sinks = tuple(nd.index for nd in nodes if not any(nd.index in m.parents for m in nodes))
        final = Node(len(nodes) + 1, (nodes[-1].layer if nodes else 0) + 1, FINAL_TASK, sinks)
        return (await self._node(final, nodes, depth, question, known, frame.id)).answer

    def _accept(self, proposal: Mapping[str, Any], done: int, layer: int, graph: int) -> list[Node]:
        """The proposed nodes the graph keeps: at most `nodes`, tasks cut to one reply in all, parents earlier."""
        if proposal["final"]:
            return []
        tasks, room = proposal["tasks"], self.out
        kept: list[Node] = []
        for item in tasks[: self.lim.nodes]:
            task = _clip(str(item["task"]).strip(), room, self.tok)
            if not task:
                self._note(graph, layer, "a sub-problem with no task left was dropped")
                continue
            room -= int(self.tok.count(task))
            index = done + len(kept) + 1
            parents = sorted(set(item["parents"]))
            bad = [p for p in parents if not 1 <= p <= done]
            if bad:
                self._note(graph, layer, f"sub-problem {index}: parents {bad} dropped, not earlier sub-problems")
            kept.append(Node(index, layer, task, tuple(p for p in parents if 1 <= p <= done)))
        if len(tasks) > self.lim.nodes:
            self._note(graph, layer, f"{len(tasks) - self.lim.nodes} sub-problems beyond {self.lim.nodes} dropped")
        if not kept:
            self._note(graph, layer, "no sub-problem proposed: answering now")
        return kept

    async def _node(self, spec: Node, nodes: Sequence[Node], depth: int, question: str, known: Known,
                    graph: int) -> Node:
        with self.x.frame(f"node {spec.index}") as frame:
            where: dict[str, Any] = {"graph": graph, "node": frame.id, "index": spec.index, "layer": spec.layer,
                                     "depth": depth, "parents": tuple(spec.parents)}
            self.x.emit(events.GraphNodeStart(**where, task=_excerpt(spec.task)))
            kind = "final" if spec.task == FINAL_TASK else "simple"
            try:
                ancestors = _ancestors(spec, nodes)
                if kind == "final":
                    answer = await self.ask(final_prompt(self.context, known, question, nodes), t.TEXT)
                elif depth < self.lim.depth and await self.ask(complexity_prompt(question, spec.task), t.BOOL):
                    kind = "expanded"
                    answer = await self.solve(depth + 1, spec.task,
                                              (*known, *((nd.task, nd.answer) for nd in ancestors)))
                else:
                    answer = await self.ask(answer_prompt(self.context, known, question, ancestors, spec.task),
                                            t.TEXT)
            except BaseException as err:
                self.x.emit(events.GraphNode(**where, kind=kind, ok=False, error=_describe(err), **_usage(frame)))
                raise
            self.x.emit(events.GraphNode(**where, kind=kind, ok=True, **_usage(frame)))
            return replace(spec, answer=_clip(str(answer), self.out, self.tok))

    def _note(self, graph: int, layer: int, note: str) -> None:
        self.x.emit(events.GraphNote(graph=graph, layer=layer, note=note))


def _ancestors(spec: Node, nodes: Sequence[Node]) -> list[Node]:
    """The nodes `spec` depends on, directly or not, in order (parents are always earlier nodes)."""
    by_index = {nd.index: nd for nd in nodes}
    seen: set[int] = set()
    todo = list(spec.parents)
    while todo:
        i = todo.pop()
        if i not in seen and i in by_index:
            seen.add(i)
            todo += by_index[i].parents
    return [by_index[i] for i in sorted(seen)]


def _clip(text: str, tokens: int, tok: Any) -> str:
    """`text` cut to `tokens` tokens (bytes bound tokens from above, so short texts are not counted)."""
    if tokens <= 0:
        return ""
    if len(text.encode()) <= tokens or tok.count(text) <= tokens:
        return text
    return chunking.peek(text, 0, tokens, tok)


def _usage(frame: Frame) -> dict[str, Any]:
    return {"calls": frame.calls, "prompt_tokens": frame.prompt_tokens,
            "completion_tokens": frame.completion_tokens, "cost_usd": frame.cost_usd}


def _describe(err: BaseException) -> str:
    return f"{err.kind}: {err.message}" if isinstance(err, LambdaError) else type(err).__name__


def _excerpt(text: str, limit: int = 100) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


async def run(limits: Mapping[str, Any], question: str, context: str, ctx: Any) -> str:
    """Evaluate `graph limits question context` with the run's oracle and frames (from the Context)."""
    if ctx.ask is None or ctx.expander is None:
        raise EvalError("graph needs a model: run the program with lambda_rlm.run")
    return await Run(ctx.ask, ctx.expander, ctx.tokenizer, limits_of(limits), context).solve(1, question, ())
