"""Typed holes, statically: takes a hole, the names it may use and the run's limits, gives the writer's
prompt, the hole's call allowance and the size its value may have.

A hole `?name : Type` is filled at run time by the model, which writes an expression of our
language (never Python). What the writer sees depends only on the program (names and types, never
values), so its prompt, and so its cost, is known before the run. The allowance is the same rule
for the static bound (cost.py) and for the check of a written body (expand.py):

* the writer makes at most W = 1 + hole_reasks calls (one ask, then one per rejected body);
* a body at depth d may make at most B(d) calls, where B(max) = hole_calls and
  B(d) = hole_calls + W + B(d + 1): its own calls plus the allowance of one nested hole;
* so a hole at depth d costs W + B(d) calls each time it is evaluated, and a hole deeper than
  max_hole_depth is refused.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from lambda_rlm.core import types as t
from lambda_rlm.core.errors import ConfigError
from lambda_rlm.lang import syntax as s

from . import absdomain as a


@dataclass(frozen=True, slots=True)
class HoleLimits:
    """How far holes may go in a run: the calls a body may make of its own, the re-asks of a
    writer after a rejected body, and how deep holes may nest in bodies (0 turns holes off)."""

    calls: int = 4
    reasks: int = 2
    max_depth: int = 3

    def __post_init__(self) -> None:
        for name in ("calls", "reasks", "max_depth"):
            if not getattr(self, name) >= 0:
                raise ConfigError(f"hole {name} must be 0 or more, not {getattr(self, name)}")


# A rejected body's diagnostic is quoted back to the writer cut to this many bytes (so tokens).
DIAGNOSTIC_BYTES = 600

_SYNTAX = '''\
Syntax: `\\x y -> e` function, `f x y` application, `x |> f` pipe, `let x = e in body`,
`if c then a else b`, `"text with {expr} inside"`, `[a, b]`, `(a, b)`, `{k = e}`, `r.k`,
`(e : Type)` annotation, operators `|| && == != < <= > >= ++ + - * / %`, `not`, `-- comment`.
`llm prompt` makes one model call on a Text prompt; annotate its result type when it is not Text:
`(llm "How many? {chunk}" : Int)`. There is no recursion except `divide`, and no Python.'''

_EXAMPLE = '''\
Example, for a hole `?gist : Text` that may use `doc : Text`:
let head = peek doc 0 400 in llm "Summarise in one sentence:\\n{head}"'''


def writer_calls(limits: HoleLimits) -> int:
    """The writer's calls for one hole: one ask and one re-ask per rejected body."""
    return 1 + limits.reasks


def body_calls(limits: HoleLimits, depth: int) -> int:
    """B(depth): the calls a body written at `depth` may make, one nested hole's allowance included."""
    calls = limits.calls
    for _ in range(depth, limits.max_depth):
        calls = limits.calls + writer_calls(limits) + calls
    return calls


def allowance(limits: HoleLimits, depth: int) -> int:
    """What one evaluation of a hole at `depth` may cost in calls: its writer and its body."""
    return writer_calls(limits) + body_calls(limits, depth)


def reach(limits: HoleLimits, output_tokens: int, depth: int, visible: Iterable[a.AValue]) -> int | None:
    """The largest text (and list) a hole's value may hold (None: unbounded): (2 + max_depth − depth)
    times the larger of one model reply and the largest value it may use, so that at every level
    a body can wrap its nested hole's value in some text of its own."""
    largest: int | None = output_tokens
    for v in visible:
        largest = a.max_opt(largest, extent(v))
    return a.mul_opt(largest, 2 + limits.max_depth - depth)


def extent(v: a.AValue) -> int | None:
    """The largest token bound or list length inside a value's size (functions count 0)."""
    match v:
        case a.Text(n):
            return n
        case a.Lst(n, elem):
            return a.max_opt(n, extent(elem))
        case a.Opt(inner):
            return extent(inner)
        case a.Rec(fields):
            return _largest(extent(f) for _, f in fields)
        case a.Tup(items):
            return _largest(extent(x) for x in items)
        case a.Num() | a.Bool() | a.Fun():
            return 0
    return None


def _largest(sizes: Iterable[int | None]) -> int | None:
    out: int | None = 0
    for n in sizes:
        out = a.max_opt(out, n)
    return out


def fits(v: a.AValue, limit: a.AValue) -> bool:
    """Whether every value of size `v` also has size `limit` (the analysis' order on sizes)."""
    match v, limit:
        case _, a.Top() | a.Num(None, None) | a.Bool(None):
            return True
        case a.Text(n), a.Text(m):
            return _le(n, m)
        case a.Lst(n, e1), a.Lst(m, e2):
            return _le(n, m) and fits(e1, e2)
        case a.Opt(i1), a.Opt(i2):
            return fits(i1, i2)
        case a.Rec(f1), a.Rec(f2) if [n for n, _ in f1] == [n for n, _ in f2]:
            return all(fits(x, y) for (_, x), (_, y) in zip(f1, f2, strict=True))
        case a.Tup(i1), a.Tup(i2) if len(i1) == len(i2):
            return all(fits(x, y) for x, y in zip(i1, i2, strict=True))
    return False


def _le(n: int | None, m: int | None) -> bool:
    return m is None or (n is not None and n <= m)


# ---------------------------------------------------------------------- the writer's prompt


def writer_prompt(hole: s.Hole, hole_type: t.Type, scope: Mapping[str, t.Scheme], signatures: Iterable[str],
                  depth: int, limits: HoleLimits) -> str:
    """What the model is asked for a hole: its name, type and names, the library, the syntax, the limits."""
    names = [f"  {n} : {t.show(sc.type)}" for n, sc in scope.items()] or ["  (none)"]
    nested = (f"A further hole `?other_name : Type` (a concrete data type) is written by the model later; "
              f"it counts {allowance(limits, depth + 1)} calls." if depth < limits.max_depth
              else "No further holes are allowed at this depth.")
    return "\n".join([
        f"Write one expression of the lambda-rlm language to fill the hole ?{hole.name} : {t.show(hole_type)}",
        f"(expansion depth {depth} of at most {limits.max_depth}).",
        "It must have exactly that type. Names it may use, besides the library:", *names,
        "Library:", *(f"  {sig}" for sig in signatures),
        _SYNTAX, _EXAMPLE,
        f"The expression may make at most {body_calls(limits, depth)} model calls in all; an llm inside map "
        f"runs once per item. {nested}",
        "Reply with the expression only: no `def`, no explanation, no code fence.",
    ])


def reask_prompt(base: str, reply: str, diagnostic: str) -> str:
    """The writer's prompt after a rejected body: the original, the body and what was wrong with it."""
    return f"{base}\n\nYour previous expression was rejected:\n{reply}\n\n{diagnostic}\nWrite a corrected expression."


def reask_overhead() -> str:
    """The text a re-ask adds besides the body and the diagnostic (for the static prompt bound)."""
    return reask_prompt("", "", "")


def cap(diagnostic: str) -> str:
    """A diagnostic cut to DIAGNOSTIC_BYTES bytes of UTF-8 (never mid-character)."""
    data = diagnostic.encode("utf-8")
    if len(data) <= DIAGNOSTIC_BYTES:
        return diagnostic
    return data[: DIAGNOSTIC_BYTES - 3].decode("utf-8", errors="ignore") + "…"


def strip_fence(reply: str) -> str:
    """The reply without a surrounding ``` fence (with or without a language tag), if it has one."""
    text = reply.strip()
    if not text.startswith("```"):
        return text
    lines = text.splitlines()[1:]
    if lines and lines[-1].strip() == "```":
        lines = lines[:-1]
    return "\n".join(lines).strip()
