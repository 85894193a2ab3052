"""Combinator registry: takes decorated Python functions and `.lam` modules, gives the library a program sees.

A researcher adds a combinator with one decorated function:

    @combinator("shout : Text -> Text", size=lambda a: a)
    def shout(text: str) -> str:
        return text.upper()

`abstract` (or the shorthand `size`) gives the combinator's meaning over sizes for the static
cost bound; a combinator that calls one of its function arguments must give `abstract`.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from importlib import import_module
from importlib.metadata import entry_points
from importlib.resources import files
from types import ModuleType
from typing import Any

_MARK = "__lambda_rlm_combinator__"
ENTRY_POINT_GROUP = "lambda_rlm.combinators"


@dataclass(frozen=True, slots=True)
class Combinator:
    """A primitive: its signature in our own type syntax, its implementation and its size semantics."""

    name: str
    signature: str
    impl: Callable[..., Any]
    abstract: Callable[..., Any] | None = None
    size: Callable[..., Any] | None = None
    wants_ctx: bool = False
    is_async: bool = False
    arity: int = 0
    doc: str = ""


def combinator(signature: str, *, abstract: Callable[..., Any] | None = None,
               size: Callable[..., Any] | None = None) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Mark a function as a combinator with the given `name : type` signature."""

    def mark(fn: Callable[..., Any]) -> Callable[..., Any]:
        name = signature.split(":", 1)[0].strip()
        params = inspect.signature(fn).parameters
        spec = Combinator(
            name=name, signature=signature, impl=fn, abstract=abstract, size=size,
            wants_ctx="ctx" in params, is_async=inspect.iscoroutinefunction(fn),
            arity=sum(1 for p in params.values() if p.name != "ctx"), doc=(fn.__doc__ or "").strip(),
        )
        setattr(fn, _MARK, spec)
        return fn

    return mark


def collect(module: ModuleType) -> list[Combinator]:
    """The combinators a module defines, in source order."""
    found = [getattr(v, _MARK) for v in vars(module).values() if hasattr(v, _MARK)]
    return sorted(found, key=lambda c: c.impl.__code__.co_firstlineno)


@dataclass
class Library:
    """Primitives by name plus `.lam` library modules by import name (`import NAME`)."""

    combinators: dict[str, Combinator] = field(default_factory=dict)
    modules: dict[str, tuple[str, str]] = field(default_factory=dict)  # name -> (text, path)

    def add(self, items: Iterable[Combinator]) -> Library:
        for c in items:
            self.combinators[c.name] = c
        return self


def standard_library(extra: Iterable[ModuleType] = (), plugins: bool = True) -> Library:
    """The bundled combinators, `.lam` modules, any `extra` modules and installed plugins."""
    lib = Library()
    package = import_module("lambda_rlm.combinators")
    for name in package.MODULES:
        lib.add(collect(import_module(f"lambda_rlm.combinators.{name}")))
    for entry in files(package).iterdir():
        if entry.name.endswith(".lam"):
            lib.modules[entry.name[:-4]] = (entry.read_text(encoding="utf-8"), f"<lib>/{entry.name}")
    if plugins:
        for ep in entry_points(group=ENTRY_POINT_GROUP):
            lib.add(collect(ep.load()))
    for module in extra:
        lib.add(collect(module))
    return lib
