"""The plan strategy: takes a question and a document, gives the chosen task's checked, bounded plan and its run.

It chooses the task type (rules first; one menu call to the model only when the rules are
unsure and the choice matters), answers in one direct call when the document fits the window,
else compiles the task's plan (`combinators/plans/TASK.lam`), bounds it for these very sizes
(τ and k by the partition rule) and runs it with the normal runtime, which enforces the bound.
`strategies/ask.py` puts this and program search (`strategies/search.py`) behind `ask`.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, replace
from functools import cache
from importlib.resources import files
from typing import TYPE_CHECKING, Any

from lambda_rlm.core.errors import ConfigError, CostError, LeafError
from lambda_rlm.core.events import Event
from lambda_rlm.models.backend import model_window as model_window
from lambda_rlm.models.profiles import profile
from lambda_rlm.text.shape import Shape, shape

from .task_types import BUILT_IN, STRONG, TaskType, menu, task_types

if TYPE_CHECKING:
    from lambda_rlm.analysis.cost import Bound
    from lambda_rlm.analysis.program import Program
    from lambda_rlm.runtime.session import Config, Planned, Result, Session

TASKS = tuple(t.name for t in BUILT_IN)  # the built-in task types; `task_names()` adds plug-ins
DIRECT = "direct"
MENU = "task_menu"
PLANS_PACKAGE = "lambda_rlm.combinators.plans"
MENU_OUTPUT_TOKENS = 16  # "3" or "3. aggregate" is all the menu call may say
# Leaves that list every item of their chunk must fit the list in one reply: a chunk of
# n tokens of short items gives about n/4 tokens of labels, and n/2 to n of records (the 0.5B
# model spells out every field; at 2 its record lists overran 512 output tokens). Their leaf
# size is capped at this many times the output budget (truncated JSON would fail the leaf).
LIST_LEAF_RATIO = {t.name: t.list_leaf_ratio for t in BUILT_IN if t.list_leaf_ratio}
# Documents longer than this many characters per window token surely do not fit (checked on
# a prefix), so the direct check need not tokenize all of a huge document.
PREFIX_CHARS_PER_TOKEN = 16

Listener = Callable[[Event], None]

# ---------------------------------------------------------------------- the rule-based classifier

@cache
def _compiled(rules: tuple[tuple[str, int], ...]) -> tuple[tuple[re.Pattern[str], int], ...]:
    """A task type's cues, compiled once per process."""
    return tuple((re.compile(pattern, re.IGNORECASE), weight) for pattern, weight in rules)
# A search question asks for one fact: a wh-word, a yes/no opening or a request to find.
_SEARCH_CUE = re.compile(
    r"^\W*(?:what|who|whom|when|where|which|why|how|is|are|was|were|does|do|did|has|have|had|can|"
    r"could|will|would|should|find|locate|look up|give|list|name|quote)\b", re.IGNORECASE)


def task_names() -> tuple[str, ...]:
    """Every task type's name: the built-ins, then installed plug-ins."""
    return tuple(t.name for t in task_types())


def scores(question: str, types: tuple[TaskType, ...] | None = None) -> dict[str, int]:
    """The rule score of every task type with rules (search is what no rule claims)."""
    text = question.replace("’", "'")
    out = {}
    for kind in types or task_types():
        if kind.rules:
            out[kind.name] = sum(w for pattern, w in _compiled(kind.rules) if pattern.search(text))
    return out


def classify(question: str) -> tuple[str, bool]:
    """The task type by rules, and whether the rules are confident of it.

    Confident: the winner has a strong cue and no rival has one, or it leads by a strong cue;
    with no cue at all the task is search, confident only when the question opens like a
    question (a wh-word, a yes/no verb, "find"). A tie goes to the higher precedence.
    """
    types = task_types()
    precedence = {t.name: t.precedence for t in types}
    ranked = sorted(scores(question, types).items(), key=lambda kv: (-kv[1], -precedence[kv[0]]))
    (best, top), (_, second) = ranked[0], ranked[1]
    if top == 0:
        return "search", bool(_SEARCH_CUE.search(question))
    return best, top >= STRONG and (second < STRONG or top - second >= STRONG)


def _lists_items(task: str) -> bool:
    return any(t.name == task and t.list_leaf_ratio for t in task_types())


def choose_task(question: str, document: Shape | None = None) -> tuple[str, bool, str]:
    """The task type by rules and by the document's shape, whether that is confident, and why.

    A count or a pair over prose or code is a fact the text states ("by how many points …",
    "in how many of the cases …"): it is looked up, since a record-counting plan over sentences
    counts nothing meaningful. Over a list of records the counting and pairing plans are the
    right ones, so the shape makes an unsure rule confident there.
    """
    task, confident = classify(question)
    if document is None:
        return task, confident, f"rules, {'confident' if confident else 'unsure'}"
    if _lists_items(task) and not document.has_records:
        return "search", True, f"rules say {task}, but the document is {document.describe()}, so it is looked up"
    note = f"rules, {'confident' if confident else 'unsure'}"
    if _lists_items(task) and not confident:
        return task, True, f"{note}; the document is {document.describe()}, which settles it"
    return task, confident, note


_MENU_REPLY = re.compile(r"(?:(?P<number>[1-9])\s*(?:[.):\-–]\s*)?(?P<named>[a-z][a-z -]*)?|(?P<name>[a-z][a-z -]*))")


def parse_menu_reply(reply: str) -> str | None:
    """The task a menu reply names, or None: the whole reply must be a number, a name, or both agreeing."""
    text = reply.strip().strip("`*\"'").strip().rstrip(".").strip().lower()
    m = _MENU_REPLY.fullmatch(text)
    if m is None:
        return None
    names = task_names()
    if m["number"] is not None:
        index = int(m["number"]) - 1
        if index >= len(names):
            return None
        named = _task_named(m["named"]) if m["named"] else names[index]
        return names[index] if named == names[index] else None
    return _task_named(m["name"])


def _task_named(word: str) -> str | None:
    word = word.strip()
    for kind in task_types():
        if word == kind.name or word in kind.aliases:
            return kind.name
    return None


# ---------------------------------------------------------------------- plans


def plan_source(name: str) -> str:
    """The text of a plan: a task type's (shipped, or a plug-in's own), `direct` or `task_menu`."""
    for kind in task_types():
        if kind.name == name and kind.plan is not None:
            return kind.plan
    if name not in (*TASKS, DIRECT, MENU):
        raise ConfigError(f"there is no plan named '{name}'", notes=[f"task types: {', '.join(task_names())}"])
    return files(PLANS_PACKAGE).joinpath(f"{name}.lam").read_text(encoding="utf-8")


@cache
def compile_plan(name: str) -> Program:
    """The checked program of a shipped plan, compiled once per process."""
    from lambda_rlm.analysis.program import compile

    return compile(plan_source(name), name=f"<plan>/{name}.lam")


def check_plans() -> dict[str, Program]:
    """Every shipped plan, compiled: parse, types, termination (raises the first error)."""
    return {name: compile_plan(name) for name in (*task_names(), DIRECT, MENU)}


# ---------------------------------------------------------------------- configuration


def resolve_config(config: Config | None = None, model: str | None = None, window: int | None = None) -> Config:
    """The run's configuration: `config`, else one for `model`; its window is the one given, else
    the model's own when known (Config.resolved)."""
    from lambda_rlm.runtime.session import DEFAULT_MODEL, Config

    if config is None:
        return Config(model=model or DEFAULT_MODEL, window=window).resolved()
    changes: dict[str, Any] = {}
    if model is not None:
        changes["model"] = model
    if window is not None:
        changes["window"] = window
    return replace(config, **changes).resolved()


# ---------------------------------------------------------------------- choosing and running


@dataclass(frozen=True)
class Choice:
    """What `ask` decided before the run: the task, and the plan planned for these inputs (its
    program, configuration and bound, computed once)."""

    task: str
    plan: str  # a task type, or "direct"
    planned: Planned
    confident: bool
    used_model: bool  # whether the menu call was made (the note says if its reply was used)
    note: str  # how the task was chosen, for --explain
    classifier: Result | None = None  # the menu call's run, when one was made

    @property
    def program(self) -> Program:
        return self.planned.program

    @property
    def bound(self) -> Bound:
        return self.planned.bound

    @property
    def config(self) -> Config:
        """What the plan runs with: the caller's config, fitted to the model, with its leaf caps."""
        return self.planned.config

    @property
    def source(self) -> str:
        return plan_source(self.plan)

    def as_dict(self) -> dict[str, Any]:
        return {"task": self.task, "plan": self.plan, "confident": self.confident, "used_model": self.used_model,
                "note": self.note, "type": self.program.type, "bound": self.bound.as_dict()}


@dataclass(frozen=True)
class AskResult:
    """The answer: the plan's runtime Result, with the task and plan that produced it."""

    result: Result
    task: str
    plan: str
    used_model: bool
    classifier: Result | None = None

    @property
    def value(self) -> Any:
        return self.result.value

    @property
    def calls(self) -> int:
        """Model calls made, the menu call included."""
        return self.result.calls + (self.classifier.calls if self.classifier else 0)


def _refuse_long_question(question: str, config: Config, count: Callable[[str], int]) -> None:
    """A question that takes more than half the window leaves a leaf no room for the document: say
    so, rather than fail the bound at a line of a plan the user never wrote."""
    from lambda_rlm.runtime.session import FALLBACK_WINDOW

    window = config.resolved().window or FALLBACK_WINDOW
    tokens = count(question)
    if tokens > window // 2:
        raise ConfigError(f"the question is {tokens:,} tokens long; every leaf shows it beside a piece of the "
                          f"document, so it may take at most half the window ({window // 2:,} of {window:,} tokens)",
                          notes=["ask a shorter question, or use a model with a larger window (--window)"])


async def achoose(question: str, document: str, config: Config, task: str | None = None,
                  on_event: Listener | None = None, use_model: bool = True, direct: bool | None = None,
                  session: Session | None = None) -> Choice:
    """Classify, decide direct or plan, and bound the chosen program; makes at most the menu call.

    `direct` None decides by size, True forces the direct plan, False forces the task plan;
    `use_model` False never calls the model (a dry run). The menu call runs in `session` (a
    session of its own when none is given), so a plan run in the same session has what it left.
    """
    from lambda_rlm.runtime.session import default_tokenizer, prepare

    tokenizer = config.llm.tokenizer or default_tokenizer(config.model)  # the run's own, so bounds agree
    config = config.changed(tokenizer=tokenizer)
    _refuse_long_question(question, config, tokenizer.count)
    if task is not None:
        if task not in task_names():
            raise ConfigError(f"there is no task type '{task}'", notes=[f"task types: {', '.join(task_names())}"])
        chosen, confident, note = task, True, "given"
    else:
        chosen, confident, note = choose_task(question)
    fits = _direct_plan(question, document, config) if direct is not False else None
    if direct or (direct is None and fits is not None):
        planned = fits if fits is not None else prepare(compile_plan(DIRECT), document, config, question=question)
        return Choice(chosen, DIRECT, planned, confident, False,
                      note + "; the document fits the window, so one direct call")
    if task is None:  # a plan reads the document in pieces: its shape decides which plan fits
        chosen, confident, note = choose_task(question, shape(document))
    classifier = None
    if not confident and use_model:
        picked, classifier = await _menu(question, config, on_event, session)
        if picked is not None:
            chosen, note = picked, f"{note}; the model chose {picked}"
        elif classifier is None:
            note += "; the menu call failed, rules kept"
        else:
            note += f"; the menu reply {str(classifier.value)[:40]!r} was not understood, rules kept"
    elif not confident:
        note += "; no model call (dry run)"
    planned = prepare(compile_plan(chosen), document, _leaf_cap(chosen, config), question=question)
    return Choice(chosen, chosen, planned, confident, classifier is not None, note, classifier)


def _leaf_cap(task: str, config: Config) -> Config:
    """The config with list-returning leaves kept small enough for their reply to fit, and labelling
    leaves no larger than the model's profile says it labels reliably."""
    found = profile(config.model)
    if config.leaves.max_records is None and found is not None and found.label_records is not None:
        config = config.changed(max_leaf_records=found.label_records)
    if config.leaves.votes is None and found is not None and found.label_votes is not None:
        config = config.changed(label_votes=found.label_votes)
    ratio = next((t.list_leaf_ratio for t in task_types() if t.name == task), None)
    if ratio is None:
        return config
    cap = ratio * config.llm.output_tokens
    return config.changed(max_leaf_tokens=min(cap, config.leaves.max_tokens or cap))


def _direct_plan(question: str, document: str, config: Config) -> Planned | None:
    """The direct plan, planned, when the document fits one call (and the leaf cap), else None."""
    from lambda_rlm.runtime.session import prepare

    window = config.resolved().window or 0
    prefix = document[: PREFIX_CHARS_PER_TOKEN * window]
    # A prefix's count is within a few tokens of its share of the whole, so this only rejects.
    if len(prefix) < len(document) and config.llm.tokenizer.count(prefix) > window + 64:
        return None
    if config.leaves.max_tokens is not None and config.llm.tokenizer.count(document) > config.leaves.max_tokens:
        return None
    try:
        return prepare(compile_plan(DIRECT), document, config, question=question)
    except CostError:
        return None


async def _menu(question: str, config: Config, on_event: Listener | None,
                session: Session | None) -> tuple[str | None, Result | None]:
    """The task the model picks from the menu, and the run that asked it (None when the call failed)."""
    from lambda_rlm.runtime.session import Session, prepare

    menu_config = config.changed(output_tokens=min(config.llm.output_tokens, MENU_OUTPUT_TOKENS))
    kinds = menu(task_types())  # the menu's lines are its "document"
    planned = prepare(compile_plan(MENU), kinds, menu_config, question=question)
    own = session is None
    runs = Session(config) if session is None else session
    try:
        result = await runs.arun(planned, on_event)
    except LeafError:
        return None, None  # the plan's own run will report a model that does not answer
    finally:
        if own:
            runs.close()
    return parse_menu_reply(str(result.value)), result


async def arun_choice(choice: Choice, question: str, document: str,
                      on_event: Listener | None = None, session: Session | None = None) -> AskResult:
    """Run a chosen plan as it was planned (no bound computed again), in `session` when given:
    with the menu call in the same session, the plan has the budget that call left."""
    from lambda_rlm.runtime.session import Session

    if session is None:
        with Session(choice.config) as own:
            result = await own.arun(choice.planned, on_event)
    else:
        result = await session.arun(choice.planned, on_event)
    return AskResult(result, choice.task, choice.plan, choice.used_model, choice.classifier)
