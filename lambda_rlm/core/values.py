"""Runtime values: takes nothing, gives the value representation, rendering and type-directed JSON codecs.

Text is `str`, Int `int`, Float `float`, Bool `bool`, List and tuples `tuple`, records `Record`,
`Option a` is `None` or `Some(value)`; functions are `Closure` (evaluator.py) or `Primitive`.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from . import types as t


@dataclass(frozen=True, slots=True)
class Some:
    value: Any


class Record(Mapping[str, Any]):
    """An immutable record value with fields in a fixed (sorted) order."""

    __slots__ = ("_fields",)

    def __init__(self, fields: Mapping[str, Any]) -> None:
        self._fields = dict(sorted(fields.items()))

    def __getitem__(self, key: str) -> Any:
        return self._fields[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self._fields)

    def __len__(self) -> int:
        return len(self._fields)

    def __hash__(self) -> int:
        return hash(tuple(self._fields.items()))

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Record) and self._fields == other._fields

    def __repr__(self) -> str:
        return "{" + ", ".join(f"{k} = {v!r}" for k, v in self._fields.items()) + "}"


def to_json(value: Any) -> Any:
    """A JSON-ready form of a value (Option none is null, Some(v) is v)."""
    if isinstance(value, Some):
        return to_json(value.value)
    if isinstance(value, Record):
        return {k: to_json(v) for k, v in value.items()}
    if isinstance(value, tuple | list):
        return [to_json(v) for v in value]
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    return value


def from_json(obj: Any, type_: t.Type) -> Any:
    """The value of declared type `type_` encoded by `to_json` (raises ValueError when it does not fit)."""
    match type_:
        case t.TCon("Text"):
            if isinstance(obj, str):
                return obj
        case t.TCon("Int"):
            if isinstance(obj, int) and not isinstance(obj, bool):
                return obj
        case t.TCon("Float"):
            if isinstance(obj, int | float) and not isinstance(obj, bool):
                return float(obj)
        case t.TCon("Bool"):
            if isinstance(obj, bool):
                return obj
        case t.TCon("Option", (inner,)):
            return None if obj is None else Some(from_json(obj, inner))
        case t.TCon("List", (inner,)):
            if isinstance(obj, list):
                return tuple(from_json(x, inner) for x in obj)
        case t.TTuple(items):
            if isinstance(obj, list) and len(obj) == len(items):
                return tuple(from_json(x, it) for x, it in zip(obj, items, strict=True))
        case t.TRecord(fields):
            if isinstance(obj, dict) and set(obj) == {n for n, _ in fields}:
                return Record({n: from_json(obj[n], ft) for n, ft in fields})
        case t.TLabels(keys, choices):
            if (isinstance(obj, list) and len(obj) == len(keys) and all(isinstance(x, str) for x in obj)
                    and (not choices or set(obj) <= set(choices))):
                return tuple(obj)
    raise ValueError(f"{json.dumps(obj)[:80]} is not a value of type {t.show(type_)}")


def render(value: Any) -> str:
    """How a value reads when interpolated into text: Text as itself, everything else as JSON."""
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    return json.dumps(to_json(value), ensure_ascii=False)


def show(value: Any) -> str:
    """How the command line prints a result: Text raw, everything else as JSON."""
    if value is None:
        return "none"
    return render(value)
