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
import os
import random
import re
import sysconfig
import textwrap
from collections import Counter
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

from .base import Count, Instance

SKIP_DIRS = frozenset({"test", "tests", "idlelib", "tkinter", "site-packages", "__pycache__"})
HEADER = "# ===== file: {path} =====\n"
LETTERS = "ABCD"
MAX_SPAN = 60  # lines from a def to its evidence: a few thousand tokens hold it whole

STEMS = {
    "return": "What does the function `{qual}` defined in `{path}` return?",
    "param": "Which of these is a parameter of the function `{qual}` defined in `{path}`?",
    "count": ("How many parameters does the function `{qual}` defined in `{path}` declare, counting self, cls, "
              "*args and **kwargs?"),
    "calls": "Which function's body calls `{call}(`?",
}
_STEMS = {
    "return": re.compile(r"What does the function `(?:\w+\.)*(\w+)` defined in `[^`]+` return\?"),
    "param": re.compile(r"Which of these is a parameter of the function `(?:\w+\.)*(\w+)` defined in `[^`]+`\?"),
    "count": re.compile(r"How many parameters does the function `(?:\w+\.)*(\w+)` defined in `[^`]+` declare, "
                        r"counting self, cls, \*args and \*\*kwargs\?"),
    "calls": re.compile(r"Which function's body calls `(\w+\.\w+)\(`\?"),
}
_QUESTION = re.compile(r"(?P<stem>[^\n]*)\nA\) (?P<A>[^\n]*)\nB\) (?P<B>[^\n]*)\nC\) (?P<C>[^\n]*)\nD\) (?P<D>[^\n]*)"
                       r"\nAnswer with the letter of the correct choice\.")
_LETTER = re.compile(r"\(?([A-D])[).]?")


def format_question(stem: str, choices: list[str]) -> str:
    lines = [stem, *(f"{letter}) {c}" for letter, c in zip(LETTERS, choices, strict=True))]
    return "\n".join([*lines, "Answer with the letter of the correct choice."])


# ---------------------------------------------------------------------- the stdlib


def stdlib_root() -> Path:
    return Path(sysconfig.get_paths()["stdlib"])


def stdlib_files(root: Path) -> list[str]:
    """Relative paths (posix) of the stdlib's .py files, sorted, without the skipped folders."""
    out = []
    for folder, dirs, files in os.walk(root):
        dirs[:] = [d for d in dirs if d not in SKIP_DIRS]  # prune: the test suites are most of the tree
        base = Path(folder).relative_to(root)
        out += [(base / f).as_posix() for f in files if f.endswith(".py")]
    return sorted(out)


def _read(path: Path) -> str | None:
    try:
        text = path.read_text(encoding="utf-8")
    except (UnicodeDecodeError, OSError):
        return None
    return text if text.endswith("\n") else text + "\n"


@dataclass(frozen=True)
class Part:
    """One file in the document: its path, the text included (maybe cut) and where it starts."""

    path: str
    text: str
    offset: int  # of the text (after the header) in the document


def build_document(length: int, seed: int, count: Count, root: Path) -> tuple[str, list[Part]]:
    """Whole files in a seeded order until `length` tokens, the last cut at a line boundary.

    Each file is counted once on its own (no growing string is counted); the joined document is
    counted once at the end and lines are dropped if the joins made it too long.
    """
    files = stdlib_files(root)
    random.Random(f"codeqa-{seed}-{length}-files").shuffle(files)
    pieces: list[tuple[str, str]] = []
    total, skipped = 0, 0
    last: tuple[str, str] | None = None  # the first file that did not fit: cut to fill the rest
    for rel in files:
        text = _read(root / rel)
        if text is None:
            continue
        tokens = count(HEADER.format(path=rel) + text)
        if total + tokens <= length:
            pieces.append((rel, text))
            total += tokens
        else:  # try a few smaller files first, so short documents hold whole files (and questions)
            last = last or (rel, text)
            skipped += 1
        if total >= length * 0.99 or skipped > 40:
            break
    if last is not None and total < length:
        rel, text = last
        cut = _cut_lines(text, length - total - count(HEADER.format(path=rel)), count)
        if cut:
            pieces.append((rel, cut))
            total += count(HEADER.format(path=rel) + cut)
    if total < length * 0.98:
        raise ValueError(f"codeqa: the stdlib at {root} has only about {total:,} tokens of source, "
                         f"fewer than the {length:,} asked for")
    return _assemble(pieces, length, count)


def _cut_lines(text: str, tokens: int, count: Count) -> str:
    """The longest prefix of whole lines of `text` with at most `tokens` tokens (bisection)."""
    lines = text.splitlines(keepends=True)
    lo, hi = 0, len(lines)
    while lo < hi:
        mid = (lo + hi + 1) // 2
        if count("".join(lines[:mid])) <= tokens:
            lo = mid
        else:
            hi = mid - 1
    return "".join(lines[:lo])


def _assemble(pieces: list[tuple[str, str]], length: int, count: Count) -> tuple[str, list[Part]]:
    for _ in range(4):
        parts, chunks, offset = [], [], 0
        for rel, text in pieces:
            header = HEADER.format(path=rel)
            parts.append(Part(rel, text, offset + len(header)))
            chunks.append(header + text)
            offset += len(header) + len(text)
        document = "".join(chunks)
        excess = count(document) - length
        if excess <= length // 100 or len(pieces[-1][1]) == 0:
            return document, parts
        rel, text = pieces[-1]  # too long (the joins cost tokens): shorten the last file
        pieces[-1] = (rel, _cut_lines(text, max(0, count(text) - excess - length // 200), count))
    return document, parts


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


def _own_nodes(fn: ast.AST) -> list[ast.AST]:
    """The nodes of a function's body, not those of functions, lambdas or classes nested in it."""
    out, stack = [], list(ast.iter_child_nodes(fn))
    while stack:
        node = stack.pop()
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda | ast.ClassDef):
            continue
        out.append(node)
        stack.extend(ast.iter_child_nodes(node))
    return out


def _params(args: ast.arguments) -> tuple[str, ...]:
    names = [a.arg for a in (*args.posonlyargs, *args.args)]
    names += [args.vararg.arg] if args.vararg else []
    names += [a.arg for a in args.kwonlyargs]
    names += [args.kwarg.arg] if args.kwarg else []
    return tuple(names)


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


# ---------------------------------------------------------------------- the reference reader


def parse_question(question: str) -> tuple[str, str, list[str]] | None:
    """(kind, subject, choices) of one of this task's questions, else None."""
    m = _QUESTION.search(question)
    if m is None:
        return None
    for kind, stem in _STEMS.items():
        s = stem.fullmatch(m.group("stem").strip())
        if s:
            return kind, s.group(1), [m.group(letter) for letter in LETTERS]
    return None


_DEF = r"^([ \t]*)(?:async[ \t]+)?def[ \t]+{name}[ \t]*\("
_ANY_DEF = re.compile(r"^([ \t]*)(?:async[ \t]+)?def[ \t]+(\w+)[ \t]*\(")


def _indent(line: str) -> int:
    return len(line) - len(line.lstrip(" \t"))


def _block(text: str, name: str) -> list[str] | None:
    """The visible lines of `def name(`: the def line and every line indented deeper after it."""
    m = re.search(_DEF.format(name=re.escape(name)), text, re.MULTILINE)
    if m is None:
        return None
    lines = text[m.start():].splitlines()
    depth, out = _indent(lines[0]), [lines[0]]
    for line in lines[1:]:
        if line.strip() and _indent(line) <= depth and not line.lstrip().startswith(("#", ")")):
            break
        out.append(line)
    return out


def _parse_def(lines: list[str]) -> ast.FunctionDef | ast.AsyncFunctionDef | None:
    """The function of the longest prefix of `lines` that parses (a cut block loses its tail)."""
    for k in range(len(lines), 0, -1):
        src = textwrap.dedent("\n".join(lines[:k]))
        for attempt in (src, src + "\n    pass"):
            try:
                tree = ast.parse(attempt)
            except (SyntaxError, ValueError):
                continue
            node = tree.body[0] if tree.body else None
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                return node
    return None


def _signature(lines: list[str]) -> ast.FunctionDef | ast.AsyncFunctionDef | None:
    """The def of the shortest prefix of `lines` holding its whole signature."""
    for k in range(1, min(len(lines), 40) + 1):
        ends = re.search(r":[ \t]*(#.*)?$", lines[k - 1]) is not None
        node = _parse_def(lines[:k]) if ends or k == len(lines) else None
        if node is not None:
            return node
    return None


def _only(choices: list[str], good: set[str]) -> str | None:
    hits = [LETTERS[i] for i, c in enumerate(choices) if c in good]
    return hits[0] if len(hits) == 1 else None


def read_choice(kind: str, subject: str, choices: list[str], text: str) -> str | None:
    """The letter that `text` shows to be right, or None when the evidence is not all visible."""
    if kind == "calls":
        return _read_calls(subject, choices, text)
    lines = _block(text, subject)
    if lines is None:
        return None
    if kind == "return":
        node = _parse_def(lines)
        if node is None:
            return None
        found = {ast.unparse(n.value) for n in _own_nodes(node) if isinstance(n, ast.Return) and n.value is not None}
        return _only(choices, found)
    node = _signature(lines)
    if node is None:
        return None
    params = _params(node.args)
    return _only(choices, set(params)) if kind == "param" else _only(choices, {str(len(params))})


def _read_calls(call: str, choices: list[str], text: str) -> str | None:
    lines = text.splitlines()
    names = [c.rsplit(".", 1)[-1] for c in choices]
    here = re.compile(rf"(?<![\w.]){re.escape(call)}\(")
    for i, line in enumerate(lines):
        if not here.search(line):
            continue
        depth = _indent(line)
        for above in reversed(lines[:i]):
            d = _ANY_DEF.match(above)
            if d and _indent(above) < depth:
                return _only(names, {d.group(2)})
            if above.strip() and _indent(above) < depth and not above.lstrip().startswith(("#", ")")):
                depth = _indent(above)  # the call sits in this statement's block; look for its def above
    return None


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
    """Multiple choice about the stdlib's source; the `search` plan answers it."""

    name: str = "codeqa"
    plan: str = "search"
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
