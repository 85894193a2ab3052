"""Type inference: takes definitions and the schemes in scope, gives their schemes and a side table of leaf types.

Hindley–Milner with let-polymorphism. Overloaded operators carry deferred constraints (Num, Ord,
Eq, Show, Concat) and field access on a not-yet-known record is deferred too. A `let` does not
generalise a constrained variable (later uses decide it); a top-level definition defaults what is
left: Num and Ord to Int, Concat to Text, and the result of an `llm` call to Text.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from lambda_rlm.core import types as t
from lambda_rlm.core.errors import TypeCheckError, UnboundNameError, did_you_mean
from lambda_rlm.core.source import Span

from . import syntax as s

_ARITH = {"+", "-", "*", "/", "%"}
_ORDER = {"<", "<=", ">", ">="}
_EQUALITY = {"==", "!="}
_LOGIC = {"&&", "||"}


@dataclass(frozen=True, slots=True)
class _Constraint:
    kind: str  # num | ord | eq | show | concat | field | leaf
    type: t.Type
    span: Span
    name: str = ""
    result: t.Type | None = None


@dataclass
class Typing:
    """What checking produced: schemes of definitions and the resolved type of every leaf and hole."""

    schemes: dict[str, t.Scheme] = field(default_factory=dict)
    leaf_types: dict[int, t.Type] = field(default_factory=dict)
    hole_types: dict[int, t.Type] = field(default_factory=dict)
    # What each hole may use: the names in scope at it (library combinators excepted, which every
    # hole sees), with their types; local functions and locals of unresolved type are left out.
    hole_scopes: dict[int, dict[str, t.Scheme]] = field(default_factory=dict)


class Checker:
    """One inference session; owns its fresh-variable supply and substitution."""

    def __init__(self) -> None:
        self.sub: dict[int, t.Type] = {}
        self.counter = 0
        self.pending: list[_Constraint] = []
        self.leaves: list[tuple[s.Llm, t.Type]] = []
        self.holes: list[tuple[s.Hole, t.Type, dict[str, t.Scheme]]] = []
        self.closed: set[int] = set()  # ids of schemes with no free variables (they never gain any)
        self.primitives: set[int] = set()  # ids of combinator schemes (every hole sees them)

    # ------------------------------------------------------------ basics
    def fresh(self) -> t.TVar:
        self.counter += 1
        return t.TVar(self.counter)

    def resolve(self, ty: t.Type) -> t.Type:
        while isinstance(ty, t.TVar) and ty.id in self.sub:
            ty = self.sub[ty.id]
        return ty

    def zonk(self, ty: t.Type) -> t.Type:
        return t.substitute(ty, self.sub)

    def instantiate(self, scheme: t.Scheme) -> t.Type:
        return t.substitute(scheme.type, {v: self.fresh() for v in scheme.vars})

    def from_syntax(self, te: s.TypeExpr, scope: dict[str, t.TVar]) -> t.Type:
        """Convert written type syntax; type variable names are shared through `scope`."""
        match te:
            case s.TVarE(name):
                if name not in scope:
                    scope[name] = self.fresh()
                return scope[name]
            case s.TCon(name, args):
                if name not in t.ARITY:
                    raise UnboundNameError(f"unknown type '{name}'", te.span, did_you_mean(name, t.ARITY))
                if len(args) != t.ARITY[name]:
                    want = t.ARITY[name]
                    raise TypeCheckError(f"type '{name}' takes {want} argument{'s' * (want != 1)}, "
                                     f"given {len(args)}", te.span)
                return t.TCon(name, tuple(self.from_syntax(a, scope) for a in args))
            case s.TFunE(a, r):
                return t.TFun(self.from_syntax(a, scope), self.from_syntax(r, scope))
            case s.TRecordE(fields):
                return t.TRecord.of({n: self.from_syntax(f, scope) for n, f in fields})
            case s.TTupleE(items):
                return t.TTuple(tuple(self.from_syntax(x, scope) for x in items))
        raise AssertionError(te)

    # ------------------------------------------------------------ unification
    def unify(self, a: t.Type, b: t.Type) -> bool:
        a, b = self.resolve(a), self.resolve(b)
        if a == b:
            return True
        if isinstance(a, t.TVar):
            if a.id in set(t.free_vars(self.zonk(b))):
                return False
            self.sub[a.id] = b
            return True
        if isinstance(b, t.TVar):
            return self.unify(b, a)
        match a, b:
            case t.TCon(n1, a1), t.TCon(n2, a2):
                return n1 == n2 and len(a1) == len(a2) and all(map(self.unify, a1, a2))
            case t.TFun(x1, r1), t.TFun(x2, r2):
                return self.unify(x1, x2) and self.unify(r1, r2)
            case t.TRecord(f1), t.TRecord(f2):
                return [n for n, _ in f1] == [n for n, _ in f2] and all(
                    self.unify(x, y) for (_, x), (_, y) in zip(f1, f2, strict=True))
            case t.TTuple(i1), t.TTuple(i2):
                return len(i1) == len(i2) and all(map(self.unify, i1, i2))
        return False

    def expect(self, actual: t.Type, expected: t.Type, span: Span, what: str = "this expression") -> None:
        """Unify, or report `what has type A but is used as if its type is E`."""
        before = dict(self.sub)
        if self.unify(actual, expected):
            return
        self.sub = before
        names: dict[int, str] = {}
        have, want = t.show(self.zonk(actual), names), t.show(self.zonk(expected), names)
        if have == want or self._occurs(actual, expected):
            raise TypeCheckError(f"{what} would need an infinite type ({have} = {want})", span,
                             ["a value cannot contain itself; recursion goes through combinators"])
        raise TypeCheckError(f"{what} has type {have} but is used as if its type is {want}", span)

    def _occurs(self, a: t.Type, b: t.Type) -> bool:
        a, b = self.resolve(a), self.resolve(b)
        return (isinstance(a, t.TVar) and a.id in set(t.free_vars(self.zonk(b))) and a != b) or (
            isinstance(b, t.TVar) and b.id in set(t.free_vars(self.zonk(a))) and a != b)

    # ------------------------------------------------------------ inference
    def infer(self, e: s.Expr, env: Mapping[str, t.Scheme], scope: dict[str, t.TVar]) -> t.Type:
        match e:
            case s.Var(name):
                if name not in env:
                    raise UnboundNameError(f"unknown name '{name}'", e.span, did_you_mean(name, env))
                return self.instantiate(env[name])
            case s.IntLit():
                return t.INT
            case s.FloatLit():
                return t.FLOAT
            case s.BoolLit():
                return t.BOOL
            case s.TextLit(parts):
                for part in parts:
                    if not isinstance(part, str):
                        self.pending.append(_Constraint("show", self.infer(part, env, scope), part.span))
                return t.TEXT
            case s.ListLit(items):
                elem: t.Type = self.fresh()
                for item in items:
                    self.expect(self.infer(item, env, scope), elem, item.span, "this list item")
                return t.List(elem)
            case s.RecordLit(fields):
                return t.TRecord.of({n: self.infer(v, env, scope) for n, v in fields})
            case s.TupleLit(items):
                return t.TTuple(tuple(self.infer(x, env, scope) for x in items))
            case s.Field(record, name):
                return self.field(self.infer(record, env, scope), name, record.span, e.span)
            case s.Lam(params, body):
                inner = dict(env)
                ptypes = []
                for p in params:
                    pt = self.fresh() if p.annot is None else self.from_syntax(p.annot, scope)
                    inner[p.name] = t.Scheme((), pt)
                    ptypes.append(pt)
                return t.fun(*ptypes, self.infer(body, inner, scope))
            case s.App(fn, arg):
                return self.apply(fn, arg, env, scope)
            case s.Let(name, value, body, annot):
                vt = self.infer(value, env, scope)
                if annot is not None:
                    self.expect(vt, self.from_syntax(annot, scope), value.span)
                inner = dict(env)
                inner[name] = self.generalise(vt, env, final=False)
                return self.infer(body, inner, scope)
            case s.If(cond, then, else_):
                self.expect(self.infer(cond, env, scope), t.BOOL, cond.span, "this condition")
                tt = self.infer(then, env, scope)
                self.expect(self.infer(else_, env, scope), tt, else_.span, "this branch")
                return tt
            case s.BinOp(op, left, right):
                return self.binop(op, left, right, env, scope, e.span)
            case s.UnOp(op, operand):
                ot = self.infer(operand, env, scope)
                if op == "not":
                    self.expect(ot, t.BOOL, operand.span)
                    return t.BOOL
                self.pending.append(_Constraint("num", ot, operand.span))
                return ot
            case s.Annot(inner_e, te):
                want = self.from_syntax(te, scope)
                self.expect(self.infer(inner_e, env, scope), want, inner_e.span)
                return want
            case s.Llm(prompt):
                self.expect(self.infer(prompt, env, scope), t.TEXT, prompt.span, "this prompt")
                result = self.fresh()
                self.leaves.append((e, result))
                self.pending.append(_Constraint("leaf", result, e.span))
                return result
            case s.Hole(_, te):
                _check_hole_type(te)
                ht = self.from_syntax(te, {})
                self.holes.append((e, ht, {n: sc for n, sc in env.items() if id(sc) not in self.primitives}))
                return ht
        raise AssertionError(e)

    def apply(self, fn: s.Expr, arg: s.Expr, env: Mapping[str, t.Scheme], scope: dict[str, t.TVar]) -> t.Type:
        ft = self.resolve(self.infer(fn, env, scope))
        if isinstance(ft, t.TVar):
            param, result = self.fresh(), self.fresh()
            self.sub[ft.id] = t.TFun(param, result)
            ft = self.resolve(ft)
        if not isinstance(ft, t.TFun):
            raise TypeCheckError(f"this expression has type {t.show(self.zonk(ft))} and is not a function, "
                             "but it is applied to an argument", fn.span)
        self.expect(self.infer(arg, env, scope), ft.arg, arg.span)
        return ft.result

    def binop(self, op: str, left: s.Expr, right: s.Expr, env: Mapping[str, t.Scheme],
              scope: dict[str, t.TVar], span: Span) -> t.Type:
        lt = self.infer(left, env, scope)
        rt = self.infer(right, env, scope)
        if op in _LOGIC:
            self.expect(lt, t.BOOL, left.span)
            self.expect(rt, t.BOOL, right.span)
            return t.BOOL
        self.expect(rt, lt, right.span, f"the right operand of '{op}'")
        kind = "num" if op in _ARITH else "ord" if op in _ORDER else "eq" if op in _EQUALITY else "concat"
        self.pending.append(_Constraint(kind, lt, left.span, op))
        return t.BOOL if op in _ORDER | _EQUALITY else lt

    def field(self, rt: t.Type, name: str, rspan: Span, span: Span) -> t.Type:
        result = self.fresh()
        self.pending.append(_Constraint("field", rt, span, name, result))
        self.solve(final=False)
        return result

    # ------------------------------------------------------------ constraints
    def solve(self, final: bool, defaulting: set[int] | None = None) -> None:
        """Discharge constraints whose type is known; with `final`, default or reject the rest."""
        progress = True
        while progress:
            progress = False
            for c in list(self.pending):
                ty = self.resolve(c.type)
                if c.kind == "leaf":
                    open_vars = set(t.free_vars(self.zonk(ty)))
                    if open_vars and not final:
                        continue
                    for v in open_vars:
                        if defaulting is None or v in defaulting:
                            self.sub[v] = t.TEXT
                    self.pending.remove(c)
                    self._discharge(c, self.resolve(ty))
                    progress = True
                    continue
                if isinstance(ty, t.TVar):
                    if final and (defaulting is None or ty.id in defaulting):
                        self._default(c, ty)
                        self.pending.remove(c)
                        progress = True
                    continue
                self.pending.remove(c)
                self._discharge(c, ty)
                progress = True

    def _default(self, c: _Constraint, ty: t.TVar) -> None:
        if c.kind == "field":
            raise TypeCheckError(f"cannot tell which record has the field '{c.name}' here", c.span,
                             ["annotate the record's type, e.g. (r : {" + c.name + " : Text})"])
        default = {"num": t.INT, "ord": t.INT, "concat": t.TEXT}.get(c.kind)
        if default is not None:
            self.sub[ty.id] = default

    def _discharge(self, c: _Constraint, ty: t.Type) -> None:
        shown = t.show(self.zonk(ty))
        match c.kind:
            case "num" if ty not in (t.INT, t.FLOAT):
                op = f"'{c.name}'" if c.name else "'-'"
                raise TypeCheckError(f"{op} needs numbers, but this expression has type {shown}", c.span)
            case "ord" if ty not in (t.INT, t.FLOAT, t.TEXT):
                raise TypeCheckError(f"'{c.name}' compares Int, Float or Text, but this expression has type {shown}",
                                 c.span)
            case "concat" if not (ty == t.TEXT or (isinstance(ty, t.TCon) and ty.name == "List")):
                raise TypeCheckError(f"'++' joins Text or lists, but this expression has type {shown}", c.span)
            case "eq" | "show" if self._has_function(ty):
                verb = "compared" if c.kind == "eq" else "put into text"
                raise TypeCheckError(f"a value of type {shown} contains a function and cannot be {verb}", c.span)
            case "field":
                self._field(c, ty)
            case "leaf" if not t.is_decodable(self.zonk(ty)):
                raise TypeCheckError(f"an llm call cannot return {shown}", c.span,
                                 ["leaves return Text, Int, Float, Bool, Option, List, records and tuples of these"])

    def _field(self, c: _Constraint, ty: t.Type) -> None:
        assert c.result is not None
        if not isinstance(ty, t.TRecord):
            raise TypeCheckError(f"this expression has type {t.show(self.zonk(ty))}, which is not a record, "
                             f"so it has no field '{c.name}'", c.span)
        ft = ty.get(c.name)
        if ft is None:
            raise TypeCheckError(f"a record of type {t.show(self.zonk(ty))} has no field '{c.name}'", c.span,
                             did_you_mean(c.name, [n for n, _ in ty.fields]))
        self.expect(ft, c.result, c.span)

    def _has_function(self, ty: t.Type) -> bool:
        z = self.zonk(ty)
        match z:
            case t.TFun():
                return True
            case t.TCon(_, args):
                return any(self._has_function(a) for a in args)
            case t.TRecord(fields):
                return any(self._has_function(f) for _, f in fields)
            case t.TTuple(items):
                return any(self._has_function(x) for x in items)
        return False

    # ------------------------------------------------------------ generalisation
    def generalise(self, ty: t.Type, env: Mapping[str, t.Scheme], final: bool) -> t.Scheme:
        self.solve(final=False)
        ty = self.zonk(ty)
        env_vars = {v for sc in env.values() if id(sc) not in self.closed for v in _scheme_free(sc, self)}
        candidates = set(t.free_vars(ty)) - env_vars
        if final:
            self.solve(final=True, defaulting=None)
            ty = self.zonk(ty)
            candidates = set(t.free_vars(ty)) - env_vars
        else:
            blocked = {v for c in self.pending for v in t.free_vars(self.zonk(c.type))}
            blocked |= {v for _, lt in self.leaves for v in t.free_vars(self.zonk(lt))}
            candidates -= blocked
        return t.Scheme(tuple(sorted(candidates)), ty)


def _scheme_free(sc: t.Scheme, ck: Checker) -> set[int]:
    return set(t.free_vars(ck.zonk(sc.type))) - set(sc.vars)


def check_definition(ck: Checker, d: s.Def, env: Mapping[str, t.Scheme], typing: Typing) -> t.Scheme:
    """Infer one top-level definition in `env` and record its scheme and leaf types in `typing`."""
    scope: dict[str, t.TVar] = {}
    first_leaf, first_hole = len(ck.leaves), len(ck.holes)
    ty = ck.infer(d.as_expr(), env, scope)
    scheme = ck.generalise(ty, env, final=True)
    for node, lt in ck.leaves[first_leaf:]:
        resolved = ck.zonk(lt)
        if not t.is_decodable(resolved):
            raise TypeCheckError(f"an llm call cannot return {t.show(resolved)}", node.span,
                             ["leaves return Text, Int, Float, Bool, Option, List, records and tuples of these"])
        typing.leaf_types[id(node)] = resolved
    for hnode, ht, seen in ck.holes[first_hole:]:
        typing.hole_types[id(hnode)] = ck.zonk(ht)
        typing.hole_scopes[id(hnode)] = _visible(ck, seen, env)
    typing.schemes[d.name] = scheme
    if not _scheme_free(scheme, ck):
        ck.closed.add(id(scheme))
    return scheme


def scheme_of_signature(ck: Checker, sig: s.Signature) -> t.Scheme:
    """A combinator's declared type, generalised over all its variables."""
    ty = ck.from_syntax(sig.type, {})
    scheme = t.Scheme(tuple(sorted(set(t.free_vars(ty)))), ty)
    ck.closed.add(id(scheme))
    ck.primitives.add(id(scheme))
    return scheme


def _check_hole_type(te: s.TypeExpr) -> None:
    """A hole stands for a value of a written, concrete data type: its body is checked against it,
    and its cost is paid where it is evaluated (a function could be called anywhere, any time)."""
    match te:
        case s.TFunE():
            raise TypeCheckError("a hole cannot have a function type", te.span,
                             ["put the hole inside a lambda: (\\chunk -> ?summary : Text)"])
        case s.TVarE(name):
            raise TypeCheckError(f"a hole's type must be concrete, not the type variable '{name}'", te.span)
        case s.TCon(_, args) | s.TTupleE(args):
            for arg in args:
                _check_hole_type(arg)
        case s.TRecordE(fields):
            for _, ft in fields:
                _check_hole_type(ft)


def _visible(ck: Checker, seen: dict[str, t.Scheme], top: Mapping[str, t.Scheme]) -> dict[str, t.Scheme]:
    """The names a hole may use: every definition in scope, and the locals whose type is a known data
    type (a local function's cost could not be bounded where the hole's body calls it)."""
    out = {}
    for name, sc in seen.items():
        if top.get(name) is sc:
            out[name] = sc
            continue
        ty = ck.zonk(sc.type)
        if not sc.vars and not set(t.free_vars(ty)) and not ck._has_function(ty):
            out[name] = t.Scheme((), ty)
    return out
