"""Parsing: takes program text, gives syntax trees; the only module that knows Lark."""

from __future__ import annotations

import logging
import os
from functools import cache
from importlib.resources import files
from typing import Any

import lark
from lark import Lark, Token, Transformer, Tree, v_args
from lark.exceptions import UnexpectedCharacters, UnexpectedEOF, UnexpectedInput, UnexpectedToken, VisitError

from lambda_rlm.core.errors import LambdaError, ParseError
from lambda_rlm.core.paths import default_cache_dir
from lambda_rlm.core.source import Source, Span

from . import syntax as s

_BINOPS = {
    "or_": "||", "and_": "&&", "eq": "==", "ne": "!=", "lt": "<", "le": "<=", "gt": ">",
    "ge": ">=", "concat": "++", "add": "+", "sub": "-", "mul": "*", "div": "/", "mod": "%",
}
_ESCAPES = {"n": "\n", "t": "\t", "r": "\r", '"': '"', "\\": "\\", "{": "{", "}": "}", "0": "\0"}
_TOKEN_NAMES = {
    "NAME": "a name", "TCON": "a type name", "INT": "an integer", "FLOAT": "a number",
    "STRING": "a text literal", "LONG_STRING": "a text literal", "$END": "the end of the input",
    "LPAR": "'('", "RPAR": "')'", "LSQB": "'['", "RSQB": "']'", "LBRACE": "'{'", "RBRACE": "'}'",
    "COMMA": "','", "COLON": "':'", "EQUAL": "'='", "DOT": "'.'", "QMARK": "'?'",
}


@cache
def _lark() -> Lark:
    return build_lark(strict=False, cache=_tables_file())


def _tables_file() -> str | bool:
    """Where Lark keeps the parser it builds between runs (building takes 0.6 s, loading 0.02 s): a
    file in the user's cache folder, named by Lark's version; Lark checks the grammar's hash before
    using it. False (build every time) when that folder cannot be made."""
    folder = default_cache_dir()
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError:
        return False
    return str(folder / f"parser-tables-lark-{lark.__version__}.cache") if os.access(folder, os.W_OK) else False


def build_lark(strict: bool, cache: str | bool = False) -> Lark:
    """The parser. `strict` (no shift/reduce conflicts, no colliding terminals) costs 0.2 s a
    build, so the command runs without it and tests/test_parser.py proves the grammar strict.
    `cache`: Lark's file of built tables (False: none)."""
    grammar = files("lambda_rlm.lang").joinpath("grammar.lark").read_text(encoding="utf-8")
    quiet = logging.getLogger("lark")  # a cache file it cannot read or write is rebuilt, not reported
    level = quiet.level
    quiet.setLevel(logging.CRITICAL)
    try:
        return Lark(
            grammar, parser="lalr", strict=strict, propagate_positions=True,
            start=["start", "expr", "signature", "type"], maybe_placeholders=True, cache=cache,
        )
    finally:
        quiet.setLevel(level)


def parse_module(text: str, name: str = "<string>") -> s.Module:
    """Parse a whole `.lam` file."""
    result = _parse(Source(text, name), "start", 0)
    assert isinstance(result, s.Module)
    return result


def parse_expr(text: str, name: str = "<string>") -> s.Expr:
    """Parse one expression (used for interpolations, holes and tests)."""
    return _parse(Source(text, name), "expr", 0)  # type: ignore[no-any-return]


def parse_signature(text: str, name: str = "<signature>") -> s.Signature:
    """Parse a combinator signature `name : type`."""
    result = _parse(Source(text, name), "signature", 0)
    assert isinstance(result, s.Signature)
    return result


def parse_type(text: str, name: str = "<type>") -> s.TypeExpr:
    return _parse(Source(text, name), "type", 0)  # type: ignore[no-any-return]


def _parse(source: Source, start: str, offset: int, end: int | None = None) -> Any:
    text = source.text[offset:end]
    try:
        tree = _lark().parse(text, start=start)
    except UnexpectedInput as exc:
        raise _syntax_error(exc, source, offset, len(source.text) if end is None else end) from None
    try:
        return _Build(source, offset).transform(tree)
    except VisitError as exc:  # errors raised inside the Transformer come back wrapped
        if isinstance(exc.orig_exc, LambdaError):
            raise exc.orig_exc from None
        if isinstance(exc.orig_exc, RecursionError):
            raise _too_deep(source, offset) from None
        raise
    except RecursionError:
        raise _too_deep(source, offset) from None


def _too_deep(source: Source, offset: int) -> ParseError:
    return ParseError("the program nests too deeply to be read", Span(source, offset, offset + 1))


def _syntax_error(exc: UnexpectedInput, source: Source, offset: int, end: int) -> ParseError:
    pos = offset + (exc.pos_in_stream or 0)
    if isinstance(exc, UnexpectedEOF):
        pos = offset + len(source.text[offset:end].rstrip())
        message = "unexpected end of input"
    elif isinstance(exc, UnexpectedCharacters):
        message = f"unexpected character {source.text[pos:pos + 1]!r}"
    elif isinstance(exc, UnexpectedToken):
        if exc.token.type == "$END":
            pos = offset + len(source.text[offset:end].rstrip())
            message = "unexpected end of input"
        else:
            token = str(exc.token.value)
            message = f"unexpected {token if len(token) <= 40 else token[:39] + '…'!r}"
    else:
        message = "cannot parse this"
    expected = sorted({_TOKEN_NAMES[t] if t in _TOKEN_NAMES else _describe(t) for t in getattr(exc, "expected", ())},
                      key=lambda d: (d.startswith("'") and not d[1:-1].isalpha(), d))
    notes = [f"expected {', '.join(expected[:8])}{' …' if len(expected) > 8 else ''}"] if expected else []
    end = min(pos + 1, len(source.text))
    return ParseError(message, Span(source, pos, max(pos, end)), notes)


def _describe(terminal: str) -> str:
    pattern = _lark().get_terminal(terminal).pattern
    return f"'{pattern.value}'" if pattern.type == "str" else terminal.lower()


@v_args(meta=True, inline=True)
class _Build(Transformer[Token, Any]):
    """Builds syntax nodes from Lark's tree; spans are shifted by `offset` into `source`."""

    def __init__(self, source: Source, offset: int) -> None:
        super().__init__()
        self.source, self.offset = source, offset

    def _sp(self, meta: Any) -> Span:
        if getattr(meta, "empty", True):
            return Span(self.source, self.offset, self.offset)
        return Span(self.source, self.offset + meta.start_pos, self.offset + meta.end_pos)

    def _tok(self, tok: Token) -> Span:
        start = self.offset + (tok.start_pos or 0)
        return Span(self.source, start, start + len(tok))

    # modules
    def start(self, meta: Any, *items: Any) -> s.Module:
        imports = tuple(i for i in items if isinstance(i, s.Import))
        defs = tuple(d for d in items if isinstance(d, s.Def))
        return s.Module(imports, defs, self._sp(meta))

    def import_file(self, meta: Any, tok: Token) -> s.Import:
        return s.Import(_unescape(str(tok)[1:-1], self._tok(tok)), True, self._sp(meta))

    def import_module(self, meta: Any, dotted: str) -> s.Import:
        return s.Import(dotted, False, self._sp(meta))

    def dotted(self, meta: Any, *names: Token) -> str:
        return ".".join(str(n) for n in names)

    def def_(self, meta: Any, name: Token, *rest: Any) -> s.Def:
        *params, result, body = rest
        return s.Def(str(name), tuple(params), result, body, self._sp(meta))

    def param_plain(self, meta: Any, name: Token) -> s.Param:
        return s.Param(str(name), None, self._sp(meta))

    def param_typed(self, meta: Any, name: Token, annot: s.TypeExpr) -> s.Param:
        return s.Param(str(name), annot, self._sp(meta))

    def signature(self, meta: Any, name: Token, type_: s.TypeExpr) -> s.Signature:
        return s.Signature(str(name), type_, self._sp(meta))

    # expressions
    def let(self, meta: Any, name: Token, *rest: Any) -> s.Let:
        *params, annot, value, body = rest
        span = self._sp(meta)
        if params:
            inner = value if annot is None else s.Annot(value, annot, value.span)
            return s.Let(str(name), s.Lam(tuple(params), inner, span), body, None, span)
        return s.Let(str(name), value, body, annot, span)

    def lam(self, meta: Any, *rest: Any) -> s.Lam:
        *params, body = rest
        return s.Lam(tuple(params), body, self._sp(meta))

    def if_(self, meta: Any, c: s.Expr, t: s.Expr, e: s.Expr) -> s.If:
        return s.If(c, t, e, self._sp(meta))

    def pipe(self, meta: Any, arg: s.Expr, fn: s.Expr) -> s.App:
        return s.App(fn, arg, self._sp(meta))

    def apply(self, meta: Any, fn: s.Expr, arg: s.Expr) -> s.App:
        return s.App(fn, arg, self._sp(meta))

    def llm(self, meta: Any, prompt: s.Expr) -> s.Llm:
        return s.Llm(prompt, self._sp(meta))

    def neg(self, meta: Any, e: s.Expr) -> s.Expr:
        return s.UnOp("-", e, self._sp(meta))

    def not_(self, meta: Any, e: s.Expr) -> s.Expr:
        return s.UnOp("not", e, self._sp(meta))

    def field(self, meta: Any, record: s.Expr, name: Token) -> s.Field:
        return s.Field(record, str(name), self._sp(meta))

    def var(self, meta: Any, name: Token) -> s.Var:
        return s.Var(str(name), self._sp(meta))

    def int_(self, meta: Any, tok: Token) -> s.IntLit:
        digits = str(tok).replace("_", "")
        if len(digits) > 4000:
            raise ParseError("this integer literal is too long", self._tok(tok))
        return s.IntLit(int(digits), self._sp(meta))

    def float_(self, meta: Any, tok: Token) -> s.FloatLit:
        return s.FloatLit(float(str(tok).replace("_", "")), self._sp(meta))

    def true(self, meta: Any) -> s.BoolLit:
        return s.BoolLit(True, self._sp(meta))

    def false(self, meta: Any) -> s.BoolLit:
        return s.BoolLit(False, self._sp(meta))

    def text(self, meta: Any, tok: Token) -> s.TextLit:
        return _text_literal(self.source, self.offset + (tok.start_pos or 0), str(tok))

    def list_(self, meta: Any, *items: s.Expr | None) -> s.ListLit:
        return s.ListLit(tuple(i for i in items if i is not None), self._sp(meta))

    def record(self, meta: Any, *fields: tuple[str, s.Expr, Span] | None) -> s.RecordLit:
        present = [f for f in fields if f is not None]
        seen: set[str] = set()
        for name, _, span in present:
            if name in seen:
                raise ParseError(f"field '{name}' is given twice", span)
            seen.add(name)
        return s.RecordLit(tuple((n, e) for n, e, _ in present), self._sp(meta))

    def field_init(self, meta: Any, name: Token, value: s.Expr) -> tuple[str, s.Expr, Span]:
        return str(name), value, self._tok(name)

    def annot(self, meta: Any, e: s.Expr, t: s.TypeExpr) -> s.Annot:
        return s.Annot(e, t, self._sp(meta))

    def tuple_(self, meta: Any, *items: s.Expr) -> s.TupleLit:
        return s.TupleLit(tuple(items), self._sp(meta))

    def hole(self, meta: Any, name: Token, t: s.TypeExpr) -> s.Hole:
        return s.Hole(str(name), t, self._sp(meta))

    # types
    def tfun(self, meta: Any, a: s.TypeExpr, r: s.TypeExpr) -> s.TFunE:
        return s.TFunE(a, r, self._sp(meta))

    def tapp(self, meta: Any, name: Token, *args: s.TypeExpr) -> s.TCon:
        return s.TCon(str(name), tuple(args), self._sp(meta))

    def tcon(self, meta: Any, name: Token) -> s.TCon:
        return s.TCon(str(name), (), self._sp(meta))

    def tvar(self, meta: Any, name: Token) -> s.TVarE:
        return s.TVarE(str(name), self._sp(meta))

    def ttuple(self, meta: Any, *items: s.TypeExpr) -> s.TTupleE:
        return s.TTupleE(tuple(items), self._sp(meta))

    def trecord(self, meta: Any, *fields: tuple[str, s.TypeExpr, Span] | None) -> s.TRecordE:
        present = [f for f in fields if f is not None]
        names = [n for n, _, _ in present]
        for (name, _, span) in present:
            if names.count(name) > 1:
                raise ParseError(f"field '{name}' is declared twice", span)
        return s.TRecordE(tuple((n, t) for n, t, _ in present), self._sp(meta))

    def tfield(self, meta: Any, name: Token, t: s.TypeExpr) -> tuple[str, s.TypeExpr, Span]:
        return str(name), t, self._tok(name)


for _rule, _op in _BINOPS.items():
    def _make(op: str) -> Any:
        def build(self: _Build, meta: Any, left: s.Expr, right: s.Expr) -> s.BinOp:
            return s.BinOp(op, left, right, self._sp(meta))
        return v_args(meta=True, inline=True)(build)
    setattr(_Build, _rule, _make(_op))


Lit = list[tuple[str, bool]]  # characters of a literal piece, each marked "came from an escape"


def _text_literal(source: Source, start: int, raw: str) -> s.TextLit:
    """Split a text token into literal pieces and `{expr}` interpolations, each parsed in place."""
    quote = 3 if raw.startswith('"""') else 1
    body_start, body_end = start + quote, start + len(raw) - quote
    parts: list[Lit | s.Expr] = []
    buf: Lit = []
    i = body_start
    text = source.text
    while i < body_end:
        ch = text[i]
        if ch == "\\":
            esc = text[i + 1] if i + 1 < body_end else ""
            if esc not in _ESCAPES:
                raise ParseError(f"unknown escape '\\{esc}'", Span(source, i, i + 2),
                                 ["known escapes: \\n \\t \\r \\\" \\\\ \\{ \\}"])
            buf.append((_ESCAPES[esc], True))
            i += 2
        elif ch == "{":
            close = _matching_brace(text, i, body_end)
            if close < 0:
                raise ParseError("unclosed '{' in text", Span(source, i, i + 1),
                                 ["write \\{ for a literal brace"])
            if not text[i + 1 : close].strip():
                raise ParseError("empty interpolation '{}'", Span(source, i, close + 1))
            if buf:
                parts.append(buf)
                buf = []
            parts.append(_parse(source, "expr", i + 1, close))
            i = close + 1
        elif ch == "}":
            raise ParseError("unmatched '}' in text", Span(source, i, i + 1), ["write \\} for a literal brace"])
        else:
            buf.append((ch, False))
            i += 1
    if buf:
        parts.append(buf)
    if quote == 3:
        parts = _dedent(parts)
    out = ["".join(c for c, _ in p) if isinstance(p, list) else p for p in parts]
    return s.TextLit(tuple(p for p in out if p != ""), Span(source, start, start + len(raw)))


def _matching_brace(text: str, open_at: int, limit: int) -> int:
    depth, i, in_str = 0, open_at, False
    while i < limit:
        ch = text[i]
        if in_str:
            if ch == "\\":
                i += 1
            elif ch == '"':
                in_str = False
        elif ch == '"':
            in_str = True
        elif ch == "{":
            depth += 1
        elif ch == "}":
            depth -= 1
            if depth == 0:
                return i
        i += 1
    return -1


def _lines(piece: Lit) -> list[Lit]:
    """A literal piece cut at its real (unescaped) line breaks."""
    lines: list[Lit] = [[]]
    for c, escaped in piece:
        if c == "\n" and not escaped:
            lines.append([])
        else:
            lines[-1].append((c, escaped))
    return lines


def _indent(line: Lit) -> int:
    n = 0
    while n < len(line) and line[n] == (" ", False):
        n += 1
    return n


def _dedent(parts: list[Lit | s.Expr]) -> list[Lit | s.Expr]:
    """Multi-line text: drop a first line break, common indentation and a blank last line.

    Only characters written as such count: an escaped `\\n` is text, not a line break.
    """
    if parts and isinstance(parts[0], list) and parts[0][:1] == [("\n", False)]:
        parts = [parts[0][1:], *parts[1:]]
    split = [_lines(p) if isinstance(p, list) else p for p in parts]
    starts = [ln for i, p in enumerate(split) if isinstance(p, list) for ln in (p if i == 0 else p[1:])]
    indents = [_indent(ln) for ln in starts if any(not (c == " " and not e) for c, e in ln)]
    cut = min(indents, default=0)
    last = split[-1] if split else None
    if isinstance(last, list) and len(last) > 1 and all(c in " \t" and not e for c, e in last[-1]):
        last.pop()
    out: list[Lit | s.Expr] = []
    for i, p in enumerate(split):
        if not isinstance(p, list):
            out.append(p)
            continue
        lines = [ln if (j == 0 and i > 0) else ln[min(cut, _indent(ln)):] for j, ln in enumerate(p)]
        joined: Lit = []
        for j, ln in enumerate(lines):
            if j:
                joined.append(("\n", False))
            joined.extend(ln)
        out.append(joined)
    return out


def _unescape(raw: str, span: Span) -> str:
    out, i = [], 0
    while i < len(raw):
        if raw[i] == "\\" and i + 1 < len(raw):
            if raw[i + 1] not in _ESCAPES:
                raise ParseError(f"unknown escape '\\{raw[i + 1]}'", span)
            out.append(_ESCAPES[raw[i + 1]])
            i += 2
        else:
            out.append(raw[i])
            i += 1
    return "".join(out)


__all__ = ["parse_module", "parse_expr", "parse_signature", "parse_type", "Tree"]
