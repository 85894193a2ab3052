"""Program search (SRLM): takes an `ask` choice and K, gives K checked candidate programs, their runs and a choice.

Candidates are the chosen plan first (so search never drops the single plan's answer), then the
task plan with its leaves capped at τ/2, the task's reworded variants (`combinators/plans/variants/`),
τ/4, τ/8 and a candidate whose core is a typed hole, cut to K. Every candidate is checked and
bounded before any call, and the sum of their bounds is held against the budget. They run one
after another, each with the run's full concurrency, so a leaf that an earlier candidate made
is a cache hit for a later one (concurrent candidates would both miss and both pay).
The selection rule is `choose` (README, "Program search").
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from importlib.resources import files
from typing import TYPE_CHECKING, Any

from lambda_rlm.core import events
from lambda_rlm.core.errors import BudgetExceeded, CostError, LambdaError, SearchCutOff
from lambda_rlm.core.events import Event

from .plan import DIRECT, AskResult, Choice, compile_plan
from .selection import NEUTRAL as NEUTRAL  # the rule's names, re-exported where search's users look
from .selection import Candidate, Outcome, choose, group_key, short
from .selection import abstains as abstains
from .selection import normalise as normalise

if TYPE_CHECKING:
    from lambda_rlm.analysis.cost import Bound
    from lambda_rlm.analysis.program import Program
    from lambda_rlm.models.budget import Budget
    from lambda_rlm.runtime.session import Config, Result, Session

MIN_TAU = 256  # leaf caps are halved down to this; smaller chunks rarely hold a fact with its context
VARIANTS_PACKAGE = "lambda_rlm.combinators.plans.variants"
HOLE_VARIANT = "hole"

Listener = Callable[[Event], None]


# ---------------------------------------------------------------------- candidates


def candidates(choice: Choice, question: str, document: str, k: int) -> tuple[Candidate, ...]:
    """The first k candidates of the pool that bound on this input (a variant that cannot fit the
    window is skipped, never run); the first is always `choice` itself. Makes no model call."""
    from lambda_rlm.runtime.session import prepare

    out = [Candidate(1, _describe(f"{choice.plan} plan (the single plan)", choice.bound), choice.program,
                     choice.config, choice.bound)]
    for label, program, config in _pool(choice, question, document):
        if len(out) >= k:
            break
        try:
            planned = prepare(program, document, config, question=question)
        except CostError:
            continue
        out.append(Candidate(len(out) + 1, _describe(label, planned.bound), program, planned.config, planned.bound))
    return tuple(out)


def _pool(choice: Choice, question: str, document: str) -> Iterator[tuple[str, Program, Config]]:
    """Candidates after the chosen plan, in the order they are taken."""
    from lambda_rlm.runtime.session import prepare

    from .plan import _leaf_cap

    task, config = choice.task, choice.config
    program, tau = compile_plan(task), choice.bound.tau
    if choice.plan == DIRECT:
        config = _leaf_cap(task, config)
        yield f"{task} plan", program, config
        try:
            tau = prepare(program, document, config, question=question).bound.tau
        except CostError:
            tau = None
    caps = [tau // d for d in (2, 4, 8) if tau is not None and tau // d >= MIN_TAU]
    if caps:
        yield f"{task} plan, leaves ≤ {caps[0]:,} tokens", program, config.changed(max_leaf_tokens=caps[0])
    for name in variants(task):
        yield f"variant {name}", variant(name), config
    for cap in caps[1:]:
        yield f"{task} plan, leaves ≤ {cap:,} tokens", program, config.changed(max_leaf_tokens=cap)
    yield "hole: the model writes the answering expression", variant(HOLE_VARIANT), config


def variants(task: str) -> list[str]:
    """The names of the shipped variants of a task's plan (`variants/TASK_*.lam`), sorted."""
    folder = files(VARIANTS_PACKAGE)
    return sorted(e.name[:-4] for e in folder.iterdir() if e.name.startswith(f"{task}_") and e.name.endswith(".lam"))


def variant(name: str) -> Program:
    """A shipped variant, compiled (parse, types, termination)."""
    from lambda_rlm.analysis.program import compile

    source = files(VARIANTS_PACKAGE).joinpath(f"{name}.lam").read_text(encoding="utf-8")
    return compile(source, name=f"<plan>/variants/{name}.lam")


def _describe(label: str, bound: Bound) -> str:
    return label + (f", τ = {bound.tau:,}, k = {bound.k:,}" if bound.tau is not None and bound.k is not None else "")


def refuse_over_budget(cands: tuple[Candidate, ...], budget: Budget) -> None:
    """BudgetExceeded, before any call, when the candidates' bounds together exceed what the
    session's budget has left."""
    calls = sum(c.bound.calls for c in cands)
    tokens = sum(c.bound.total_prompt_tokens + c.bound.total_output_tokens for c in cands)
    each = [f"candidate {c.id} ({c.description}): calls ≤ {c.bound.calls:,}" for c in cands]
    advice = ["nothing was run; lower --search, or raise the limit", *each]
    spent = budget.snapshot()
    if budget.max_calls is not None and calls > budget.max_calls - spent.requests:
        raise BudgetExceeded(f"the search's {len(cands)} candidates may make up to {calls:,} calls on this input, "
                             f"more than --max-calls {budget.max_calls - spent.requests:,}", notes=advice)
    if budget.max_tokens is not None and tokens > budget.max_tokens - spent.tokens:
        raise BudgetExceeded(f"the search's {len(cands)} candidates may use up to {tokens:,} tokens on this input, "
                             f"more than --max-tokens {budget.max_tokens - spent.tokens:,}", notes=advice)


# ---------------------------------------------------------------------- running


@dataclass(frozen=True)
class SearchResult(AskResult):
    """The chosen candidate's run (as `result`), with every candidate's outcome and why it won."""

    outcomes: tuple[Outcome, ...] = ()
    winner: int = 1
    why: str = ""
    votes: dict[str, int] | None = None

    @property
    def value(self) -> Any:
        """The winner's answer (a candidate giving {answer, confidence} gives its answer)."""
        return self.outcomes[self.winner - 1].answer

    @property
    def calls(self) -> int:
        """Model calls made by every candidate, the menu call included."""
        return sum(o.calls for o in self.outcomes) + (self.classifier.calls if self.classifier else 0)


class _Meter:
    """A leaf-event listener for one candidate: calls made, leaves, cost, and tokens its leaves wrote."""

    def __init__(self, cache: Any, forward: Listener | None) -> None:
        self.cache, self.forward = cache, forward
        self.calls = self.leaves = self.tokens = self.written = 0
        self.cost_usd = 0.0

    def __call__(self, event: Event) -> None:
        if self.forward is not None:
            self.forward(event)
        if event.get("event") != "leaf_end":
            return
        self.leaves += 1
        if event.get("cached"):  # what the leaf wrote when it was made: reasoning length is the program's
            entry = self.cache.get(str(event.get("key"))) if self.cache is not None else None
            self.written += entry.completion_tokens if entry is not None else 0
            return
        self.calls += 1
        self.tokens += int(event.get("prompt_tokens", 0)) + int(event.get("completion_tokens", 0))
        self.written += int(event.get("completion_tokens", 0))
        self.cost_usd += float(event.get("cost_usd", 0.0))


async def arun_search(choice: Choice, cands: tuple[Candidate, ...], question: str, document: str,
                      on_event: Listener | None = None, session: Session | None = None) -> SearchResult:
    """Refuse over budget, run every candidate, choose; a budget cut raises SearchCutOff with what finished.

    The candidates run in one session (`session`, else one of their own): one budget for all of
    them, one cache connection and one trace."""
    from lambda_rlm.runtime.session import Session

    if session is None:
        with Session(choice.config, on_event) as own:
            return await _search(choice, cands, question, document, None, own)
    return await _search(choice, cands, question, document, on_event, session)


async def _search(choice: Choice, cands: tuple[Candidate, ...], question: str, document: str,
                  on_event: Listener | None, session: Session) -> SearchResult:
    from lambda_rlm.runtime.session import Planned

    refuse_over_budget(cands, session.budget)

    def emit(event: Event) -> None:
        session.trace.emit(event)
        if on_event is not None:
            on_event(event)

    cache = session.cache(choice.config)
    tokenizer = choice.planned.tokenizer
    outcomes: list[Outcome] = []
    failures: list[LambdaError] = []
    emit(events.SearchStart(candidates=tuple(c.as_dict() for c in cands),
                            bound_calls=sum(c.bound.calls for c in cands)))
    for c in cands:
        emit(events.CandidateStart(candidate=c.id, description=c.description, bound=c.bound.as_dict()))
        meter = _Meter(cache, on_event)
        began = time.monotonic()
        planned = Planned(c.program, (document, question), c.config, tokenizer, c.bound)  # bounded in candidates()
        try:
            outcome = _finished(c, await session.arun(planned, meter), meter, began)
        except BudgetExceeded as exc:
            emit(_failed(c, exc, meter, began).as_event())
            emit(events.SearchError(kind="budget", message=exc.message, finished=len(outcomes)))
            raise _cut_off(c, len(cands), exc, tuple(outcomes)) from None
        except LambdaError as exc:  # a failed candidate does not vote; the others go on
            failures.append(exc)
            outcome = _failed(c, exc, meter, began)
        outcomes.append(outcome)
        emit(outcome.as_event())
    _guard(outcomes, cands)
    if failures and len(failures) == len(outcomes):
        emit(events.SearchError(kind="failed", message=failures[0].message))
        raise failures[0]  # the single plan's own error: search is never worse than the plan
    verdict = choose(outcomes)
    emit(events.SearchChoice(winner=verdict.winner, why=verdict.why, votes=verdict.votes))
    won = outcomes[verdict.winner - 1]
    assert won.result is not None
    return SearchResult(won.result, choice.task, choice.plan, choice.used_model, choice.classifier,
                        tuple(outcomes), verdict.winner, verdict.why, verdict.votes)


def _finished(c: Candidate, result: Result, meter: _Meter, began: float) -> Outcome:
    answer, confidence = _answer(result.value)
    return Outcome(c, answer, confidence, meter.written, result.calls, meter.tokens, meter.leaves, meter.cost_usd,
                   time.monotonic() - began, result)


def _failed(c: Candidate, exc: LambdaError, meter: _Meter, began: float) -> Outcome:
    return Outcome(c, None, None, meter.written, meter.calls, meter.tokens, meter.leaves, meter.cost_usd,
                   time.monotonic() - began, None, f"{exc.kind}: {exc.message}")


def _answer(value: Any) -> tuple[Any, int | None]:
    """A candidate's answer and stated confidence: a record {answer, confidence} states one."""
    from lambda_rlm.core.values import Record, Some

    if not (isinstance(value, Record) and "answer" in value):
        return value, None
    stated = value.get("confidence")
    stated = stated.value if isinstance(stated, Some) else stated
    if isinstance(stated, bool) or not isinstance(stated, int | float):
        return value["answer"], None
    return value["answer"], int(min(100, max(0, stated)))


def _guard(outcomes: list[Outcome], cands: tuple[Candidate, ...]) -> None:
    """The dynamic guard of the search: the calls made never exceed the sum of the static bounds."""
    made, bound = sum(o.calls for o in outcomes), sum(c.bound.calls for c in cands)
    if made > bound:
        raise LambdaError(f"internal error: the search made {made} calls, more than its bound of {bound}",
                          notes=["please report this as a bug"])


def _cut_off(c: Candidate, total: int, exc: BudgetExceeded, done: tuple[Outcome, ...]) -> SearchCutOff:
    finished = [f"candidate {o.candidate.id} ({o.candidate.description}) finished: "
                + (short(o.answer) if o.error is None else o.error) for o in done]
    return SearchCutOff(
        f"the search was cut off in candidate {c.id} of {total} ({c.description}): {exc.message}", done,
        [*finished, "every completed leaf is cached; rerun the same command to resume at no model cost"])


async def asearch(question: str, document: str, config: Config, k: int, task: str | None = None,
                  on_event: Listener | None = None, direct: bool | None = None,
                  session: Session | None = None) -> SearchResult:
    """Choose the task and plan as `ask` does, then search over k candidates."""
    from .plan import achoose

    choice = await achoose(question, document, config, task, on_event, direct=direct, session=session)
    return await arun_search(choice, candidates(choice, question, document, k), question, document, on_event,
                             session)


# ---------------------------------------------------------------------- explaining


def explain_candidates(cands: tuple[Candidate, ...]) -> str:
    """The candidates and their bounds, as `ask --search K --explain` prints them before the run."""
    lines = [f"search: {len(cands)} candidates, bound: calls ≤ {sum(c.bound.calls for c in cands):,} in all, "
             f"prompt ≤ {sum(c.bound.total_prompt_tokens for c in cands):,} tokens in all"]
    lines += [f"  #{c.id} {c.description}    calls ≤ {c.bound.calls:,}" for c in cands]
    return "\n".join(lines)


def explain_outcomes(result: SearchResult) -> str:
    """Every candidate's answer and score parts, and why the winner won."""
    votes = result.votes or {}
    lines = ["candidates (votes, confidence, reasoning tokens, calls, $):"]
    for o in result.outcomes:
        mark = "→" if o.candidate.id == result.winner else " "
        said = o.error or (f"{short(o.answer, 40)}  votes {votes.get(group_key(o.key), 0)}, confidence "
                           f"{'—' if o.confidence is None else o.confidence}, reasoning {o.reasoning_tokens:,}")
        lines.append(f" {mark}#{o.candidate.id} {o.candidate.description}: {said}, calls {o.calls:,}, "
                     f"${o.cost_usd:.4f}")
    lines.append(f"chosen: #{result.winner} ({result.why})")
    return "\n".join(lines)
