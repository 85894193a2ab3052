"""CodeQA's questions and reference reader: takes a question and source text, gives the choice the text supports.

The four kinds of question (what a function returns, which name is one of its parameters, how
many it declares, which function calls a given call) have fixed stems, four lettered choices and
a last line asking for the letter. The reference reader parses a question back into (kind,
subject, choices) and answers it from source text alone, the way the reference model reads a
prompt; the task keeps only questions it answers from the function's own lines.
"""

from __future__ import annotations

import ast
import re
import textwrap

LETTERS = "ABCD"

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
_QUESTION = re.compile(r"^(?P<stem>[^\n]*)\nA\) (?P<A>[^\n]*)\nB\) (?P<B>[^\n]*)\nC\) (?P<C>[^\n]*)\nD\) (?P<D>[^\n]*)"
                       r"\nAnswer with the letter of the correct choice\.", re.MULTILINE)
_LETTER = re.compile(r"\(?([A-D])[).]?")


def format_question(stem: str, choices: list[str]) -> str:
    lines = [stem, *(f"{letter}) {c}" for letter, c in zip(LETTERS, choices, strict=True))]
    return "\n".join([*lines, "Answer with the letter of the correct choice."])


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
