"""Progress and trace rendering with rich: takes run events, gives a live bar on stderr or a tree."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from types import TracebackType
from typing import Any

from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, TextColumn, TimeElapsedColumn, TimeRemainingColumn
from rich.progress import Progress as Bar
from rich.tree import Tree


class Progress:
    """An event listener drawing `leaves done / bound, tokens, $, elapsed, time left at most`, and
    leaving one summary line on stderr when the runs end; silent when disabled.

    The bar's total is the bound, the worst case, so the time left is an upper estimate, and a run
    that stops early (a lookup that found its answer) ends before the bar does."""

    def __init__(self, enabled: bool) -> None:
        self.enabled = enabled
        self._bar: Bar | None = None
        self._task: Any = None
        self._tokens = 0
        self._usd = 0.0
        self._ends: list[dict[str, Any]] = []
        self._console = Console(stderr=True)

    def __enter__(self) -> Progress:
        if self.enabled:
            self._bar = Bar(TextColumn("[bold]leaves"), BarColumn(), MofNCompleteColumn(),
                            TextColumn("{task.fields[tokens]:,} tok  ${task.fields[usd]:.4f}"),
                            TimeElapsedColumn(), TextColumn("left ≤"), TimeRemainingColumn(),
                            console=self._console, transient=True)
            self._bar.__enter__()
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        if self._bar is not None:
            self._bar.__exit__(kind, exc, tb)
            if kind is None and self._ends:
                self._console.print(summary_line(self._ends), highlight=False, markup=False)

    def __call__(self, event: dict[str, Any]) -> None:
        if self._bar is None:
            return
        if event.get("event") == "run_start":
            self._task = self._bar.add_task("run", total=event["bound"]["calls"], tokens=0, usd=0.0)
        elif event.get("event") == "leaf_end" and self._task is not None:
            self._tokens += event.get("prompt_tokens", 0) + event.get("completion_tokens", 0)
            self._usd += event.get("cost_usd", 0.0)
            self._bar.update(self._task, advance=1, tokens=self._tokens, usd=self._usd)
        elif event.get("event") == "run_end":
            self._ends.append(event)


def summary_line(ends: Sequence[Mapping[str, Any]]) -> str:
    """`done: 3 calls (1 from the cache), 4,210 tokens, $0.0012, 12.3 s` over the runs that ended."""
    calls = sum(int(e.get("calls") or 0) for e in ends)
    cached = sum(int(e.get("cache_hits") or 0) for e in ends)
    tokens = sum(int(e.get("prompt_tokens") or 0) + int(e.get("completion_tokens") or 0) for e in ends)
    usd = sum(float(e.get("cost_usd") or 0.0) for e in ends)
    wall = sum(float(e.get("wall_s") or 0.0) for e in ends)
    hits = f" ({cached} from the cache)" if cached else ""
    scans = [e["pieces_read"] for e in ends if isinstance(e.get("pieces_read"), dict)]
    read = (f", read {sum(int(p.get('read') or 0) for p in scans):,} of {sum(int(p.get('of') or 0) for p in scans):,}"
            " pieces" if scans else "")
    return f"done: {calls} call{'s' if calls != 1 else ''}{hits}, {tokens:,} tokens, ${usd:.4f}, {wall:.1f} s{read}"


class StdoutConsole(Console):
    """A rich console on stdout whose closed pipe is the command's to handle (`cli.app.main` exits
    141 quietly); rich's own handling would exit 1."""

    def on_broken_pipe(self) -> None:
        raise BrokenPipeError


def render_trace(events: Sequence[Mapping[str, Any]], console: Console | None = None) -> None:
    """Print a trace as a tree: runs, their leaves (with retries and re-asks), and totals."""
    console = console or StdoutConsole()
    root = Tree("[bold]trace")
    run: Tree = root
    leaves: dict[str, Tree] = {}
    holes: dict[int, Tree] = {}
    nest: list[Tree] = [root]  # program search: runs go under their candidate (see _search)
    for e in events:
        kind = e.get("event")
        if str(kind).startswith("hole_"):
            _hole(e, holes, run)
            continue
        if str(kind).startswith("graph_"):
            _graph(e, holes, run)
            continue
        if str(kind).startswith(("search_", "candidate_")):
            _search(e, nest)
            continue
        if kind == "run_start":
            b = e.get("bound", {})
            run = nest[-1].add(f"run {_s(e.get('program', ''))}  model={_s(e.get('model', ''))}  "
                           f"bound: calls ≤ {_s(b.get('calls'))}, prompt ≤ {_s(b.get('max_prompt_tokens'))} tok/call")
        elif kind == "leaf_start":
            label = f"leaf {escape(str(e['key'])[:12])}  {_s(e.get('prompt_chars', '?'))} chars"
            leaves[e["key"]] = holes.get(e.get("hole", 0), run).add(label)
        elif kind == "leaf_end":
            node = leaves.get(e["key"]) or holes.get(e.get("hole", 0), run).add(f"leaf {escape(str(e['key'])[:12])}")
            status = "cache hit" if e.get("cached") else (
                f"{_s(e.get('prompt_tokens', 0))}+{_s(e.get('completion_tokens', 0))} tok, "
                f"{_number(e.get('latency_s', 0), '.2f')} s, ${_number(e.get('cost_usd', 0), '.4f')}")
            node.label = f"{node.label}  [green]✓[/] {status}"
        elif kind in ("retry", "reask", "budget", "leaf_error"):
            parent = leaves.get(e.get("key", ""), run)
            detail = {k: v for k, v in e.items() if k not in ("event", "key", "t")}
            parent.add(f"[yellow]{kind}[/] {escape(str(detail))}")
        elif kind in ("run_end", "run_error"):
            detail = {k: v for k, v in e.items() if k not in ("event", "t", "bound")}
            run.add(f"[bold]{kind}[/] {escape(str(detail))}")
    console.print(root)


def _s(value: object) -> str:
    """A value from a trace as text that rich shows as written (a reply may hold `[/]` or `[bold]`)."""
    return escape(str(value))


def _number(value: object, spec: str) -> str:
    """A number from a trace in `spec`'s format; anything else as written."""
    return format(value, spec) if isinstance(value, int | float) and not isinstance(value, bool) else _s(value)


def _cost(e: Mapping[str, Any]) -> str:
    """What a hole or graph node spent: calls, tokens in and out, and dollars."""
    dollars = _number(e.get("cost_usd", 0), ".4f")
    tokens = f"{_s(e.get('prompt_tokens', 0))}+{_s(e.get('completion_tokens', 0))}"
    return f"{_s(e.get('calls', 0))} calls, {tokens} tok, ${dollars}"


def _hole(e: Mapping[str, Any], holes: dict[int, Tree], run: Tree) -> None:
    """A hole's expansion as a node under the hole (or run) it happened in, with what it cost."""
    kind, node = e["event"], holes.get(e.get("hole", 0))
    if kind == "hole_start":
        parent = holes.get(e.get("parent") or 0, run)
        holes[e["hole"]] = parent.add(f"hole ?{_s(e.get('name'))} : {_s(e.get('type'))}  depth {_s(e.get('depth'))}")
    elif node is None:
        return
    elif kind == "hole_retry":
        first = str(e.get("diagnostic", "")).splitlines()[:1]
        node.add(f"[yellow]rejected[/] (attempt {_s(e.get('attempt'))}) {escape(first[0] if first else '')}")
    elif kind == "hole_body":
        reused = " (reused)" if e.get("reused") else ""
        node.add(f"body{reused}: {_s(e.get('source'))}  ≤ {_s(e.get('bound_calls'))} calls")
    elif kind == "hole_end":
        cost = _cost(e)
        mark = "[green]✓[/]" if e.get("ok") else f"[red]✗[/] {_s(e.get('error', ''))}"
        node.label = f"{node.label}  {mark} {cost}"


def _search(e: Mapping[str, Any], nest: list[Tree]) -> None:
    """Program search as a node with a child per candidate (its runs inside), its cost and the choice."""
    kind = e["event"]
    if kind == "search_start":
        nest[1:] = [nest[0].add(f"[bold]search[/] {len(e.get('candidates', []))} candidates, "
                                f"bound: calls ≤ {_s(e.get('bound_calls'))}")]
    elif kind == "candidate_start":
        b = e.get("bound", {})
        nest[2:] = [nest[min(1, len(nest) - 1)].add(
            f"candidate #{_s(e.get('candidate'))} {_s(e.get('description'))}  bound: calls ≤ {_s(b.get('calls'))}")]
    elif kind == "candidate_end" and len(nest) > 2:
        said = (f"[green]✓[/] {escape(repr(e.get('answer'))[:60])}  confidence {_s(e.get('confidence'))}, "
                f"reasoning {_s(e.get('reasoning_tokens'))} tok" if e.get("ok")
                else f"[red]✗[/] {_s(e.get('error'))}")
        nest[2].label = (f"{nest[2].label}  {said}; {_s(e.get('calls', 0))} calls ({_s(e.get('leaves', 0))} leaves), "
                         f"${e.get('cost_usd', 0):.4f}, {e.get('wall_s', 0):.2f} s")
        del nest[2:]
    elif kind == "search_choice":
        nest[-1].add(f"[bold]chosen[/] #{_s(e.get('winner'))}: {_s(e.get('why'))}")
    elif kind == "search_error":
        nest[-1].add(f"[red]search_error[/] {_s(e.get('message'))}")


def _graph(e: Mapping[str, Any], frames: dict[int, Tree], run: Tree) -> None:
    """A graph of sub-problems (lambda_rlm/graph.py) as a tree: each graph under the node (or hole) it
    expands, its nodes in order with their parents (the DAG's edges, `← 1, 2`), kind and cost; leaves
    are tagged with their node's frame, so they land under it."""
    kind = e["event"]
    if kind == "graph_start":
        parent = frames.get(e.get("parent") or 0, run)
        frames[e["graph"]] = parent.add(f"graph depth {_s(e.get('depth'))}: {_s(e.get('question'))}  "
                                        f"(≤ {_s(e.get('bound_calls'))} calls)")
    elif kind == "graph_node_start":
        edges = f" ← {_s(', '.join(map(str, e['parents'])))}" if e.get("parents") else ""
        index = _s(f"[{e.get('index')}]")  # escaped whole: `[bold]` or `[/]` is an index of the wrong kind
        label = f"{index} layer {_s(e.get('layer'))}{edges}  {_s(e.get('task'))}"
        frames[e["node"]] = frames.get(e["graph"], run).add(label)
    elif kind == "graph_note":
        frames.get(e["graph"], run).add(f"[yellow]note[/] layer {_s(e.get('layer'))}: {_s(e.get('note'))}")
    elif kind in ("graph_node", "graph_end"):
        node = frames.get(e["node"] if kind == "graph_node" else e["graph"])
        if node is not None:
            cost = _cost(e)
            mark = "[green]✓[/]" if e.get("ok") else f"[red]✗[/] {_s(e.get('error', ''))}"
            what = f"{e['kind']} " if e.get("kind") not in (None, "final") else ""  # final says so already
            node.label = f"{node.label}  {escape(what)}{mark} {cost}"
