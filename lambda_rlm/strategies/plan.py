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
from lambda_rlm.text.shape import Shape, shape

if TYPE_CHECKING:
    from lambda_rlm.analysis.cost import Bound
    from lambda_rlm.analysis.program import Program
    from lambda_rlm.runtime.session import Config, Result

TASKS = ("search", "classify", "aggregate", "pairwise", "summarise", "multihop")
DIRECT = "direct"
MENU = "task_menu"
PLANS_PACKAGE = "lambda_rlm.combinators.plans"
MENU_OUTPUT_TOKENS = 16  # "3" or "3. aggregate" is all the menu call may say
# Leaves that list every item of their chunk must fit the list in one reply: a chunk of
# n tokens of short items gives about n/4 tokens of labels, and n/2 to n of records (the 0.5B
# model spells out every field; at 2 its record lists overran 512 output tokens). Their leaf
# size is capped at this many times the output budget (truncated JSON would fail the leaf).
LIST_LEAF_RATIO = {"aggregate": 3, "pairwise": 1}
LIST_TASKS = tuple(LIST_LEAF_RATIO)  # the tasks whose plans count or pair the items of a list
# Documents longer than this many characters per window token surely do not fit (checked on
# a prefix), so the direct check need not tokenize all of a huge document.
PREFIX_CHARS_PER_TOKEN = 16

Event = dict[str, Any]
Listener = Callable[[Event], None]

# ---------------------------------------------------------------------- the rule-based classifier

STRONG, WEAK = 2, 1
# When two tasks score alike, the one whose plan can also answer the other kind of question wins:
# a pair plan lists what a count would count, an aggregate plan reads every item, and the
# multi-hop plan answers single facts too.
PRECEDENCE = ("pairwise", "aggregate", "multihop", "summarise", "classify")

_NOUN = (r"(?:document|text|email|e-mail|message|letter|article|review|file|page|report|ticket|passage|paper|story"
         r"|essay|chapter|book|contract|transcript|log|module|code|thread|post)")
_WHOLE = r"(?:document|text|list|passage|file|report|article|context|data|records?|table|book)"  # not a hop
_RULES: tuple[tuple[str, str, int], ...] = (
    ("aggregate", r"\bhow many\b|\bhow often\b", STRONG),
    ("aggregate", r"\bcount(?:s|ing)?\b|\btall(?:y|ies)\b", STRONG),
    ("aggregate", r"\b(?:most|least|less|more) (?:common|frequent|popular|often|used)\b", STRONG),
    ("aggregate", r"\b(?:the|total|overall|average) number of\b", STRONG),
    ("aggregate", r"\bnumber of\b.*\b(?:each|every|per)\b", STRONG),
    ("aggregate", r"\bnumber of\b", WEAK),
    ("aggregate", r"\b(?:frequenc(?:y|ies)|distribution|breakdown|histogram)\b", STRONG),
    ("aggregate", r"\bmajority\b", WEAK),
    ("pairwise", r"\bpairs?\b|\bpairings?\b", STRONG),
    ("pairwise", r"\bhow many pairs\b", STRONG),  # outweighs the "how many" of aggregate
    ("pairwise", r"\b(?:which|what|who are the) two\b", STRONG),
    ("pairwise", r"\bboth\b|\bin common\b|\beach other\b|\bone another\b", STRONG),
    ("pairwise", r"\b(?:same|shared?|sharing)\b", WEAK),
    ("summarise", r"\bsummar", STRONG),
    ("summarise", r"\b(?:overview|gist|synopsis|recap|abstract|tl;?dr)\b", STRONG),
    ("summarise", r"\b(?:main|key|central) (?:points?|ideas?|themes?|arguments?|findings?|topics?|takeaways?)\b",
     STRONG),
    ("summarise", rf"\bwhat (?:is|was) (?:this|the) {_NOUN} about\b", STRONG),
    ("summarise", r"\b(?:outline|describe|explain)\b", WEAK),
    ("classify", r"\bclassif|\bcategori[sz]", STRONG),
    ("classify", rf"\b(?:what|which) (?:kind|type|sort|genre|class) of {_NOUN}\b", STRONG),
    ("classify", r"\b(?:sentiment|genre|tone)\b", STRONG),
    ("classify", r"\bcategor(?:y|ies)\b|\blabels?\b|\btopic\b", WEAK),
    ("multihop", r"\bwhose\b", STRONG),
    ("multihop", r"\b\w+'s \w+'s\b", STRONG),  # a chain of possessives: Alice's manager's office
    ("multihop", rf"\b(?:of|by|for|to|from|with|at|in|on) the (?!{_WHOLE}\b)\w+(?: \w+)? (?:who|that|which|whom)\b",
     STRONG),
    ("multihop", r"\bof the \w+ of\b|\b(?:and then|in turn)\b", WEAK),
)
_COMPILED = tuple((task, re.compile(pattern, re.IGNORECASE), weight) for task, pattern, weight in _RULES)
# A search question asks for one fact: a wh-word, a yes/no opening or a request to find.
_SEARCH_CUE = re.compile(
    r"^\W*(?:what|who|whom|when|where|which|why|how|is|are|was|were|does|do|did|has|have|had|can|"
    r"could|will|would|should|find|locate|look up|give|list|name|quote)\b", re.IGNORECASE)


def scores(question: str) -> dict[str, int]:
    """The rule score of every task but search (search is what no rule claims)."""
    text = question.replace("’", "'")
    out = dict.fromkeys(PRECEDENCE, 0)
    for task, pattern, weight in _COMPILED:
        if pattern.search(text):
            out[task] += weight
    return out


def classify(question: str) -> tuple[str, bool]:
    """The task type by rules, and whether the rules are confident of it.

    Confident: the winner has a strong cue and no rival has one, or it leads by a strong cue;
    with no cue at all the task is search, confident only when the question opens like a
    question (a wh-word, a yes/no verb, "find").
    """
    ranked = sorted(scores(question).items(), key=lambda kv: (-kv[1], PRECEDENCE.index(kv[0])))
    (best, top), (_, second) = ranked[0], ranked[1]
    if top == 0:
        return "search", bool(_SEARCH_CUE.search(question))
    return best, top >= STRONG and (second < STRONG or top - second >= STRONG)


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
    if task in LIST_TASKS and not document.has_records:
        return "search", True, f"rules say {task}, but the document is {document.describe()}, so it is looked up"
    note = f"rules, {'confident' if confident else 'unsure'}"
    if task in LIST_TASKS and not confident:
        return task, True, f"{note}; the document is {document.describe()}, which settles it"
    return task, confident, note


_ALIASES = {"summarize": "summarise", "summary": "summarise", "multi-hop": "multihop", "multi hop": "multihop",
            "classification": "classify", "aggregation": "aggregate", "pairs": "pairwise", "lookup": "search"}
_MENU_REPLY = re.compile(r"(?:(?P<number>[1-9])\s*(?:[.):\-–]\s*)?(?P<named>[a-z][a-z -]*)?|(?P<name>[a-z][a-z -]*))")


def parse_menu_reply(reply: str) -> str | None:
    """The task a menu reply names, or None: the whole reply must be a number, a name, or both agreeing."""
    text = reply.strip().strip("`*\"'").strip().rstrip(".").strip().lower()
    m = _MENU_REPLY.fullmatch(text)
    if m is None:
        return None
    if m["number"] is not None:
        index = int(m["number"]) - 1
        if index >= len(TASKS):
            return None
        named = _task_named(m["named"]) if m["named"] else TASKS[index]
        return TASKS[index] if named == TASKS[index] else None
    return _task_named(m["name"])


def _task_named(word: str) -> str | None:
    word = word.strip()
    return word if word in TASKS else _ALIASES.get(word)


# ---------------------------------------------------------------------- plans


def plan_source(name: str) -> str:
    """The text of a shipped plan (a task type, `direct` or `task_menu`)."""
    if name not in (*TASKS, DIRECT, MENU):
        raise ConfigError(f"there is no plan named '{name}'", notes=[f"task types: {', '.join(TASKS)}"])
    return files(PLANS_PACKAGE).joinpath(f"{name}.lam").read_text(encoding="utf-8")


@cache
def compile_plan(name: str) -> Program:
    """The checked program of a shipped plan, compiled once per process."""
    from lambda_rlm.analysis.program import compile

    return compile(plan_source(name), name=f"<plan>/{name}.lam")


def check_plans() -> dict[str, Program]:
    """Every shipped plan, compiled: parse, types, termination (raises the first error)."""
    return {name: compile_plan(name) for name in (*TASKS, DIRECT, MENU)}


# ---------------------------------------------------------------------- configuration


def model_window(model: str) -> int | None:
    """The model's context window in tokens when known: its in-process provider's (for the embedded
    model, what llama.cpp is loaded with, ~4k, not the model's 32k), or litellm's table."""
    from lambda_rlm.models import providers

    found = providers.find(model)
    if found is not None:
        return found.window(model)
    from lambda_rlm.models.backend import ROUTER_SUFFIXES, import_litellm

    if model.endswith(ROUTER_SUFFIXES):
        return None  # a Router config: its deployments may differ
    try:
        info = import_litellm().get_model_info(model)
    except Exception:  # noqa: BLE001 - litellm raises on any model its table lacks
        return None
    window = info.get("max_input_tokens") or info.get("max_tokens")
    return int(window) if isinstance(window, int) and window > 0 else None


def resolve_config(config: Config | None = None, model: str | None = None, window: int | None = None) -> Config:
    """The run's configuration: `config` (its window is taken as given), else one for `model` with
    its real window when known."""
    from lambda_rlm.runtime.session import DEFAULT_MODEL, Config

    if config is None:
        name = model or DEFAULT_MODEL
        return Config(model=name, window=window or model_window(name) or Config().window)
    changes: dict[str, Any] = {}
    if model is not None:
        changes["model"] = model
    if window is not None:
        changes["window"] = window
    return replace(config, **changes)


# ---------------------------------------------------------------------- choosing and running


@dataclass(frozen=True)
class Choice:
    """What `ask` decided before the run: the task, the plan and its bound for these inputs."""

    task: str
    plan: str  # a task type, or "direct"
    program: Program
    bound: Bound
    confident: bool
    used_model: bool  # whether the menu call was made (the note says if its reply was used)
    note: str  # how the task was chosen, for --explain
    config: Config  # what the plan runs with: the budget less the menu call's share, leaf caps
    classifier: Result | None = None  # the menu call's run, when one was made

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


async def achoose(question: str, document: str, config: Config, task: str | None = None,
                  on_event: Listener | None = None, use_model: bool = True, direct: bool | None = None) -> Choice:
    """Classify, decide direct or plan, and bound the chosen program; makes at most the menu call.

    `direct` None decides by size, True forces the direct plan, False forces the task plan;
    `use_model` False never calls the model (a dry run).
    """
    from lambda_rlm.runtime.session import default_tokenizer
    from lambda_rlm.runtime.session import plan as bound_for

    tokenizer = config.tokenizer or default_tokenizer(config.model)  # the run's own, so bounds agree
    args = [document, question]
    if task is not None:
        if task not in TASKS:
            raise ConfigError(f"there is no task type '{task}'", notes=[f"task types: {', '.join(TASKS)}"])
        chosen, confident, note = task, True, "given"
    else:
        chosen, confident, note = choose_task(question)
    fits = _direct_bound(config, tokenizer, args) if direct is not False else None
    if direct or (direct is None and fits is not None):
        bound = fits if fits is not None else bound_for(compile_plan(DIRECT), config, tokenizer, args)
        return Choice(chosen, DIRECT, compile_plan(DIRECT), bound, confident, False,
                      note + "; the document fits the window, so one direct call", config)
    if task is None:  # a plan reads the document in pieces: its shape decides which plan fits
        chosen, confident, note = choose_task(question, shape(document))
    classifier = None
    if not confident and use_model:
        picked, classifier = await _menu(question, config, on_event)
        if picked is not None:
            chosen, note = picked, f"{note}; the model chose {picked}"
        elif classifier is None:
            note += "; the menu call failed, rules kept"
        else:
            note += f"; the menu reply {str(classifier.value)[:40]!r} was not understood, rules kept"
    elif not confident:
        note += "; no model call (dry run)"
    program = compile_plan(chosen)
    run_config = _leaf_cap(chosen, _after(config, classifier))
    return Choice(chosen, chosen, program, bound_for(program, run_config, tokenizer, args), confident,
                  classifier is not None, note, run_config, classifier)


def _leaf_cap(task: str, config: Config) -> Config:
    """The config with list-returning leaves kept small enough for their reply to fit."""
    ratio = LIST_LEAF_RATIO.get(task)
    if ratio is None:
        return config
    cap = ratio * config.output_tokens
    return replace(config, max_leaf_tokens=min(cap, config.max_leaf_tokens or cap))


def _direct_bound(config: Config, tokenizer: Any, args: list[Any]) -> Bound | None:
    """The direct plan's bound when the document fits one call (and the leaf cap), else None."""
    from lambda_rlm.runtime.session import plan as bound_for

    document: str = args[0]
    prefix = document[: PREFIX_CHARS_PER_TOKEN * config.window]
    # A prefix's count is within a few tokens of its share of the whole, so this only rejects.
    if len(prefix) < len(document) and tokenizer.count(prefix) > config.window + 64:
        return None
    if config.max_leaf_tokens is not None and tokenizer.count(document) > config.max_leaf_tokens:
        return None
    try:
        return bound_for(compile_plan(DIRECT), config, tokenizer, args)
    except CostError:
        return None


async def _menu(question: str, config: Config, on_event: Listener | None) -> tuple[str | None, Result | None]:
    """The task the model picks from the menu, and the run that asked it (None when the call failed)."""
    from lambda_rlm.runtime.session import arun

    menu_config = replace(config, output_tokens=min(config.output_tokens, MENU_OUTPUT_TOKENS))
    try:
        result = await arun(compile_plan(MENU), "", menu_config, on_event=on_event, question=question)
    except LeafError:
        return None, None  # the plan's own run will report a model that does not answer
    return parse_menu_reply(str(result.value)), result


def _after(config: Config, used: Result | None) -> Config:
    """The budget left for the plan once the menu call has spent its share."""
    if used is None:
        return config
    return replace(
        config,
        max_calls=None if config.max_calls is None else max(0, config.max_calls - used.calls),
        max_tokens=None if config.max_tokens is None else max(
            0, config.max_tokens - used.prompt_tokens - used.completion_tokens),
        max_usd=None if config.max_usd is None else max(0.0, config.max_usd - used.cost_usd),
        deadline_s=None if config.deadline_s is None else max(1e-3, config.deadline_s - used.wall_s),
    )


async def arun_choice(choice: Choice, question: str, document: str,
                      on_event: Listener | None = None) -> AskResult:
    """Run a chosen plan on the document, with the configuration it was bounded for."""
    from lambda_rlm.runtime.session import arun

    result = await arun(choice.program, document, choice.config, on_event=on_event, question=question)
    return AskResult(result, choice.task, choice.plan, choice.used_model, choice.classifier)


def explain(choice: Choice) -> str:
    """The chosen task, the plan's source, τ, k and the bound, as printed by `ask --explain`."""
    b = choice.bound
    part = (f"τ = {b.tau:,}, k = {b.k:,}" if b.tau is not None and b.k is not None
            else "τ, k: not used (the document is read in one call)")
    if b.tau is not None and choice.config.max_leaf_tokens is not None:
        part += f"    (leaves capped at {choice.config.max_leaf_tokens:,} tokens)"
    return "\n".join([
        f"task: {choice.task} ({choice.note})",
        f"plan: {choice.plan}    main : {choice.program.type}",
        f"document: {b.input_tokens:,} tokens, window {b.window:,}, output ≤ {b.max_output_tokens:,} tokens per call",
        part,
        f"bound: calls ≤ {b.calls:,}    depth ≤ {b.depth}    prompt ≤ {b.max_prompt_tokens:,} tokens per call, "
        f"≤ {b.total_prompt_tokens:,} in total",
        f"--- <plan>/{choice.plan}.lam",
        choice.source.rstrip("\n"),
    ])
