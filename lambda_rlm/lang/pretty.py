"""Pretty printing: takes syntax trees, gives concrete syntax that parses back to the same trees."""

from __future__ import annotations

from . import syntax as s

# Precedence levels, loosest first: a node printed where a tighter level is required gets
# parentheses.
EXPR, OR, AND, CMP, CAT, SUM, PRODUCT, UNARY, APP, POSTFIX, ATOM = range(11)
# Type levels: `a -> b`, `T a b`, atoms.
TFUN, TAPP, TATOM = range(3)

# op -> (level of the node, level required on the left, level required on the right)
_BINOPS: dict[str, tuple[int, int, int]] = {
    "||": (OR, OR, AND),
    "&&": (AND, AND, CMP),
    **{op: (CMP, CAT, CAT) for op in ("==", "!=", "<", "<=", ">", ">=")},
    "++": (CAT, SUM, CAT),
    "+": (SUM, SUM, PRODUCT),
    "-": (SUM, SUM, PRODUCT),
    "*": (PRODUCT, PRODUCT, UNARY),
    "/": (PRODUCT, PRODUCT, UNARY),
    "%": (PRODUCT, PRODUCT, UNARY),
}
_ESCAPES = {"\\": "\\\\", '"': '\\"', "{": "\\{", "}": "\\}", "\n": "\\n", "\t": "\\t",
            "\r": "\\r", "\0": "\\0"}


class UnprintableError(ValueError):
    """The tree has no concrete syntax that parses back to it (see `_text` for the cases)."""


def pretty(node: s.Module | s.Def | s.Import | s.Signature | s.Expr | s.TypeExpr) -> str:
    """Concrete syntax for any syntax node."""
    match node:
        case s.Module():
            return pretty_module(node)
        case s.Def():
            return pretty_def(node)
        case s.Import():
            return pretty_import(node)
        case s.Signature():
            return pretty_signature(node)
        case s.TCon() | s.TVarE() | s.TFunE() | s.TRecordE() | s.TTupleE():
            return pretty_type(node)
        case _:
            return pretty_expr(node)


def pretty_module(module: s.Module) -> str:
    """Imports one per line, then definitions separated by blank lines."""
    imports = "".join(pretty_import(i) + "\n" for i in module.imports)
    defs = "\n".join(pretty_def(d) + "\n" for d in module.defs)
    return imports + ("\n" if imports and defs else "") + defs


def pretty_import(imp: s.Import) -> str:
    return f"import {_quote(imp.target)}" if imp.is_file else f"import {imp.target}"


def pretty_def(d: s.Def) -> str:
    head = " ".join(["def", d.name, *(_param(p) for p in d.params)])
    result = "" if d.result is None else f" : {pretty_type(d.result)}"
    return f"{head}{result} = {pretty_expr(d.body)}"


def pretty_signature(sig: s.Signature) -> str:
    return f"{sig.name} : {pretty_type(sig.type)}"


def pretty_expr(e: s.Expr) -> str:
    """An expression with as few parentheses as the grammar allows."""
    return _Printer(texts=2).expr(e, EXPR)


def pretty_type(t: s.TypeExpr, level: int = TFUN) -> str:
    """A type, parenthesised only where `->` (right-associative) or application demand it."""
    match t:
        case s.TVarE(name):
            return name
        case s.TCon(name, ()):
            return name
        case s.TCon(name, args):
            return _paren(" ".join([name, *(pretty_type(a, TATOM) for a in args)]), TAPP, level)
        case s.TFunE(arg, result):
            return _paren(f"{pretty_type(arg, TAPP)} -> {pretty_type(result, TFUN)}", TFUN, level)
        case s.TTupleE(items):
            return "(" + ", ".join(pretty_type(i) for i in items) + ")"
        case s.TRecordE(fields):
            return "{" + ", ".join(f"{n} : {pretty_type(ft)}" for n, ft in fields) + "}"


def _paren(text: str, own: int, required: int) -> str:
    return f"({text})" if own < required else text


def _param(p: s.Param) -> str:
    return p.name if p.annot is None else f"({p.name} : {pretty_type(p.annot)})"


def _quote(text: str) -> str:
    return '"' + "".join(_ESCAPES.get(ch, ch) for ch in text) + '"'


class _Printer:
    """Prints expressions; `texts` is how deeply text literals may still nest at this point.

    A single-line literal "..." cannot contain a `"` in an interpolation, and a triple-quoted
    one cannot contain another triple-quoted one, so literals nest at most two deep.
    """

    def __init__(self, texts: int) -> None:
        self.texts = texts

    def expr(self, e: s.Expr, level: int) -> str:
        own, text = self._bare(e)
        return _paren(text, own, level)

    def _bare(self, e: s.Expr) -> tuple[int, str]:
        match e:
            case s.Var(name):
                return ATOM, name
            case s.IntLit(value):
                return ATOM, _int(value)
            case s.FloatLit(value):
                return ATOM, _float(value)
            case s.BoolLit(value):
                return ATOM, "true" if value else "false"
            case s.TextLit(parts):
                return ATOM, self._text(parts)
            case s.ListLit(items):
                return ATOM, "[" + self._items(items) + "]"
            case s.TupleLit(items):
                return ATOM, "(" + self._items(items) + ")"
            case s.RecordLit(fields):
                return ATOM, "{" + ", ".join(f"{n} = {self.expr(v, EXPR)}" for n, v in fields) + "}"
            case s.Annot(inner, t):
                return ATOM, f"({self.expr(inner, EXPR)} : {pretty_type(t)})"
            case s.Hole(name, t):
                return ATOM, f"?{name} : {pretty_type(t, TATOM)}"
            case s.Field(record, name):
                return POSTFIX, f"{self.expr(record, POSTFIX)}.{name}"
            case s.App(fn, arg):
                return APP, f"{self.expr(fn, APP)} {self.expr(arg, POSTFIX)}"
            case s.Llm(prompt):
                return APP, f"llm {self.expr(prompt, POSTFIX)}"
            case s.UnOp(op, operand):
                return UNARY, _prefix(op, self.expr(operand, UNARY))
            case s.BinOp(op, left, right):
                own, lhs, rhs = _BINOPS[op]
                return own, f"{self.expr(left, lhs)} {op} {self.expr(right, rhs)}"
            case _:
                return EXPR, self._binder(e)

    def _binder(self, e: s.Expr) -> str:
        match e:
            case s.Lam(params, body):
                return "\\" + " ".join(_param(p) for p in params) + f" -> {self.expr(body, EXPR)}"
            case s.Let(name, value, body, annot):
                ann = "" if annot is None else f" : {pretty_type(annot)}"
                return f"let {name}{ann} = {self.expr(value, EXPR)} in {self.expr(body, EXPR)}"
            case s.If(cond, then, else_):
                return (f"if {self.expr(cond, EXPR)} then {self.expr(then, EXPR)}"
                        f" else {self.expr(else_, EXPR)}")
        raise TypeError(f"not an expression: {e!r}")

    def _items(self, items: tuple[s.Expr, ...]) -> str:
        return ", ".join(self.expr(i, EXPR) for i in items)

    def _text(self, parts: tuple[str | s.Expr, ...]) -> str:
        """Single-line form when possible; triple quotes when an interpolation holds text.

        Triple-quoted text is written on one line with escapes only: the parser's dedent looks
        at real line breaks and unescaped spaces, so all it can still see is the indentation
        of the first line, which must therefore not start with a space (there is no escape
        for a space).
        """
        if self.texts <= 0:
            raise UnprintableError("text literals nest too deeply to be written")
        if not any(_has_text(p) for p in parts if not isinstance(p, str)):
            inner = _Printer(0)
            return '"' + "".join(_escape_part(p, inner) for p in parts) + '"'
        if self.texts < 2:
            raise UnprintableError("text literals nest too deeply to be written")
        first = parts[0]
        if isinstance(first, str) and first.startswith(" ") and first.strip(" "):
            raise UnprintableError("triple-quoted text cannot start with a space: dedent eats it")
        inner = _Printer(1)
        return '"""' + "".join(_escape_part(p, inner) for p in parts) + '"""'


def _escape_part(part: str | s.Expr, printer: _Printer) -> str:
    if isinstance(part, str):
        return "".join(_ESCAPES.get(ch, ch) for ch in part)
    return "{" + printer.expr(part, EXPR) + "}"


def _has_text(e: s.Expr) -> bool:
    """Whether a text literal occurs anywhere in `e`."""
    match e:
        case s.TextLit():
            return True
        case s.ListLit(items) | s.TupleLit(items):
            return any(_has_text(i) for i in items)
        case s.RecordLit(fields):
            return any(_has_text(v) for _, v in fields)
        case s.Field(inner) | s.Annot(inner) | s.Llm(inner) | s.UnOp(_, inner) | s.Lam(_, inner):
            return _has_text(inner)
        case s.App(a, b) | s.BinOp(_, a, b) | s.Let(_, a, b):
            return _has_text(a) or _has_text(b)
        case s.If(c, t, f):
            return _has_text(c) or _has_text(t) or _has_text(f)
        case _:
            return False


def _prefix(op: str, operand: str) -> str:
    # `not` needs a space to stay a keyword; `- -x` needs one not to become a `--` comment.
    if op == "not" or operand.startswith("-"):
        return f"{op} {operand}"
    return f"{op}{operand}"


def _int(value: int) -> str:
    if value < 0:
        raise UnprintableError(f"negative literal {value}: the parser reads -n as a negation")
    return str(value)


def _float(value: float) -> str:
    text = repr(value)
    if value < 0 or text.startswith("-") or not text[0].isdigit():
        raise UnprintableError(f"float literal {text} has no concrete syntax")
    if "." not in text:
        mantissa, _, exponent = text.partition("e")
        text = f"{mantissa}.0" + (f"e{exponent}" if exponent else "")
    return text


__all__ = [
    "UnprintableError", "pretty", "pretty_module", "pretty_def", "pretty_import",
    "pretty_signature", "pretty_expr", "pretty_type",
]
