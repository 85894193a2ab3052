"""The `bench` subcommand: takes parsed arguments, gives a table per task, results.jsonl, summary.json and an exit code.

`lambda-rlm bench --task all --lengths 8k,128k --n 20 --model reference/32k` generates each
task's instances, runs them through each baseline (lambda_rlm/bench.py), prints a rich table
per task (rows: length × baseline) and writes `results.jsonl` (a line per instance, as each
ends) and `summary.json` to `--out`; `--plot FILE.png` draws score against length per baseline
(needs the `plot` extra). Rerunning the same command is served by the leaf cache.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from lambda_rlm.core.errors import EXIT_OK, EXIT_USAGE, ConfigError
from lambda_rlm.models.backend import run_sync

PLOT_INSTALL = "pip install 'lambda-rlm[plot]'  (or: pip install matplotlib==3.11.2)"


def _lengths(text: str) -> list[int]:
    from lambda_rlm.bench.runner import MAX_LENGTH

    from .options import tokens

    values = [tokens(part) for part in text.split(",") if part.strip()]
    if not values or min(values) < 1:
        raise argparse.ArgumentTypeError(f"not a list of lengths: {text!r} (try 8k,128k,1m)")
    if max(values) > MAX_LENGTH:
        raise argparse.ArgumentTypeError(f"a length is at most {MAX_LENGTH:,} tokens, not {max(values):,}")
    return values


def add_parser(sub: Any) -> argparse.ArgumentParser:
    """Register `bench` on the subparsers of the main command line."""
    from .options import cache_options, positive, positive_seconds, read_all_option, tokens, window

    p: argparse.ArgumentParser = sub.add_parser(
        "bench", help="score baselines on the benchmark tasks at several document lengths",
        description="Run benchmark tasks at several lengths through several baselines (direct, plan, ask, "
                    "plan:FILE.lam, plug-ins) and tabulate score, calls, tokens, cost and wall time.")
    p.add_argument("--task", default="all", help="all, or task names separated by commas (default all)")
    p.add_argument("--lengths", type=_lengths, default=[8_000, 32_000], help="document lengths (default 8k,32k)")
    p.add_argument("--n", type=positive, default=5, help="questions per task and length (default 5)")
    p.add_argument("--seed", type=int, default=0, help="seed of the generated documents and questions (default 0)")
    p.add_argument("--baseline", default="direct,plan", help="baselines separated by commas (default direct,plan)")
    p.add_argument("--model", default=None, help="a litellm model string, e.g. reference/32k")
    p.add_argument("--api-base", default=None, help="base URL of an OpenAI-compatible server")
    p.add_argument("--window", type=window, default=None, help="the model's window in tokens")
    p.add_argument("--output-tokens", type=tokens, default=None, help="max output tokens per call")
    p.add_argument("--concurrency", type=positive, default=8, help="requests in flight at once (default 8)")
    p.add_argument("--timeout", type=positive_seconds, default=120.0, help="seconds per request (default 120)")
    p.add_argument("--deadline", type=positive_seconds, default=None,
                   help="seconds per run of one question by one baseline; a run past it scores 0, its error kept")
    read_all_option(p)
    p.add_argument("--out", default="bench-results", help="folder for results.jsonl and summary.json")
    p.add_argument("--plot", default=None, metavar="FILE.png", help="draw score against length per baseline")
    cache_options(p)
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    return p


def run(args: argparse.Namespace, argv: Sequence[str] | None = None) -> int:
    """Run `bench` for parsed arguments; a bad task or baseline name is a one-line usage error (exit 2)."""
    from lambda_rlm.bench import runner as bench

    try:
        tasks = _tasks(args.task)
        baselines = {name: bench.baseline(name) for name in _baselines(args.baseline)}
    except _Usage as exc:
        print(f"lambda-rlm bench: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    if args.plot:
        _matplotlib()  # fail before the run, not after it
    config = _config(args, tasks)
    out = Path(args.out)
    try:
        out.mkdir(parents=True, exist_ok=True)
        results = (out / "results.jsonl").open("w", encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"cannot write to '{out}': {exc.strerror or exc}") from None
    with results, _Bar(not args.quiet and sys.stderr.isatty(), len(tasks) * len(args.lengths) * len(baselines)
                       * args.n) as bar:
        report = run_sync(bench.arun_bench(tasks, args.lengths, args.n, args.seed, baselines, config,
                                              results, bar))
    command = ["lambda-rlm", *(sys.argv[1:] if argv is None else argv)]
    summary = bench.summary(report, config, command, args.seed, args.n)
    (out / "summary.json").write_text(json.dumps(summary, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    print_tables(summary)
    print(f"{len(report.records)} runs in {report.total_s:.1f} s; results in {out}/results.jsonl and "
          f"{out}/summary.json")
    if args.plot:
        plot(summary, Path(args.plot))
        print(f"plot: {args.plot}")
    return EXIT_OK


class _Usage(Exception):
    """A bad value on the command line, reported in one line with exit code 2."""


def _names(text: str) -> list[str]:
    names = [part.strip() for part in text.split(",") if part.strip()]
    if not names:
        raise _Usage(f"no names in {text!r}")
    return list(dict.fromkeys(names))


def _baselines(text: str) -> list[str]:
    from lambda_rlm.bench.runner import PLAN_PREFIX, baseline_names

    known = baseline_names()
    unknown = [name for name in _names(text) if name not in known and not name.startswith(PLAN_PREFIX)]
    if unknown:
        raise _Usage(f"unknown baseline {', '.join(map(repr, unknown))} (baselines: {', '.join(known)}, "
                     f"or {PLAN_PREFIX}FILE.lam)")
    return _names(text)


def _tasks(text: str) -> list[Any]:
    from lambda_rlm.bench.tasks import load, names

    known = names()
    wanted = known if text.strip() == "all" else _names(text)
    unknown = [name for name in wanted if name not in known]
    if unknown:
        raise _Usage(f"unknown task {', '.join(map(repr, unknown))} (tasks: {', '.join(known)}, or all)")
    try:
        return [load(name) for name in wanted]
    except ImportError as exc:
        raise ConfigError(f"a task could not be loaded: {exc}") from None


def _config(args: argparse.Namespace, tasks: list[Any]) -> Any:
    from lambda_rlm.bench.tasks import reference
    from lambda_rlm.runtime.session import DEFAULT_MODEL, Config
    from lambda_rlm.strategies.plan import model_window

    model = args.model or DEFAULT_MODEL
    if reference.is_reference(model):
        reference.register(model, tasks=tasks)  # so its window is known and plug-in tasks are read
    fields: dict[str, Any] = {"model": model, "api_base": args.api_base, "concurrency": args.concurrency,
                              "timeout_s": args.timeout, "use_cache": not args.no_cache, "cache_dir": args.cache_dir,
                              "deadline_s": args.deadline, "read_all": args.read_all}
    window = args.window or model_window(model)
    if window is not None:
        fields["window"] = window
    if args.output_tokens is not None:
        fields["output_tokens"] = args.output_tokens
    return Config(**fields)


class _Bar:
    """A rich progress bar over instances on stderr; does nothing when disabled."""

    def __init__(self, enabled: bool, total: int) -> None:
        self.enabled, self.total = enabled, total
        self._bar: Any = None
        self._task: Any = None

    def __enter__(self) -> _Bar:
        if self.enabled:
            from rich.console import Console
            from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

            self._bar = Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                                 TimeElapsedColumn(), console=Console(stderr=True), transient=True)
            self._bar.__enter__()
            self._task = self._bar.add_task("bench", total=self.total)
        return self

    def __exit__(self, *exc: object) -> None:
        if self._bar is not None:
            self._bar.__exit__(None, None, None)

    def __call__(self, what: str, done: int) -> None:
        if self._bar is not None:
            self._bar.update(self._task, description=what, completed=done)


def print_tables(summary: dict[str, Any]) -> None:
    """One rich table per task: a row per length × baseline."""
    from rich.table import Table

    from lambda_rlm.bench.runner import size_label

    from .progress import StdoutConsole

    console = StdoutConsole(width=None if sys.stdout.isatty() else 132)  # a file or pipe gets whole columns
    tasks = list(dict.fromkeys(g["task"] for g in summary["groups"]))
    for task in tasks:
        table = Table(title=f"{task} — {summary['model']}, window {summary['window']:,}, seed {summary['seed']}")
        for column in ("length", "baseline", "score", "n", "calls", "prompt tok", "cost $", "wall p50", "wall p95",
                       "errors"):
            table.add_column(column, justify="left" if column == "baseline" else "right")
        for g in (g for g in summary["groups"] if g["task"] == task):
            table.add_row(size_label(g["length"]), g["baseline"], f"{g['score']:.2f} ±{g['score_stdev']:.2f}",
                          str(g["n"]), f"{g['calls']:.1f}", f"{g['prompt_tokens']:,.0f}", f"{g['cost_usd']:.4f}",
                          f"{g['wall_p50_s']:.2f}s", f"{g['wall_p95_s']:.2f}s", str(g["errors"]))
        console.print(table)


def _matplotlib() -> Any:
    try:
        import matplotlib  # type: ignore[import-not-found, unused-ignore]  # the optional `plot` extra
    except ImportError:
        raise ConfigError(f"--plot needs matplotlib, which is not installed: {PLOT_INSTALL}") from None
    matplotlib.use("Agg")  # files only; never a window
    return matplotlib


def plot(summary: dict[str, Any], path: Path) -> None:
    """Score against context length, a line per baseline, a panel per task."""
    _matplotlib()
    import matplotlib.pyplot as plt  # type: ignore[import-not-found, unused-ignore]

    tasks = list(dict.fromkeys(g["task"] for g in summary["groups"]))
    fig, axes = plt.subplots(1, len(tasks), figsize=(4 * len(tasks), 3.4), squeeze=False, sharey=True)
    for ax, task in zip(axes[0], tasks, strict=True):
        rows = [g for g in summary["groups"] if g["task"] == task]
        for name in dict.fromkeys(g["baseline"] for g in rows):
            points = sorted((g["length"], g["score"]) for g in rows if g["baseline"] == name)
            ax.plot([x for x, _ in points], [y for _, y in points], marker="o", label=name)
        ax.set_xscale("log")
        ax.set_title(task)
        ax.set_xlabel("context length (tokens)")
        ax.set_ylim(-0.05, 1.05)
    axes[0][0].set_ylabel("score")
    axes[0][-1].legend()
    fig.suptitle(f"{summary['model']}, window {summary['window']:,}")
    fig.tight_layout()
    try:
        fig.savefig(path, dpi=120)
    except OSError as exc:
        raise ConfigError(f"cannot write the plot '{path}': {exc.strerror or exc}") from None
    finally:
        plt.close(fig)
