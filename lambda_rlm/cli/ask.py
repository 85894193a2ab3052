"""The `ask` subcommand: takes parsed arguments, gives an answer (or, with --dry-run, the plan) and an exit code.

`lambda-rlm ask QUESTION [FILE|-]` reads the document, lets lambda_rlm.ask choose the task and
plan, and runs it; `ask [FILE|-] -q Q1 -q Q2` (or `--questions FILE`) asks several questions of
one document in one session (one budget, one cache connection, one trace, the document read and
counted once), each answer printed as it comes (`--json`: one document a line). `--explain`
prints the task, the plan's source, τ, k and the bound first (on stderr), and `--dry-run` stops
there without calling the model. `--search K` runs K candidate programs and chooses among them
(lambda_rlm/strategies/search.py). The model and budget options are `run`'s.
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

from lambda_rlm.core.errors import EXIT_OK, ConfigError
from lambda_rlm.models.backend import run_sync


def add_parser(sub: Any) -> argparse.ArgumentParser:
    """Register `ask` on the subparsers of the main command line."""
    from lambda_rlm.strategies.plan import TASKS

    from . import options as cli

    p: argparse.ArgumentParser = sub.add_parser(
        "ask", help="answer a question about a document with a checked task plan",
        description="Answer a question about a document: one direct call when it fits the window, "
                    "else the task's plan, bounded before it runs.")
    p.add_argument("question", nargs="?", help="the question, in quotes (or give them with -q)")
    p.add_argument("file", nargs="?", default="-", help="the document: a file, or - for stdin (default)")
    p.add_argument("-q", "--question", dest="asked", action="append", default=[], metavar="QUESTION",
                   help="a question; repeat it to ask several of one document (then FILE is the only argument)")
    p.add_argument("--questions", metavar="FILE", default=None,
                   help="a file of questions, one a line (blank lines and lines that start with # are skipped)")
    # Checked when the run starts (an unknown name exits 5), so plug-ins are looked up only then.
    p.add_argument("--task", metavar="{" + ",".join(TASKS) + ",…}", default=None,
                   help="skip the classifier and use this task type (a plug-in's too)")
    p.add_argument("--explain", action="store_true", help="print the task, plan, τ, k and bound before running")
    p.add_argument("--dry-run", action="store_true", help="explain and stop, without calling the model")
    p.add_argument("--search", type=cli.positive, default=None, metavar="K",
                   help="program search: run K candidate programs and choose the answer they agree on")
    cli.run_options(p)
    return p


def run(args: argparse.Namespace) -> int:
    """Run `ask` for parsed arguments; raises the project's errors (the caller maps them to exit codes)."""
    from lambda_rlm.runtime.session import DEFAULT_MODEL, Session
    from lambda_rlm.strategies.plan import achoose, model_window

    from . import options as cli

    questions, where = questions_of(args)
    document = cli.read_document(where)
    overrides: dict[str, Any] = {}
    if args.window is None:  # the model's real window, when litellm (or we) know it
        window = model_window(args.model or DEFAULT_MODEL)
        if window is not None:
            overrides["window"] = window
    config = cli.config_from(args, **overrides)
    show_progress = not args.quiet and not args.json
    several = len(questions) > 1
    with Session(config) as session:  # menu calls and plans share one budget, cache connection and trace
        for number, question in enumerate(questions, 1):
            if several and not args.json:
                print(f"{'' if number == 1 else chr(10)}[{number}/{len(questions)}] {question}", flush=True)
            with cli.progress(show_progress and not args.dry_run) as listener:
                choice = run_sync(achoose(question, document, config, args.task, on_event=listener,
                                          use_model=not args.dry_run, session=session))
            if getattr(args, "search", None):
                _search(args, question, choice, document, show_progress, session, several)
            else:
                _answer(args, question, choice, document, show_progress, session, several)
    return EXIT_OK


def questions_of(args: argparse.Namespace) -> tuple[list[str], str]:
    """The questions asked and where the document is: `ask QUESTION [FILE]`, or `ask [FILE]` with
    `-q QUESTION` (repeated) and/or `--questions FILE`."""
    from . import options as cli

    listed = list(args.asked)
    if args.questions is not None:
        text = cli.read_document(args.questions)
        listed += [line.strip() for line in text.splitlines() if line.strip() and not line.lstrip().startswith("#")]
    if not listed:
        if args.question is None or not args.question.strip():
            raise ConfigError("the question is empty: there is nothing to ask",
                              notes=["lambda-rlm ask QUESTION [FILE], or lambda-rlm ask FILE -q QUESTION"])
        return [args.question], args.file
    if args.question is not None and args.file != "-":
        raise ConfigError(f"with -q or --questions, give only the document, not also {args.question!r}",
                          notes=["lambda-rlm ask FILE -q QUESTION -q QUESTION"])
    empty = [i for i, q in enumerate(listed, 1) if not q.strip()]
    if empty:
        raise ConfigError(f"question {empty[0]} is empty: there is nothing to ask")
    return listed, args.question if args.question is not None else args.file


def _answer(args: argparse.Namespace, question: str, choice: Any, document: str, show_progress: bool, session: Any,
            several: bool = False) -> int:
    """`ask`: the plan (with --explain or --dry-run), then its run and the answer."""
    from lambda_rlm.runtime.session import refuse_dearer_than
    from lambda_rlm.strategies.explain import explain
    from lambda_rlm.strategies.plan import arun_choice

    from . import options as cli
    from .output import document as output

    asked = {"model": choice.config.model, "question": question}
    if args.dry_run and args.json:
        print(output("ask", **asked, **choice.as_dict(), source=choice.source, compact=several))
        return EXIT_OK
    if args.explain or args.dry_run:  # the dry run's output; a run's explanation goes to stderr
        print(explain(choice), file=sys.stdout if args.dry_run else sys.stderr, flush=True)
    if args.dry_run:
        return EXIT_OK
    if choice.config.limits.max_usd is not None:
        refuse_dearer_than(choice.bound, choice.config)
    with cli.progress(show_progress) as listener:
        answer = run_sync(arun_choice(choice, question, document, listener, session))
    cli.print_result(answer.result, args.json, "ask", **asked, task=answer.task, plan=answer.plan,
                     used_model=answer.used_model, total_calls=answer.calls, compact=several)
    return EXIT_OK


def _search(args: argparse.Namespace, question: str, choice: Any, document: str, show_progress: bool, session: Any,
            several: bool = False) -> int:
    """`ask --search K`: the candidates and their total bound, then their runs and the choice."""
    from lambda_rlm.core.errors import BudgetExceeded
    from lambda_rlm.core.values import show, to_json
    from lambda_rlm.runtime.session import worst_cost_usd
    from lambda_rlm.strategies.explain import explain
    from lambda_rlm.strategies.search import arun_search, candidates, explain_candidates, explain_outcomes

    from . import options as cli
    from .output import document as output

    cands = candidates(choice, question, document, args.search)
    asked = {"model": choice.config.model, "question": question}
    if args.dry_run and args.json:
        print(output("ask", **asked, **choice.as_dict(), candidates=[c.as_dict() for c in cands], compact=several))
        return EXIT_OK
    if args.explain or args.dry_run:
        print(explain(choice) + "\n" + explain_candidates(cands), file=sys.stdout if args.dry_run else sys.stderr,
              flush=True)
    if args.dry_run:
        return EXIT_OK
    if choice.config.limits.max_usd is not None:
        dearest = sum(worst_cost_usd(c.bound, c.config) for c in cands)
        if dearest > choice.config.limits.max_usd:
            raise BudgetExceeded(f"the search's {len(cands)} candidates may cost up to ${dearest:,.4f} on this input, "
                                 f"more than --max-usd {choice.config.limits.max_usd:g}",
                                 notes=["nothing was run; lower --search, or raise the limit"])
    with cli.progress(show_progress) as listener:
        found = run_sync(arun_search(choice, cands, question, document, listener, session))
    if args.explain:
        print(explain_outcomes(found), file=sys.stderr, flush=True)
    if args.json:
        print(output("ask", **asked, value=to_json(found.value), task=found.task, plan=found.plan,
                       winner=found.winner, why=found.why, total_calls=found.calls,
                       candidates=[_candidate(o) for o in found.outcomes], compact=several))
    else:
        print(show(found.value))
    return EXIT_OK


def _candidate(outcome: Any) -> dict[str, Any]:
    """One candidate of `--json` output: its `candidate_end` event without the event's name."""
    return {k: v for k, v in outcome.as_event().as_dict().items() if k != "event"}
