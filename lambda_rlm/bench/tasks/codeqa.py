"""CodeQA: takes a length and a seed, gives multiple-choice questions about the Python standard library's source.

The document is whole `.py` files of the running interpreter's stdlib (shuffled by the seed; no
test/, tests/, idlelib/, tkinter/, site-packages/ or __pycache__/), each after a header line
`# ===== file: json/decoder.py =====`; when a file does not fit, a few smaller ones are tried
first, and the last file is cut at a line boundary. CPython 3.11's stdlib
is about 2.9M cl100k tokens of such files, so longer documents raise ValueError.

Questions (four kinds, LongBench-v2 style: four choices shown, answer with a letter) are made from
`ast` of the files in the document and only about functions whose `def name(` occurs once in the
whole document; each is kept only if the reference reader answers it from the function's own
lines, so its evidence is one small snippet. If a short document has fewer questions than asked
for, questions repeat (with the choices in another order).

Score: accuracy. A prediction counts when it is the gold letter ("B", "B)", "B.", "(B)") or is
exactly the text of the gold choice and of no other; anything else scores 0.
"""

from __future__ import annotations

import ast
import random
import re
from collections import Counter
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

from .base import Count, Instance
from .codeqa_reader import (
    _LETTER,
    _QUESTION,
    LETTERS,
    STEMS,
    _own_nodes,
    _params,
    format_question,
    parse_question,
    read_choice,
)
from .stdlib_source import HEADER as HEADER
from .stdlib_source import Part as Part
from .stdlib_source import build_document, stdlib_root

MAX_SPAN = 60  # lines from a def to its evidence: a few thousand tokens hold it whole


# ---------------------------------------------------------------------- facts from ast


@dataclass(frozen=True)
class Function:
    """A function definition in the document and what the questions ask of it (body facts on demand)."""

    path: str
    qual: str  # Class.method or function
    name: str
    lineno: int  # the def line in the file (1-based)
    end: int
    params: tuple[str, ...]
    node: ast.FunctionDef | ast.AsyncFunctionDef = field(compare=False, repr=False)

    @cached_property  # walking every body costs seconds at 1M tokens; few functions are asked about
    def own(self) -> list[ast.AST]:
        return _own_nodes(self.node)

    @cached_property
    def returns(self) -> tuple[str, ...]:
        """ast.unparse of each `return <expr>`; empty if some return is bare."""
        rets = [n for n in self.own if isinstance(n, ast.Return)]
        return () if any(r.value is None for r in rets) else tuple(ast.unparse(r.value) for r in rets)  # type: ignore[arg-type]

    @cached_property
    def generator(self) -> bool:
        return any(isinstance(n, ast.Yield | ast.YieldFrom) for n in self.own)

    @cached_property
    def calls(self) -> tuple[tuple[str, int], ...]:
        """("x.y", line) for each call of the form name.attr(...)."""
        return tuple((f"{n.func.value.id}.{n.func.attr}", n.func.end_lineno or 0) for n in self.own
                     if isinstance(n, ast.Call) and isinstance(n.func, ast.Attribute)
                     and isinstance(n.func.value, ast.Name))


_BLOCKS = (ast.stmt, ast.excepthandler, ast.match_case)  # defs live only in statements, never in expressions


def functions_in(path: str, text: str) -> list[Function]:
    """Every function defined in `text` (a file, maybe cut), or none if it does not parse."""
    try:
        tree = ast.parse(text)
    except (SyntaxError, ValueError):
        return []
    out: list[Function] = []

    def visit(node: ast.AST, prefix: str) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.ClassDef):
                visit(child, f"{prefix}{child.name}.")
            elif isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef):
                out.append(Function(path, prefix + child.name, child.name, child.lineno, child.end_lineno or 0,
                                    _params(child.args), child))
                visit(child, f"{prefix}{child.name}.")
            elif isinstance(child, _BLOCKS):
                visit(child, prefix)

    visit(tree, "")
    return out


# ---------------------------------------------------------------------- questions


@dataclass(frozen=True)
class Draft:
    """A question before its choices are shuffled: the right choice text and three wrong ones."""

    kind: str
    fn: Function
    stem: str
    right: str
    wrong: tuple[str, ...]
    subject: str  # what the reader looks for: the function's name, or the call for `calls`


_DEF_ANYWHERE = re.compile(r"\bdef[ \t]+(\w+)[ \t]*\(")
_CALL_ANYWHERE = re.compile(r"(?<![\w.])(\w+\.\w+)\(")


@dataclass(frozen=True)
class Census:
    """How often each `def name(` and each `x.y(` occurs in the document's text (strings and comments too)."""

    defs: Counter[str]
    calls: Counter[str]

    @staticmethod
    def of(document: str) -> Census:
        return Census(Counter(_DEF_ANYWHERE.findall(document)), Counter(_CALL_ANYWHERE.findall(document)))


def _draft(kind: str, fn: Function, pools: dict[str, list[str]], rng: random.Random, census: Census) -> Draft | None:
    """A question of `kind` about `fn`, or None if `fn` does not fit it."""
    stem = STEMS[kind].format(qual=fn.qual, path=fn.path, call="")
    if kind == "return":
        if len(fn.returns) != 1 or fn.generator or fn.end - fn.lineno > MAX_SPAN or not _short(fn.returns[0]):
            return None
        wrong = [r for r in pools["return"] if r != fn.returns[0]]
        return _pick(kind, fn, stem, fn.returns[0], wrong, rng, fn.name)
    if kind == "param":
        own = [p for p in fn.params if p not in ("self", "cls")]
        if not own:
            return None
        wrong = [p for p in pools["param"] if p not in fn.params]
        return _pick(kind, fn, stem, rng.choice(own), wrong, rng, fn.name)
    if kind == "count":
        n = len(fn.params)
        wrong = [str(k) for k in range(max(0, n - 3), n + 4) if k != n]
        return _pick(kind, fn, stem, str(n), wrong, rng, fn.name)
    calls = sorted({c for c, line in fn.calls if line - fn.lineno <= MAX_SPAN and census.calls[c] == 1})
    if not calls:
        return None
    call = rng.choice(calls)
    wrong = [q for q in pools["calls"] if q != fn.qual]
    return _pick(kind, fn, STEMS[kind].format(call=call), fn.qual, wrong, rng, call)


def _short(text: str) -> bool:
    return 0 < len(text) <= 80 and "\n" not in text


def _pick(kind: str, fn: Function, stem: str, right: str, wrong: list[str], rng: random.Random,
          subject: str) -> Draft | None:
    if len(wrong) < 3 or _LETTER.fullmatch(right):
        return None
    picked = [c for c in rng.sample(wrong, min(len(wrong), 12)) if not _LETTER.fullmatch(c)][:3]
    return Draft(kind, fn, stem, right, tuple(picked), subject) if len(picked) == 3 else None


def _pools(fns: list[Function]) -> dict[str, list[str]]:
    """Wrong-choice material from the document's own functions, unique and sorted (the draw must not
    depend on the order of arrival)."""
    return {
        "return": sorted({r for f in fns if len(f.returns) == 1 and _short(f.returns[0]) for r in f.returns}),
        "param": sorted({p for f in fns for p in f.params if p not in ("self", "cls")}),
        "calls": sorted({f.qual for f in fns}),
    }


@dataclass(frozen=True)
class CodeQA:
    """Multiple choice about the stdlib's source; the `choice` plan answers it."""

    name: str = "codeqa"
    plan: str = "choice"
    kinds: tuple[str, ...] = ("return", "param", "count", "calls")

    def generate(self, length: int, n: int, seed: int, count: Count) -> list[Instance]:
        root = stdlib_root()
        document, parts = build_document(length, seed, count, root)
        fns = [f for p in parts for f in functions_in(p.path, p.text)]
        defs, census = Counter(f.name for f in fns), Census.of(document)
        # only names defined once, by ast and as text, so "the function `f`" is one function
        usable = [f for f in fns if defs[f.name] == 1 and census.defs[f.name] == 1]
        rng = random.Random(f"{self.name}-{seed}-{length}-questions")
        pools = _pools(rng.sample(usable, min(len(usable), 400)))  # wrong choices: a sample is plenty
        texts = {p.path: p.text for p in parts}
        drafts = self._drafts(usable, pools, n, rng, census, texts)
        if not drafts:
            raise ValueError(f"codeqa: no question fits a document of {length} tokens")
        out = []
        for i in range(n):
            d = drafts[i % len(drafts)]
            choices = [d.right, *d.wrong]
            rng.shuffle(choices)
            question = format_question(d.stem, choices)
            meta = {"kind": d.kind, "path": d.fn.path, "function": d.fn.qual, "lineno": d.fn.lineno,
                    "choices": choices, "subject": d.subject}
            out.append(Instance(self.name, f"{self.name}-{length}-{seed}-{i}", document, question,
                                LETTERS[choices.index(d.right)], meta))
        return out

    def _drafts(self, usable: list[Function], pools: dict[str, list[str]], n: int, rng: random.Random,
                census: Census, texts: dict[str, str]) -> list[Draft]:
        """Up to n checked drafts, the kinds taken in turn, each function asked about once."""
        order = usable[:]
        rng.shuffle(order)
        queues = {k: iter(order[i::len(self.kinds)] + order) for i, k in enumerate(self.kinds)}
        drafts: list[Draft] = []
        asked: set[str] = set()
        tries = 0
        while len(drafts) < n and queues and tries < 50 * n:
            for kind in list(queues):
                fn = next(queues[kind], None)
                if fn is None:
                    del queues[kind]
                    continue
                tries += 1
                if fn.qual in asked:
                    continue
                d = _draft(kind, fn, pools, rng, census)
                if d is not None and _answerable(d, texts[fn.path]):
                    drafts.append(d)
                    asked.add(fn.qual)
                if len(drafts) == n:
                    break
        return drafts

    def score(self, predicted: Any, instance: Instance) -> float:
        if predicted is None:
            return 0.0
        text = str(predicted).strip()
        letter = _LETTER.fullmatch(text)
        if letter:
            return 1.0 if letter.group(1) == instance.answer else 0.0
        shown = _QUESTION.search(instance.question)
        choices = [shown.group(letter) for letter in LETTERS] if shown else []
        if choices.count(text) == 1:
            return 1.0 if LETTERS[choices.index(text)] == instance.answer else 0.0
        return 0.0

    def read_answer(self, question: str, text: str) -> str | None:
        parsed = parse_question(question)
        if parsed is None:
            return None
        kind, subject, choices = parsed
        return read_choice(kind, subject, choices, text)

    def read_items(self, text: str) -> None:
        return None


def _answerable(d: Draft, text: str) -> bool:
    """The reader finds the right choice in the function's own lines (a small snippet)."""
    snippet = "\n".join(text.splitlines()[d.fn.lineno - 1:d.fn.end])
    choices = [d.right, *d.wrong]
    return read_choice(d.kind, d.subject, choices, snippet) == "A"
