"""Strategies by name: takes a name, gives a `Strategy`, the one protocol every way of answering follows.

A strategy answers a question about a document with a config, in a run session, and returns an
`AskResult`. The built-in ones are `direct` (the document's prefix in one prompt, as the papers'
baseline), `plan` (the task's library plan, whatever the size), `ask` (as users run it: classify
the question, then direct or plan by size) and `searchK` (program search over K candidates). A
new one is one object with a `name` and an `answer` method, published under the entry-point group
`lambda_rlm.strategies`; `lambda-rlm bench --baseline NAME` runs any of them.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

from lambda_rlm.core.errors import ConfigError, CostError
from lambda_rlm.core.events import Event

from .plan import DIRECT, AskResult, achoose, arun_choice, compile_plan

if TYPE_CHECKING:
    from lambda_rlm.runtime.session import Config, Session

ENTRY_POINT_GROUP = "lambda_rlm.strategies"
Listener = Callable[[Event], None]


@runtime_checkable
class Strategy(Protocol):
    """A way to answer: `task` is the task type when the caller knows it (a strategy may ignore it),
    `session` the run session to spend in (the strategy opens one of its own when it is None)."""

    @property
    def name(self) -> str: ...

    async def answer(self, question: str, document: str, config: Config, *, task: str | None = None,
                     on_event: Listener | None = None, session: Session | None = None) -> AskResult: ...


@dataclass(frozen=True)
class Direct:
    """The document in one prompt, cut to the first tokens the direct prompt holds with the question."""

    name: str = "direct"

    async def answer(self, question: str, document: str, config: Config, *, task: str | None = None,
                     on_event: Listener | None = None, session: Session | None = None) -> AskResult:
        from lambda_rlm.runtime.session import default_tokenizer

        tokenizer = config.llm.tokenizer or default_tokenizer(config.model)
        prefix = truncate(document, direct_room(question, config, tokenizer), tokenizer)
        return await _chosen(question, prefix, config, task, on_event, session, direct=True)


@dataclass(frozen=True)
class Plan:
    """The task's library plan (the one the question's words choose when no task is given), whatever
    the document's size."""

    name: str = "plan"

    async def answer(self, question: str, document: str, config: Config, *, task: str | None = None,
                     on_event: Listener | None = None, session: Session | None = None) -> AskResult:
        return await _chosen(question, document, config, task, on_event, session, direct=False)


@dataclass(frozen=True)
class Ask:
    """`ask` as users run it: the question's task chosen by the rules (and the model when they are
    unsure; a given `task` is ignored), then one direct call if the document fits, else the plan."""

    name: str = "ask"

    async def answer(self, question: str, document: str, config: Config, *, task: str | None = None,
                     on_event: Listener | None = None, session: Session | None = None) -> AskResult:
        return await _chosen(question, document, config, None, on_event, session, direct=None)


@dataclass(frozen=True)
class Search:
    """Program search over the task's plan: k candidates (the plan first), chosen by `selection.choose`."""

    k: int = 4

    @property
    def name(self) -> str:
        return f"search{self.k}"

    async def answer(self, question: str, document: str, config: Config, *, task: str | None = None,
                     on_event: Listener | None = None, session: Session | None = None) -> AskResult:
        from lambda_rlm.runtime.session import Session

        from .search import asearch

        if session is None:
            with Session(config) as own:
                return await asearch(question, document, config, self.k, task, on_event, False, own)
        return await asearch(question, document, config, self.k, task, on_event, False, session)


BUILT_IN: tuple[Strategy, ...] = (Direct(), Plan(), Ask(), Search(4))
_SEARCH = re.compile(r"search([1-9][0-9]?)")


def strategy(name: str) -> Strategy:
    """The strategy called `name`: built-in, `searchK` for any K from 1 to 99, or an installed plug-in."""
    from importlib.metadata import entry_points

    for known in BUILT_IN:
        if known.name == name:
            return known
    if found := _SEARCH.fullmatch(name):
        return Search(int(found.group(1)))
    for ep in entry_points(group=ENTRY_POINT_GROUP):
        if ep.name == name:
            loaded = ep.load()
            if not isinstance(loaded, Strategy):
                raise ConfigError(f"the plug-in strategy '{name}' has no name and answer method",
                                  notes=["publish an object with `name` and `async def answer(...)`"])
            return loaded
    raise ConfigError(f"there is no strategy named '{name}'", notes=[f"strategies: {', '.join(strategy_names())}"])


def strategy_names() -> list[str]:
    from importlib.metadata import entry_points

    builtin = [s.name for s in BUILT_IN]
    return [*builtin, *sorted(ep.name for ep in entry_points(group=ENTRY_POINT_GROUP) if ep.name not in builtin)]


async def _chosen(question: str, document: str, config: Config, task: str | None, on_event: Listener | None,
                  session: Session | None, direct: bool | None) -> AskResult:
    """Choose as `ask` does (with `direct` forcing or forbidding one call), then run the choice, both
    in one session."""
    from lambda_rlm.runtime.session import Session

    if session is None:
        with Session(config) as own:
            return await _chosen(question, document, config, task, on_event, own, direct)
    choice = await achoose(question, document, config, task, on_event, direct=direct, session=session)
    return await arun_choice(choice, question, document, on_event, session)


def direct_room(question: str, config: Config, tokenizer: Any) -> int:
    """The most document tokens the direct plan's prompt holds with this question, read off its bound."""
    from lambda_rlm.runtime.session import cost_model

    config = config.resolved()
    window = config.window or 0
    program = compile_plan(DIRECT)
    args = {program.inputs[1].name: tokenizer.count(question)}
    unlimited = cost_model(config.changed(window=1 << 40), tokenizer)
    framing = program.bound(unlimited, 0, args).max_prompt_tokens  # template, format rule, re-ask room
    room = min(window - config.llm.output_tokens - framing, config.leaves.max_tokens or window)
    bounded = cost_model(config, tokenizer)
    while room > 0:  # the bound is linear in the document, so this settles in a step or two
        try:
            program.bound(bounded, room, args)
            return room
        except CostError:
            room -= 16
    raise ConfigError(f"a window of {window:,} tokens cannot hold the direct prompt for this question")


def truncate(document: str, tokens: int, tokenizer: Any) -> str:
    """The document's first `tokens` tokens; only a prefix a few times that long is ever tokenized."""
    from lambda_rlm.text.chunking import peek

    if len(document.encode()) <= tokens:  # a token is at least one byte
        return document
    chars = 8 * tokens
    while chars < len(document):
        prefix = document[:chars]
        if tokenizer.count(prefix) > tokens:
            return peek(prefix, 0, tokens, tokenizer)
        chars *= 2
    return peek(document, 0, tokens, tokenizer)
