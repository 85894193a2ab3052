"""Run events: takes what happened during a run, gives one typed, frozen record per kind and its JSON form.

Every part of the runtime reports through these classes: the oracle (leaves, retries, re-asks,
budget stops), the session (a run's start, end or error), the expander (holes), ranked reading
(`scan`), program search and graphs. Each is a frozen dataclass whose fields are its schema
(`schema()` gives the JSON Schema of a trace line), and each is also a read-only dict holding its
JSON form, so `event["event"]`, `event.get("calls")` and `json.dumps(event)` work as
they did when events were dicts. `t` (seconds since the trace began) is stamped by the trace; `hole`
is the hole or graph node an event happened inside, where there is one.
"""

from __future__ import annotations

import functools
import types
import typing
from dataclasses import MISSING, dataclass, field, fields
from typing import Any, ClassVar, NoReturn, TypeVar

T = TypeVar("T")


@typing.dataclass_transform(kw_only_default=True, frozen_default=True, eq_default=False)
def _kind(cls: type[T]) -> type[T]:
    """An event class: a frozen dataclass of keyword fields whose equality is its dict's."""
    return dataclass(frozen=True, kw_only=True, eq=False)(cls)


# Fields left out of the JSON form when None (they are absent from some events of a kind).
OMIT_NONE = {"omit_none": True}


@dataclass(frozen=True, kw_only=True, eq=False)
class Event(dict[str, Any]):
    """One thing that happened in a run; `event` (a class constant) is the value of its "event" key.

    The record's fields are typed and frozen; the dict it also is holds its JSON form, filled once
    when it is made and read-only after, so `json.dumps(event)` and `event["calls"]` need nothing more.
    """

    event: ClassVar[str] = ""
    t: float | None = field(default=None, metadata=OMIT_NONE)
    hole: int | None = field(default=None, metadata=OMIT_NONE)

    def __post_init__(self) -> None:  # two or three per leaf, so the field list is worked out once per kind
        out: dict[str, Any] = {} if self.t is None else {"t": self.t}
        out["event"] = self.event
        for name, omit_none in _layout(type(self)):
            value = getattr(self, name)
            if not (value is None and omit_none):
                out[name] = list(value) if isinstance(value, tuple) else value
        dict.update(self, out)

    def stamped(self, t: float) -> Event:
        """This event at `t` seconds into the trace: `replace(self, t=t)`, without building it again
        (the trace stamps every event)."""
        new = dict.__new__(type(self))
        new.__dict__.update(self.__dict__, t=t)
        dict.update(new, {"t": t, **{k: v for k, v in self.items() if k != "t"}})
        return new

    def as_dict(self) -> dict[str, Any]:
        """The event's JSON form as a plain dict (a trace line; what `--json` prints)."""
        return dict(self)

    def _read_only(self, *args: Any, **kwargs: Any) -> NoReturn:
        raise TypeError(f"a {type(self).__name__} event is read-only; copy it with dict(event) to change it")

    __setitem__ = __delitem__ = update = pop = popitem = clear = setdefault = __ior__ = _read_only

    def __reduce__(self) -> tuple[Any, ...]:  # pickle and copy rebuild the record, not an empty dict
        return _rebuild, (type(self), {f.name: getattr(self, f.name) for f in fields(self)})


@functools.cache
def _layout(cls: type[Event]) -> tuple[tuple[str, bool], ...]:
    """The fields of an event kind's JSON form after "t" and "event", each with whether None leaves it out."""
    return tuple((f.name, bool(f.metadata.get("omit_none"))) for f in fields(cls) if f.name != "t")


def _rebuild(cls: type[Event], values: dict[str, Any]) -> Event:
    return cls(**values)


# ---------------------------------------------------------------- a run


@_kind
class RunStart(Event):
    event: ClassVar[str] = "run_start"
    program: str
    bound: dict[str, Any]
    model: str


@_kind
class RunEnd(Event):
    event: ClassVar[str] = "run_end"
    calls: int
    cache_hits: int
    requests: int
    prompt_tokens: int
    completion_tokens: int
    cost_usd: float
    wall_s: float
    bound: dict[str, Any]
    pieces_read: dict[str, int] | None


@_kind
class RunError(Event):
    event: ClassVar[str] = "run_error"
    kind: str  # the error's kind: "deadline", "interrupted", or a LambdaError's kind
    message: str | None = field(default=None, metadata=OMIT_NONE)


# ---------------------------------------------------------------- leaves (the oracle)


@_kind
class LeafStart(Event):
    event: ClassVar[str] = "leaf_start"
    key: str  # the hash of the request: the leaf cache's key, never the prompt itself
    prompt_chars: int


@_kind
class LeafEnd(Event):
    event: ClassVar[str] = "leaf_end"
    key: str
    prompt_tokens: int
    completion_tokens: int
    latency_s: float
    cost_usd: float
    cached: bool
    attempts: int
    reasks: int
    cached_tokens: int = 0  # of prompt_tokens, served from the provider's prompt cache


@_kind
class LeafError(Event):
    event: ClassVar[str] = "leaf_error"
    key: str
    kind: str
    message: str


@_kind
class BudgetStop(Event):
    event: ClassVar[str] = "budget"
    key: str
    limit: str
    used: float
    asked: float
    allowed: float
    message: str


@_kind
class Reask(Event):
    event: ClassVar[str] = "reask"
    key: str
    error: str
    reask: int


@_kind
class Retry(Event):
    event: ClassVar[str] = "retry"
    key: str
    error: str
    status: int | None
    wait_s: float
    attempt: int


@_kind
class Scan(Event):
    event: ClassVar[str] = "scan"
    read: int  # pieces read before a wave answered (all of them when none did)
    pieces: int


# ---------------------------------------------------------------- holes (the expander)


@_kind
class HoleEvent(Event):
    hole: int | None = None
    name: str
    depth: int


@_kind
class HoleStart(HoleEvent):
    event: ClassVar[str] = "hole_start"
    type: str
    parent: int | None
    at: str


@_kind
class HoleBody(HoleEvent):
    event: ClassVar[str] = "hole_body"
    source: str
    bound_calls: int
    reused: bool
    attempt: int | None = field(default=None, metadata=OMIT_NONE)


@_kind
class HoleRetry(HoleEvent):
    event: ClassVar[str] = "hole_retry"
    attempt: int
    kind: str
    diagnostic: str


@_kind
class HoleEnd(HoleEvent):
    event: ClassVar[str] = "hole_end"
    ok: bool
    calls: int
    prompt_tokens: int
    completion_tokens: int
    cost_usd: float
    error: str | None = field(default=None, metadata=OMIT_NONE)


# ---------------------------------------------------------------- graphs of sub-problems


@_kind
class GraphStart(Event):
    event: ClassVar[str] = "graph_start"
    graph: int
    parent: int | None
    depth: int
    question: str
    depth_limit: int
    layers: int
    nodes: int
    bound_calls: int


@_kind
class GraphEnd(Event):
    event: ClassVar[str] = "graph_end"
    graph: int
    ok: bool
    error: str | None = field(default=None, metadata=OMIT_NONE)
    calls: int
    prompt_tokens: int
    completion_tokens: int
    cost_usd: float


@_kind
class GraphNodeStart(Event):
    event: ClassVar[str] = "graph_node_start"
    graph: int
    node: int
    index: int
    layer: int
    depth: int
    parents: tuple[int, ...]
    task: str


@_kind
class GraphNode(Event):
    event: ClassVar[str] = "graph_node"
    graph: int
    node: int
    index: int
    layer: int
    depth: int
    parents: tuple[int, ...]
    kind: str  # "simple", "expanded" or "final"
    ok: bool
    error: str | None = field(default=None, metadata=OMIT_NONE)
    calls: int
    prompt_tokens: int
    completion_tokens: int
    cost_usd: float


@_kind
class GraphNote(Event):
    event: ClassVar[str] = "graph_note"
    graph: int
    layer: int
    note: str


# ---------------------------------------------------------------- program search


@_kind
class SearchStart(Event):
    event: ClassVar[str] = "search_start"
    candidates: tuple[dict[str, Any], ...]
    bound_calls: int


@_kind
class CandidateStart(Event):
    event: ClassVar[str] = "candidate_start"
    candidate: int
    description: str
    bound: dict[str, Any]


@_kind
class CandidateEnd(Event):
    event: ClassVar[str] = "candidate_end"
    candidate: int
    description: str
    answer: Any
    confidence: int | None
    reasoning_tokens: int
    calls: int
    leaves: int
    cost_usd: float
    wall_s: float
    ok: bool
    error: str | None


@_kind
class SearchError(Event):
    event: ClassVar[str] = "search_error"
    kind: str  # "budget" or "failed"
    message: str
    finished: int | None = field(default=None, metadata=OMIT_NONE)


@_kind
class SearchChoice(Event):
    event: ClassVar[str] = "search_choice"
    winner: int | None
    why: str
    votes: Any


KINDS: dict[str, type[Event]] = {cls.event: cls for cls in (
    RunStart, RunEnd, RunError, LeafStart, LeafEnd, LeafError, BudgetStop, Reask, Retry, Scan,
    HoleStart, HoleBody, HoleRetry, HoleEnd, GraphStart, GraphEnd, GraphNodeStart, GraphNode, GraphNote,
    SearchStart, CandidateStart, CandidateEnd, SearchError, SearchChoice)}


def schema() -> dict[str, Any]:
    """The JSON Schema of one trace line (and of what a listener is given): one object per kind."""
    return {"$schema": "https://json-schema.org/draft/2020-12/schema", "title": "lambda-rlm trace event",
            "oneOf": [_kind_schema(cls) for cls in KINDS.values()]}


def _kind_schema(cls: type[Event]) -> dict[str, Any]:
    hints = typing.get_type_hints(cls)
    props: dict[str, Any] = {"event": {"const": cls.event}}
    required = ["event"]
    for f in fields(cls):
        props[f.name] = _type_schema(hints[f.name])
        if f.default is MISSING and f.default_factory is MISSING:
            required.append(f.name)
    return {"type": "object", "title": cls.__name__, "properties": props, "required": required,
            "additionalProperties": False}


def _type_schema(hint: Any) -> dict[str, Any]:
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if origin in (types.UnionType, typing.Union):
        return {"anyOf": [_type_schema(a) for a in args]}
    if origin is tuple:
        return {"type": "array", "items": _type_schema(args[0])}
    if origin is dict or hint is dict:
        return {"type": "object"}
    simple = {str: "string", bool: "boolean", int: "integer", float: "number", type(None): "null"}
    return {"type": simple[hint]} if hint in simple else {}
