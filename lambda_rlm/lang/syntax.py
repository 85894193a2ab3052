"""The abstract syntax: frozen dataclasses for types, expressions and modules; spans never count in equality."""

from __future__ import annotations

from dataclasses import dataclass, field

from lambda_rlm.core.source import Span, nowhere

_NOWHERE = nowhere("<synthesised>")


def _span() -> Span:
    return field(default=_NOWHERE, compare=False, repr=False)


# ------------------------------------------------------------------ type syntax


@dataclass(frozen=True, slots=True)
class TCon:
    """A type constructor applied to arguments: `Int`, `List a`, `Option (List Text)`."""

    name: str
    args: tuple[TypeExpr, ...] = ()
    span: Span = _span()


@dataclass(frozen=True, slots=True)
class TVarE:
    name: str
    span: Span = _span()


@dataclass(frozen=True, slots=True)
class TFunE:
    arg: TypeExpr
    result: TypeExpr
    span: Span = _span()


@dataclass(frozen=True, slots=True)
class TRecordE:
    fields: tuple[tuple[str, TypeExpr], ...]
    span: Span = _span()


@dataclass(frozen=True, slots=True)
class TTupleE:
    items: tuple[TypeExpr, ...]
    span: Span = _span()


TypeExpr = TCon | TVarE | TFunE | TRecordE | TTupleE


# ------------------------------------------------------------------ expressions


@dataclass(frozen=True, slots=True)
class Var:
    name: str
    span: Span = _span()


@dataclass(frozen=True, slots=True)
class IntLit:
    value: int
    span: Span = _span()


@dataclass(frozen=True, slots=True)
class FloatLit:
    value: float
    span: Span = _span()


@dataclass(frozen=True, slots=True)
class BoolLit:
    value: bool
    span: Span = _span()


@dataclass(frozen=True, slots=True)
class TextLit:
    """A text literal; `parts` alternate literal strings and interpolated expressions."""

    parts: tuple[str | Expr, ...]
    span: Span = _span()


@dataclass(frozen=True, slots=True)
class ListLit:
    items: tuple[Expr, ...]
    span: Span = _span()


@dataclass(frozen=True, slots=True)
class RecordLit:
    fields: tuple[tuple[str, Expr], ...]
    span: Span = _span()


@dataclass(frozen=True, slots=True)
class TupleLit:
    items: tuple[Expr, ...]
    span: Span = _span()


@dataclass(frozen=True, slots=True)
class Field:
    record: Expr
    name: str
    span: Span = _span()


@dataclass(frozen=True, slots=True)
class Param:
    name: str
    annot: TypeExpr | None = None
    span: Span = _span()


@dataclass(frozen=True, slots=True)
class Lam:
    params: tuple[Param, ...]
    body: Expr
    span: Span = _span()


@dataclass(frozen=True, slots=True)
class App:
    fn: Expr
    arg: Expr
    span: Span = _span()


@dataclass(frozen=True, slots=True)
class Let:
    """`let name = value in body`; `let f x = e in b` is stored with a Lam as value."""

    name: str
    value: Expr
    body: Expr
    annot: TypeExpr | None = None
    span: Span = _span()


@dataclass(frozen=True, slots=True)
class If:
    cond: Expr
    then: Expr
    else_: Expr
    span: Span = _span()


@dataclass(frozen=True, slots=True)
class BinOp:
    """An infix operator: one of `|| && == != < <= > >= ++ + - * / %`."""

    op: str
    left: Expr
    right: Expr
    span: Span = _span()


@dataclass(frozen=True, slots=True)
class UnOp:
    """A prefix operator: `-` or `not`."""

    op: str
    operand: Expr
    span: Span = _span()


@dataclass(frozen=True, slots=True)
class Annot:
    expr: Expr
    type: TypeExpr
    span: Span = _span()


@dataclass(frozen=True, slots=True)
class Llm:
    """A leaf call of the model on a Text prompt; its result type is declared or inferred."""

    prompt: Expr
    span: Span = _span()


@dataclass(frozen=True, slots=True)
class Hole:
    """A typed hole `?name : Type`, whose body the model writes at run time."""

    name: str
    type: TypeExpr
    span: Span = _span()


Expr = (
    Var
    | IntLit
    | FloatLit
    | BoolLit
    | TextLit
    | ListLit
    | RecordLit
    | TupleLit
    | Field
    | Lam
    | App
    | Let
    | If
    | BinOp
    | UnOp
    | Annot
    | Llm
    | Hole
)


# ---------------------------------------------------------------------- modules


@dataclass(frozen=True, slots=True)
class Import:
    """`import "path.lam"` (is_file) or `import name` (a library module)."""

    target: str
    is_file: bool
    span: Span = _span()


@dataclass(frozen=True, slots=True)
class Def:
    name: str
    params: tuple[Param, ...]
    result: TypeExpr | None
    body: Expr
    span: Span = _span()

    def as_expr(self) -> Expr:
        """The definition's value: its body under a lambda of its parameters."""
        body: Expr = self.body if self.result is None else Annot(self.body, self.result, self.body.span)
        return Lam(self.params, body, self.span) if self.params else body


@dataclass(frozen=True, slots=True)
class Module:
    imports: tuple[Import, ...]
    defs: tuple[Def, ...]
    span: Span = _span()


@dataclass(frozen=True, slots=True)
class Signature:
    """`name : type`, the declared type of a Python combinator."""

    name: str
    type: TypeExpr
    span: Span = _span()
