"""Front-end fuzzing: takes a number of inputs, gives how each ended (accepted, or which LambdaError)
and any crash, after the whole front end: `lambda_rlm.compile` (parse, imports, names, types,
termination, main's signature) and, for accepted programs, the static bound (`Program.cost`).

Run: python benchmarks/fuzz_front_end.py [--inputs 100000] [--jobs N] [--seed S]
A crash is any exception that is not a `LambdaError`; the script prints each one with its input
and exits 1. Four generators (Hypothesis strategies) share the inputs equally:
  soup     token soup: random sequences of the language's tokens and library names
  mutant   the shipped programs (examples, prelude, task plans) with 1-3 random edits
  printed  random syntax trees of tests/strategies.py, printed with lambda_rlm.pretty
  scoped   well-scoped random programs over the library's combinators (these reach the checker)
tests/test_fuzz_checker.py runs a small sample of the same generators.
"""

from __future__ import annotations

import argparse
import functools
import os
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))

from hypothesis import HealthCheck, Phase, given, settings  # noqa: E402
from hypothesis import seed as hypothesis_seed  # noqa: E402
from hypothesis import strategies as st  # noqa: E402
from strategies import modules  # noqa: E402

import lambda_rlm  # noqa: E402
from lambda_rlm.core.errors import LambdaError  # noqa: E402
from lambda_rlm.core.registry import Library, standard_library  # noqa: E402
from lambda_rlm.lang import syntax as s  # noqa: E402
from lambda_rlm.lang.pretty import UnprintableError, pretty_module  # noqa: E402

KINDS = ("soup", "mutant", "printed", "scoped")
COMBINATORS = (
    "split", "partition", "peek", "tokens", "map", "filter", "filter_map", "fold", "reduce", "concat", "join",
    "lines", "cross", "pairs", "zip", "len", "first", "find", "best", "count", "take", "sort", "unique",
    "flatten", "counts", "merge_counts", "some", "none", "default", "is_some", "fst", "snd", "divide", "recover",
    "tau", "fanout", "contains", "lower", "trim", "show", "parse_int", "float_of",
    "sum", "any", "all", "compose", "id", "most_common", "concat_map", "over_chunks", "extract_all",
)
TOKENS = (
    "let", "in", "if", "then", "else", "def", "import", "llm", "true", "false", "not", "main", "doc", "x", "f",
    "Text", "Int", "Bool", "Float", "List", "Option", "0", "3", "12", "1_000", "2.5", "1e3",
    '"a"', '""', '"{x}"', '"{doc}"', '"""', '"""\n  a {doc}\n  """', '"\\{"',
    "(", ")", "[", "]", "{", "}", ",", ":", "=", ".", "?", "\\", "->", "|>", "||", "&&",
    "==", "!=", "<", "<=", ">", ">=", "++", "+", "-", "*", "/", "%", "-- c\n", "\n", " ", "é", "$",
    *COMBINATORS,
)
LIBRARY = ROOT / "lambda_rlm" / "combinators"
SHIPPED = tuple(p.read_text(encoding="utf-8") for p in sorted(
    [*ROOT.glob("examples/*.lam"), *LIBRARY.glob("*.lam"), *LIBRARY.glob("plans/*.lam")]))

# ------------------------------------------------------------------------------ generators


def soup() -> st.SearchStrategy[str]:
    return st.builds(lambda tokens, sep: sep.join(tokens),
                     st.lists(st.sampled_from(TOKENS), max_size=40), st.sampled_from([" ", "", "\n"]))


def _edit(text: str, op: int, at: int, length: int, token: str) -> str:
    at %= len(text) + 1
    if op == 0:  # delete a span
        return text[:at] + text[at + length:]
    if op == 1:  # insert a token
        return text[:at] + token + text[at:]
    if op == 2:  # replace a span by a token
        return text[:at] + token + text[at + length:]
    lines = text.splitlines(keepends=True)
    if not lines:
        return text
    i, j = at % len(lines), (at + length) % len(lines)
    if op == 3:  # duplicate a line
        return "".join(lines[: i + 1] + lines[i:])
    lines[i], lines[j] = lines[j], lines[i]  # swap two lines
    return "".join(lines)


def mutants() -> st.SearchStrategy[str]:
    edit = st.tuples(st.integers(0, 4), st.integers(0, 10**6), st.integers(1, 12), st.sampled_from(TOKENS))

    def apply(text: str, edits: list[tuple[int, int, int, str]]) -> str:
        for e in edits:
            text = _edit(text, *e)
        return text

    return st.builds(apply, st.sampled_from(SHIPPED), st.lists(edit, min_size=1, max_size=3))


def _printed(module: s.Module) -> str:
    return pretty_module(module)


def printed() -> st.SearchStrategy[str]:
    return modules(2).map(_printed)


# A small typed-ish grammar over names in scope: programs that get past the name check, so the
# type checker, the termination check and the bound see them.
TYPE_NAMES = ("Text", "Int", "Bool", "Float")
FIELDS = ("a", "b", "name")
WORDS = ("w", "a b", "say", "x=", ":", "NONE")


@functools.cache
def _types(depth: int) -> st.SearchStrategy[s.TypeExpr]:
    base: st.SearchStrategy[s.TypeExpr] = st.builds(s.TCon, st.sampled_from(TYPE_NAMES))
    if depth <= 0:
        return st.one_of(base, st.builds(s.TVarE, st.just("a")))
    sub = _types(depth - 1)
    return st.one_of(
        base,
        st.builds(lambda t: s.TCon("List", (t,)), sub),
        st.builds(lambda t: s.TCon("Option", (t,)), sub),
        st.builds(lambda a, b: s.TTupleE((a, b)), sub, sub),
        st.builds(lambda a, b: s.TRecordE((("a", a), ("b", b))), sub, sub),
        st.builds(s.TFunE, sub, sub),
    )


@functools.cache
def _leaves(scope: tuple[str, ...]) -> st.SearchStrategy[s.Expr]:
    return st.one_of(
        st.builds(s.Var, st.sampled_from(scope)),
        st.builds(s.Var, st.sampled_from(scope + COMBINATORS)),
        st.builds(s.IntLit, st.integers(0, 50)),
        st.builds(s.BoolLit, st.booleans()),
        st.builds(s.FloatLit, st.sampled_from([0.5, 2.0])),
        st.builds(lambda w: s.TextLit((w,)), st.sampled_from(WORDS)),
    )


@functools.cache
def _expr(scope: tuple[str, ...], depth: int) -> st.SearchStrategy[s.Expr]:
    """Expressions over the names in `scope` (strategies are cached: building them is costly)."""
    return _draw_expr(scope, depth)


@st.composite
def _draw_expr(draw: st.DrawFn, scope: tuple[str, ...], depth: int) -> s.Expr:
    if depth <= 0 or draw(st.integers(0, 4)) == 0:
        return draw(_leaves(scope))
    sub = _expr(scope, depth - 1)
    kind = draw(st.integers(0, 14))
    fresh = f"v{len(scope)}"
    inner = _expr((*scope, fresh), depth - 1)
    match kind:
        case 0 | 1 | 2:  # a combinator applied to one to four arguments
            expr: s.Expr = s.Var(draw(st.sampled_from(COMBINATORS)))
            for arg in draw(st.lists(sub, min_size=1, max_size=4)):
                expr = s.App(expr, arg)
            return expr
        case 3:
            return s.App(draw(sub), draw(sub))
        case 4:
            annot = draw(st.none() | _types(1))
            return s.Lam((s.Param(fresh, annot),), draw(inner))
        case 5:
            return s.Let(fresh, draw(sub), draw(inner), draw(st.none() | _types(1)))
        case 6:
            return s.If(draw(sub), draw(sub), draw(sub))
        case 7:
            op = draw(st.sampled_from(("||", "&&", "==", "!=", "<", "<=", "++", "+", "-", "*", "/", "%")))
            return s.BinOp(op, draw(sub), draw(sub))
        case 8:
            return s.UnOp(draw(st.sampled_from(("-", "not"))), draw(sub))
        case 9 | 10:  # a leaf, its prompt interpolating something in scope
            prompt = s.TextLit((draw(st.sampled_from(WORDS)), draw(sub)))
            leaf: s.Expr = s.Llm(prompt)
            return s.Annot(leaf, draw(_types(1))) if draw(st.booleans()) else leaf
        case 11:
            return s.ListLit(tuple(draw(st.lists(sub, max_size=3))))
        case 12:
            return s.TupleLit((draw(sub), draw(sub)))
        case 13:
            names_ = draw(st.lists(st.sampled_from(FIELDS), min_size=1, max_size=3, unique=True))
            return s.RecordLit(tuple((n, draw(sub)) for n in names_))
        case _:
            return s.Field(draw(sub), draw(st.sampled_from(FIELDS)))


@st.composite
def _scoped_module(draw: st.DrawFn) -> str:
    defs = []
    scope: tuple[str, ...] = ("doc", "q")
    if draw(st.booleans()):
        helper = s.Def("helper", (s.Param("x", draw(st.none() | _types(1))), s.Param("y")),
                       draw(st.none() | _types(1)), draw(_expr(("x", "y"), 3)))
        defs.append(helper)
        scope = (*scope, "helper")
    text = s.TCon("Text")
    params = (s.Param("doc", text), s.Param("q", draw(st.sampled_from([text, None, s.TCon("Int")]))))
    defs.append(s.Def("main", params, draw(st.none() | _types(2)), draw(_expr(scope, 4))))
    try:
        return pretty_module(s.Module((), tuple(defs)))
    except UnprintableError:
        return "def main (doc : Text) = doc"


@functools.cache
def scoped() -> st.SearchStrategy[str]:
    return _scoped_module()


GENERATORS: dict[str, Callable[[], st.SearchStrategy[str]]] = {
    "soup": soup, "mutant": mutants, "printed": printed, "scoped": scoped}

# ---------------------------------------------------------------------------- the check


def check(source: str, library: Library) -> str:
    """How the front end ends on `source`: "accepted", a LambdaError's kind, or "CRASH <type>: …"."""
    try:
        # A trailing newline keeps compile from reading a one-line source ending in .lam as a path.
        program = lambda_rlm.compile(source + "\n", library=library, name="<fuzz>")
        if program.main is not None:
            program.cost(input_tokens=len(source) * 97 % 2_000_000, window=8192)
        return "accepted"
    except LambdaError as exc:
        return exc.kind
    except RecursionError:
        return "CRASH RecursionError"
    except Exception as exc:  # noqa: BLE001 - finding these is the point
        return f"CRASH {type(exc).__name__}: {str(exc)[:200]}"


def fuzz(kind: str, count: int, seed: int, strategy: st.SearchStrategy[str] | None = None,
         ) -> tuple[Counter[str], list[tuple[str, str]]]:
    """Run `count` inputs of one generator (or of `strategy`); give the outcome counts and the
    crashes with their inputs."""
    library = standard_library()
    outcomes: Counter[str] = Counter()
    crashes: list[tuple[str, str]] = []

    @hypothesis_seed(seed)
    @settings(max_examples=count, deadline=None, database=None, phases=[Phase.generate],
              suppress_health_check=list(HealthCheck))
    @given(strategy if strategy is not None else GENERATORS[kind]())
    def one(source: str) -> None:
        outcome = check(source, library)
        outcomes["accepted" if outcome == "accepted" else outcome.split(":")[0]] += 1
        if outcome.startswith("CRASH"):
            crashes.append((outcome, source))

    with tempfile.TemporaryDirectory() as empty:
        cwd = os.getcwd()
        os.chdir(empty)  # file imports of string sources resolve here: an empty folder
        try:
            one()
        finally:
            os.chdir(cwd)
    return outcomes, crashes


def _job(args: tuple[str, int, int]) -> tuple[str, Counter[str], list[tuple[str, str]], float]:
    kind, count, seed = args
    start = time.perf_counter()
    outcomes, crashes = fuzz(kind, count, seed)
    return kind, outcomes, crashes, time.perf_counter() - start


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--inputs", type=int, default=100_000, help="total inputs (default 100,000)")
    parser.add_argument("--jobs", type=int, default=os.cpu_count() or 1, help="worker processes")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    per_kind = -(-args.inputs // len(KINDS))
    chunks = max(1, args.jobs) * 2  # several chunks per kind, so the workers stay busy
    work = [(kind, -(-per_kind // chunks), args.seed * 1000 + i) for kind in KINDS for i in range(chunks)]
    start = time.perf_counter()
    totals: dict[str, Counter[str]] = {k: Counter() for k in KINDS}
    crashes: list[tuple[str, str]] = []
    with ProcessPoolExecutor(max_workers=args.jobs) as pool:
        for kind, outcomes, found, _ in pool.map(_job, work):
            totals[kind].update(outcomes)
            crashes.extend(found)
    wall = time.perf_counter() - start
    kinds = sorted({o for c in totals.values() for o in c}, key=lambda o: (o.startswith("CRASH"), o))
    print(f"{'outcome':<20}" + "".join(f"{k:>10}" for k in KINDS) + f"{'total':>10}")
    for outcome in kinds:
        row = [totals[k][outcome] for k in KINDS]
        print(f"{outcome:<20}" + "".join(f"{n:>10,}" for n in row) + f"{sum(row):>10,}")
    count = sum(sum(c.values()) for c in totals.values())
    print(f"{'inputs':<20}" + "".join(f"{sum(totals[k].values()):>10,}" for k in KINDS) + f"{count:>10,}")
    print(f"{count:,} inputs in {wall:.1f} s ({args.jobs} processes, {count / wall:,.0f} inputs/s), "
          f"{len(crashes)} crashes")
    by_kind: dict[str, list[str]] = {}
    for outcome, source in crashes:
        by_kind.setdefault(outcome, []).append(source)
    for outcome, sources in by_kind.items():  # each distinct crash once, with its shortest input
        print(f"\n{outcome} ({len(sources)} inputs); the shortest:\n{min(sources, key=len)}")
    return 1 if crashes else 0


if __name__ == "__main__":
    sys.exit(main())
