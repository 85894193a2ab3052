"""Type terms: takes nothing, gives frozen types, schemes, substitution and canonical printing."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class TVar:
    id: int


@dataclass(frozen=True, slots=True)
class TCon:
    """A constructor applied to arguments: Int, Float, Bool, Text, List a, Option a."""

    name: str
    args: tuple[Type, ...] = ()


@dataclass(frozen=True, slots=True)
class TFun:
    arg: Type
    result: Type


@dataclass(frozen=True, slots=True)
class TRecord:
    """A closed record; fields are kept sorted by name so equal records compare equal."""

    fields: tuple[tuple[str, Type], ...]

    @staticmethod
    def of(fields: Mapping[str, Type]) -> TRecord:
        return TRecord(tuple(sorted(fields.items())))

    def get(self, name: str) -> Type | None:
        for n, t in self.fields:
            if n == name:
                return t
        return None


@dataclass(frozen=True, slots=True)
class TTuple:
    items: tuple[Type, ...]


@dataclass(frozen=True, slots=True)
class TLabels:
    """A leaf's reply type that programs never write: one label for each numbered item `keys` names,
    in order, each one of `choices` (any text when there are none). It reads as `List Text`; the
    reply is decoded against the exact keys, so a label can be neither missing nor extra."""

    keys: tuple[str, ...]
    choices: tuple[str, ...] = ()


Type = TVar | TCon | TFun | TRecord | TTuple | TLabels

INT, FLOAT, BOOL, TEXT = TCon("Int"), TCon("Float"), TCon("Bool"), TCon("Text")
BASE = {"Int": INT, "Float": FLOAT, "Bool": BOOL, "Text": TEXT}
ARITY = {"Int": 0, "Float": 0, "Bool": 0, "Text": 0, "List": 1, "Option": 1}


def List(t: Type) -> TCon:  # noqa: N802 - reads like the type it builds
    return TCon("List", (t,))


def Option(t: Type) -> TCon:  # noqa: N802
    return TCon("Option", (t,))


def fun(*ts: Type) -> Type:
    """fun(a, b, c) is a -> b -> c."""
    result = ts[-1]
    for t in reversed(ts[:-1]):
        result = TFun(t, result)
    return result


@dataclass(frozen=True, slots=True)
class Scheme:
    """A type generalised over `vars`; instantiated fresh at each use."""

    vars: tuple[int, ...]
    type: Type


def free_vars(t: Type) -> Iterator[int]:
    match t:
        case TVar(i):
            yield i
        case TCon(_, args):
            for a in args:
                yield from free_vars(a)
        case TFun(a, r):
            yield from free_vars(a)
            yield from free_vars(r)
        case TRecord(fields):
            for _, f in fields:
                yield from free_vars(f)
        case TTuple(items):
            for x in items:
                yield from free_vars(x)


def substitute(t: Type, sub: Mapping[int, Type]) -> Type:
    """Replace variables by `sub`, following chains (sub is idempotent once resolved)."""
    match t:
        case TVar(i):
            return substitute(sub[i], sub) if i in sub else t
        case TCon(name, args):
            return TCon(name, tuple(substitute(a, sub) for a in args)) if args else t
        case TFun(a, r):
            return TFun(substitute(a, sub), substitute(r, sub))
        case TRecord(fields):
            return TRecord(tuple((n, substitute(f, sub)) for n, f in fields))
        case TTuple(items):
            return TTuple(tuple(substitute(x, sub) for x in items))
        case TLabels():
            return t
    raise AssertionError(t)


def show(t: Type, names: dict[int, str] | None = None) -> str:
    """Print a type with its variables renamed a, b, c … in order of appearance."""
    names = {} if names is None else names
    return _show(t, names, 0)


def show_scheme(s: Scheme) -> str:
    return show(s.type)


def _letter(n: int) -> str:
    return chr(ord("a") + n % 26) + (str(n // 26) if n >= 26 else "")


def _show(t: Type, names: dict[int, str], prec: int) -> str:
    match t:
        case TVar(i):
            if i not in names:
                names[i] = _letter(len(names))
            return names[i]
        case TCon(name, ()):
            return name
        case TCon(name, args):
            text = " ".join([name, *(_show(a, names, 2) for a in args)])
            return f"({text})" if prec >= 2 else text
        case TFun(a, r):
            text = f"{_show(a, names, 1)} -> {_show(r, names, 0)}"
            return f"({text})" if prec >= 1 else text
        case TRecord(fields):
            return "{" + ", ".join(f"{n} : {_show(f, names, 0)}" for n, f in fields) + "}"
        case TTuple(items):
            return "(" + ", ".join(_show(x, names, 0) for x in items) + ")"
        case TLabels(keys, choices):
            span = f"{keys[0]}..{keys[-1]}" if keys else ""
            return f"Labels [{span}] ({' | '.join(choices)})" if choices else f"Labels [{span}]"
    raise AssertionError(t)


def is_decodable(t: Type) -> bool:
    """Whether a leaf may return this type: Text, Int, Float, Bool, Option, List, records, tuples of these."""
    match t:
        case TCon(name, args):
            return name in BASE or (name in ("List", "Option") and all(is_decodable(a) for a in args))
        case TRecord(fields):
            return all(is_decodable(f) for _, f in fields)
        case TTuple(items):
            return all(is_decodable(x) for x in items)
        case TLabels():
            return True
    return False


def arrows(t: Type) -> tuple[list[Type], Type]:
    """Split `a -> b -> c` into ([a, b], c)."""
    params: list[Type] = []
    while isinstance(t, TFun):
        params.append(t.arg)
        t = t.result
    return params, t
