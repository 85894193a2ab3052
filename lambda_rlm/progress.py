"""Progress and trace rendering with rich: takes run events, gives a live bar on stderr or a tree."""

from __future__ import annotations

from types import TracebackType
from typing import Any

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, TextColumn, TimeElapsedColumn
from rich.progress import Progress as Bar
from rich.tree import Tree


class Progress:
    """An event listener drawing `leaves done / bound, tokens, $, elapsed`; silent when disabled."""

    def __init__(self, enabled: bool) -> None:
        self.enabled = enabled
        self._bar: Bar | None = None
        self._task: Any = None
        self._tokens = 0
        self._usd = 0.0

    def __enter__(self) -> Progress:
        if self.enabled:
            self._bar = Bar(TextColumn("[bold]leaves"), BarColumn(), MofNCompleteColumn(),
                            TextColumn("{task.fields[tokens]:,} tok  ${task.fields[usd]:.4f}"),
                            TimeElapsedColumn(), console=Console(stderr=True), transient=True)
            self._bar.__enter__()
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        if self._bar is not None:
            self._bar.__exit__(kind, exc, tb)

    def __call__(self, event: dict[str, Any]) -> None:
        if self._bar is None:
            return
        if event.get("event") == "run_start":
            self._task = self._bar.add_task("run", total=event["bound"]["calls"], tokens=0, usd=0.0)
        elif event.get("event") == "leaf_end" and self._task is not None:
            self._tokens += event.get("prompt_tokens", 0) + event.get("completion_tokens", 0)
            self._usd += event.get("cost_usd", 0.0)
            self._bar.update(self._task, advance=1, tokens=self._tokens, usd=self._usd)


def render_trace(events: list[dict[str, Any]], console: Console | None = None) -> None:
    """Print a trace as a tree: runs, their leaves (with retries and re-asks), and totals."""
    console = console or Console()
    root = Tree("[bold]trace")
    run: Tree = root
    leaves: dict[str, Tree] = {}
    for e in events:
        kind = e.get("event")
        if kind == "run_start":
            b = e.get("bound", {})
            run = root.add(f"run {e.get('program', '')}  model={e.get('model', '')}  "
                           f"bound: calls ≤ {b.get('calls')}, prompt ≤ {b.get('max_prompt_tokens')} tok/call")
        elif kind == "leaf_start":
            leaves[e["key"]] = run.add(f"leaf {e['key'][:12]}  {e.get('prompt_chars', '?')} chars")
        elif kind == "leaf_end":
            node = leaves.get(e["key"]) or run.add(f"leaf {e['key'][:12]}")
            status = "cache hit" if e.get("cached") else (
                f"{e.get('prompt_tokens', 0)}+{e.get('completion_tokens', 0)} tok, "
                f"{e.get('latency_s', 0):.2f} s, ${e.get('cost_usd', 0):.4f}")
            node.label = f"{node.label}  [green]✓[/] {status}"
        elif kind in ("retry", "reask", "budget", "leaf_error"):
            parent = leaves.get(e.get("key", ""), run)
            detail = {k: v for k, v in e.items() if k not in ("event", "key", "t")}
            parent.add(f"[yellow]{kind}[/] {detail}")
        elif kind in ("run_end", "run_error"):
            detail = {k: v for k, v in e.items() if k not in ("event", "t", "bound")}
            run.add(f"[bold]{kind}[/] {detail}")
    console.print(root)
