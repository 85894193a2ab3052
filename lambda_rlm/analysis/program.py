"""Compilation: takes program text or a path, gives a checked Program (imports resolved, types, termination, cost)."""

from __future__ import annotations

import stat
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from lambda_rlm.core import formats
from lambda_rlm.core import types as t
from lambda_rlm.core.errors import CostError, ModuleImportError, TerminationError, TypeCheckError, UnboundNameError
from lambda_rlm.core.registry import Library, standard_library
from lambda_rlm.core.source import Span
from lambda_rlm.lang import syntax as s
from lambda_rlm.lang.parser import parse_module, parse_signature
from lambda_rlm.lang.typecheck import Checker, Typing, check_definition, scheme_of_signature
from lambda_rlm.text.records import Extent
from lambda_rlm.text.tokens import cl100k

from . import absdomain as a
from . import partition
from .cost import Analyser, Bound, CostModel, check_window

PRELUDE = "prelude"
MAX_PROGRAM_BYTES = 1 << 20  # a program file or an imported one
INPUT_TYPES = "Text, Int, Float, Bool, or a List of these"


@dataclass(frozen=True, slots=True)
class Input:
    name: str
    type: t.Type


@dataclass(frozen=True, eq=False)
class Program:
    """A parsed, type-checked, terminating program, ready to be bounded and run."""

    name: str
    defs: tuple[s.Def, ...]
    typing: Typing
    library: Library = field(repr=False)
    main: s.Def | None

    def __repr__(self) -> str:  # the syntax tree would fill a screen
        what = f"main : {self.type}" if self.main is not None else f"library of {len(self.defs)} definitions"
        return f"<Program {self.name} ({what})>"

    @property
    def type(self) -> str:
        """The type of `main` (or of the last definition when there is no main)."""
        d = self.main or self.defs[-1]
        return t.show(self.typing.schemes[d.name].type)

    @property
    def inputs(self) -> tuple[Input, ...]:
        """main's parameters; the first one is the document."""
        if self.main is None:
            return ()
        params, _ = t.arrows(self.typing.schemes["main"].type)
        return tuple(Input(p.name, ty) for p, ty in zip(self.main.params, params, strict=False))

    def cost(self, input_tokens: int = 100_000, window: int = 8192, output_tokens: int = 512,
             arg_tokens: Mapping[str, int] | None = None, values: Mapping[str, object] | None = None,
             count: Callable[[str], int] | None = None,
             instruction_tokens: Callable[[t.Type], int] | None = None,
             max_leaf_tokens: int | None = None) -> Bound:
        """The worst case of running main on a document of `input_tokens` tokens with this window,
        counted as `lambda-rlm check` counts without a model: cl100k tokens, and each leaf's format
        instruction with room for a re-ask, as the runtime sends them (`count` and
        `instruction_tokens` replace either)."""
        counted = count or cl100k().count
        model = CostModel(window=window, output_tokens=output_tokens, count=counted,
                          instruction_tokens=instruction_tokens
                          or formats.instruction_counter(counted, output_tokens, True))
        return self.bound(model, input_tokens, arg_tokens, values, max_leaf_tokens)

    @property
    def uses_partition(self) -> bool:
        """Whether the program asks the partition rule for `tau` or `fanout`."""
        return self.uses("tau", "fanout")

    def uses(self, *names: str) -> bool:
        """Whether a definition of the program names one of these (a combinator, say)."""
        return any(v.name in names for d in self.defs for v in free_vars(d.as_expr()))

    def bound(self, model: CostModel, input_tokens: int, arg_tokens: Mapping[str, int] | None = None,
              values: Mapping[str, object] | None = None, max_leaf_tokens: int | None = None,
              input_records: Extent | None = None, max_leaf_records: int | None = None) -> Bound:
        """Like `cost`, with an explicit cost model; fills τ and k by the partition rule when used.
        `input_records`, the document's records when known, tightens bounds over them."""
        args, vals = dict(arg_tokens or {}), dict(values or {})
        if self.uses_partition:
            model = partition.choose(lambda m: bound(self, m, input_tokens, args, vals, input_records), model,
                                     input_tokens, max_leaf_tokens)
        if self.uses("batch"):
            cap = max_leaf_records  # and no more records per leaf than the document has
            if input_records is not None:
                cap = min(cap or partition.MAX_BATCH, max(1, input_records.count))
            model = partition.choose_batch(lambda m: bound(self, m, input_tokens, args, vals, input_records),
                                           model, cap)
        return bound(self, model, input_tokens, args, vals, input_records)


def bound(program: Program, model: CostModel, input_tokens: int, arg_tokens: dict[str, int],
          values: dict[str, object], input_records: Extent | None = None) -> Bound:
    if program.main is None:
        raise UnboundNameError("the program has no 'main' definition to bound", None,
                         ["define `def main (doc : Text) … = …`"])
    try:
        return _bound(program, model, input_tokens, arg_tokens, values, input_records)
    except RecursionError:  # the analysis recurses through the calls of the program
        raise CostError("the program nests its calls too deeply to be bounded", program.main.span,
                        ["nest fewer calls inside one another"]) from None


def _bound(program: Program, model: CostModel, input_tokens: int, arg_tokens: dict[str, int],
           values: dict[str, object], input_records: Extent | None = None) -> Bound:
    assert program.main is not None
    ty = program.typing
    an = Analyser(model, ty.leaf_types, program.library.combinators, ty.hole_types, ty.hole_scopes)
    env: dict[str, a.AValue] = {name: an.primitive(c) for name, c in program.library.combinators.items()}
    for d in program.defs:
        env[d.name] = an.evaluate(d.as_expr(), env)
    main = env["main"]
    for i, inp in enumerate(program.inputs):
        size = _input_size(inp, i, input_tokens, arg_tokens, values)
        if i == 0 and isinstance(size, a.Text) and input_records is not None:
            size = a.Text(size.tokens, input_records.count, input_records.widest)
        main = an.call(main, size)
    check_window(an.account.leaves, model)
    c = an.account
    return Bound(c.calls, c.depth, c.max_prompt, c.prompt_tokens, model.output_tokens, model.window,
                 input_tokens, tuple(sorted(c.leaves, key=lambda lf: lf.span.start)), model.tau, model.k,
                 model.batch)


def _input_size(inp: Input, index: int, doc_tokens: int, arg_tokens: dict[str, int],
                values: dict[str, object]) -> a.AValue:
    if inp.name in values:
        v = values[inp.name]
        if isinstance(v, bool):
            return a.Bool(v)
        if isinstance(v, int | float):
            return a.Num.exactly(v)
    tokens = doc_tokens if index == 0 else arg_tokens.get(inp.name, 256)
    return a.of_type(inp.type, tokens)


# ---------------------------------------------------------------------- loading


def compile(source: str | Path, library: Library | None = None, name: str | None = None,  # noqa: A001
            import_dirs: Iterable[str | Path] = ()) -> Program:
    """Parse, resolve imports, check types and termination; raises the project's errors.

    A program imports files of its own folder (the working directory for a program given as
    text) and of `import_dirs`, and only regular files of at most MAX_PROGRAM_BYTES."""
    library = library or standard_library()
    text, name, base = _read(source, name)
    loaded: list[tuple[s.Def, str]] = []
    seen: set[str] = set()
    _load_library_module(PRELUDE, library, loaded, seen, ())
    module = parse_module(text, name)
    roots = ((base or Path.cwd()).resolve(), *(Path(d).expanduser().resolve() for d in import_dirs))
    _load_imports(module, base, library, loaded, seen, (name,), roots)
    loaded.extend((d, name) for d in module.defs)
    defs = _check_names(loaded, library)
    try:
        typing = _typecheck(_topological(defs), library)
        main = next((d for d in defs if d.name == "main"), None)
        program = Program(name, _topological(defs), typing, library, main)
        _check_main(program)
    except RecursionError:  # the checker recurses over the syntax tree and the types in it
        where = module.defs[-1].span if module.defs else None
        raise TypeCheckError("the program nests too deeply to be checked", where,
                             ["nest fewer brackets, lets or calls inside one another"]) from None
    return program


def _read(source: str | Path, name: str | None) -> tuple[str, str, Path | None]:
    if isinstance(source, Path) or (source.endswith(".lam") and "\n" not in source and len(source) < 4096):
        path = Path(source)
        return _program_text(path, f"program file '{source}'"), name or str(source), path.parent
    return source, name or "<string>", None


def _program_text(path: Path, what: str, span: Span | None = None) -> str:
    """The text of a program file: a regular file of at most MAX_PROGRAM_BYTES of UTF-8 (a device, a
    FIFO or a huge file is refused before it is read whole, or waited on)."""
    try:
        mode = path.stat()
        if not stat.S_ISREG(mode.st_mode):
            raise ModuleImportError(f"cannot read {what}: it is not a regular file", span)
        with path.open("rb") as f:
            data = f.read(MAX_PROGRAM_BYTES + 1)
    except OSError as exc:
        raise ModuleImportError(f"cannot read {what}: {exc.__class__.__name__}", span) from None
    if len(data) > MAX_PROGRAM_BYTES:
        raise ModuleImportError(f"cannot read {what}: it is larger than {MAX_PROGRAM_BYTES // 1024} KiB, "
                                "too large for a program", span)
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        raise ModuleImportError(f"cannot read {what}: it is not UTF-8 text", span) from None


def _load_library_module(mod: str, library: Library, out: list[tuple[s.Def, str]], seen: set[str],
                         chain: tuple[str, ...], span: Span | None = None) -> None:
    key = f"<lib>/{mod}"
    if key in seen:
        return
    if mod not in library.modules:
        raise ModuleImportError(f"no library module named '{mod}'", span,
                           [f"library modules: {', '.join(sorted(library.modules))}"])
    seen.add(key)
    text, path = library.modules[mod]
    module = parse_module(text, path)
    _load_imports(module, None, library, out, seen, (*chain, key), ())  # library modules import no files
    out.extend((d, path) for d in module.defs)


def _load_imports(module: s.Module, base: Path | None, library: Library, out: list[tuple[s.Def, str]],
                  seen: set[str], chain: tuple[str, ...], roots: tuple[Path, ...]) -> None:
    for imp in module.imports:
        if not imp.is_file:
            _load_library_module(imp.target, library, out, seen, chain, imp.span)
            continue
        if "\x00" in imp.target:
            raise ModuleImportError("an import path cannot contain a NUL character", imp.span)
        path = ((base or Path.cwd()) / imp.target).resolve()
        key = str(path)
        if key in chain:
            raise ModuleImportError(f"'{imp.target}' imports itself (through {' → '.join(chain[1:] + (key,))})",
                               imp.span)
        if key in seen:
            continue
        seen.add(key)
        if not any(path.is_relative_to(root) for root in roots):
            raise ModuleImportError(f"cannot import '{imp.target}': it is outside the program's folder {roots[0]}",
                                    imp.span, ["a program imports files of its own folder; allow another folder with "
                                               "compile(..., import_dirs=[...]) or --import-dir"])
        text = _program_text(path, f"'{imp.target}'", imp.span)
        sub = parse_module(text, str(path))
        _load_imports(sub, path.parent, library, out, seen, (*chain, key), roots)
        # An imported program's own `main` stays its own: the importer gets its other definitions.
        out.extend((d, str(path)) for d in sub.defs if d.name != "main")


def _check_names(loaded: list[tuple[s.Def, str]], library: Library) -> list[s.Def]:
    first: dict[str, s.Def] = {}
    for d, _ in loaded:
        if d.name in library.combinators:
            raise UnboundNameError(f"'{d.name}' is already a combinator of the library", d.span,
                             ["choose another name"])
        if d.name in first:
            raise UnboundNameError(f"'{d.name}' is defined twice", d.span,
                             [f"first defined at {first[d.name].span.location()}"])
        first[d.name] = d
    return [d for d, _ in loaded]


def free_vars(e: s.Expr, bound: frozenset[str] = frozenset()) -> Iterator[s.Var]:
    """The variables of `e` not bound inside it (with their spans)."""
    match e:
        case s.Var(name):
            if name not in bound:
                yield e
        case s.TextLit(parts):
            for p in parts:
                if not isinstance(p, str):
                    yield from free_vars(p, bound)
        case s.ListLit(items) | s.TupleLit(items):
            for x in items:
                yield from free_vars(x, bound)
        case s.RecordLit(fields):
            for _, v in fields:
                yield from free_vars(v, bound)
        case s.Field(record):
            yield from free_vars(record, bound)
        case s.Lam(params, body):
            yield from free_vars(body, bound | {p.name for p in params})
        case s.App(fn, arg):
            yield from free_vars(fn, bound)
            yield from free_vars(arg, bound)
        case s.Let(name, value, body):
            yield from free_vars(value, bound)
            yield from free_vars(body, bound | {name})
        case s.If(c, th, el):
            for x in (c, th, el):
                yield from free_vars(x, bound)
        case s.BinOp(_, left, right):
            yield from free_vars(left, bound)
            yield from free_vars(right, bound)
        case s.UnOp(_, x) | s.Annot(x) | s.Llm(x):
            yield from free_vars(x, bound)


def _topological(defs: list[s.Def]) -> tuple[s.Def, ...]:
    """Order definitions so each comes after those it uses; a cycle is recursion, which is rejected."""
    by_name = {d.name: d for d in defs}
    order: list[s.Def] = []
    state: dict[str, int] = {}  # 1 visiting, 2 done

    def visit(d: s.Def, path: tuple[str, ...]) -> None:
        state[d.name] = 1
        for v in free_vars(d.as_expr()):
            dep = by_name.get(v.name)
            if dep is None:
                continue
            if state.get(dep.name) == 1:
                cycle = " → ".join((*path[path.index(dep.name):], dep.name)) if dep.name in path else dep.name
                raise TerminationError(
                    f"'{d.name}' refers to '{dep.name}', which makes the recursion {cycle}", v.span,
                    ["general recursion is not allowed, so every program terminates; recurse with "
                     "divide, or iterate with map, filter and fold"])
            if state.get(dep.name) != 2:
                visit(dep, (*path, dep.name))
        state[d.name] = 2
        order.append(d)

    for d in defs:
        if d.name not in state:
            visit(d, (d.name,))
    return tuple(order)


def _typecheck(defs: tuple[s.Def, ...], library: Library) -> Typing:
    ck = Checker()
    env: dict[str, t.Scheme] = {}
    for c in library.combinators.values():
        sig = parse_signature(c.signature, f"<combinator {c.name}>")
        env[c.name] = scheme_of_signature(ck, sig)
    typing = Typing()
    for d in defs:
        env[d.name] = check_definition(ck, d, env, typing)
    return typing


def _check_main(program: Program) -> None:
    main = program.main
    if main is None:
        return
    scheme = program.typing.schemes["main"]
    params, result = t.arrows(scheme.type)
    if not main.params:
        raise TypeCheckError("'main' takes the document as its first parameter", main.span,
                         ["write `def main (doc : Text) … = …`"])
    for p, ty in zip(main.params, params, strict=False):
        if not _is_input(ty):
            raise TypeCheckError(f"the input '{p.name}' of main has type {t.show(ty)}; inputs are {INPUT_TYPES}",
                             p.span)
    if params[0] != t.TEXT and not isinstance(params[0], t.TVar):
        raise TypeCheckError(f"the first input of main is the document and must be Text, not {t.show(params[0])}",
                         main.params[0].span)
    if set(t.free_vars(result)) or isinstance(result, t.TFun):
        raise TypeCheckError(f"main returns {t.show(result)}, which is not a value that can be printed",
                         main.span, ["annotate main's result type"])


def _is_input(ty: t.Type) -> bool:
    match ty:
        case t.TVar():
            return True  # an unused input: any text will do
        case t.TCon("Text" | "Int" | "Float" | "Bool"):
            return True
        case t.TCon("List", (inner,)):
            return _is_input(inner)
    return False
