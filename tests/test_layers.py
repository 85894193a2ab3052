"""The package's import graph, read from the source: circles, imports that run back up, stray benchmark imports.

Every `import` and `from … import` of a `lambda_rlm` module counts: at the top of a module, inside
a function body, and under `if TYPE_CHECKING:` (a type-only import is still a dependency of the
design). The package has no circles, and every import points down the phases (LAYERS). The
second half builds small graphs with a circle, a stray import and an upward import to prove the
checks can fail.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator, Mapping
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = "lambda_rlm"
BENCH_PACKAGE = "lambda_rlm.bench"
# The phases, lowest first: a module may import its own phase and the ones below it, never one
# above. The package facade (`lambda_rlm/__init__.py`, `__main__`) sits on top of them all.
LAYERS = ("core", "text", "lang", "analysis", "models", "runtime", "strategies", "combinators", "bench", "cli")
# Modules that may import the benchmark package besides its own: the command line.
MAY_IMPORT_BENCH_PREFIX = "lambda_rlm.cli"


def layer(name: str) -> int:
    """The rank of a module's phase folder; the facade ranks above every phase."""
    parts = name.split(".")
    if len(parts) > 1 and parts[1] in LAYERS:
        return LAYERS.index(parts[1])
    return len(LAYERS)


def upward(edges: Mapping[str, set[str]]) -> set[tuple[str, str]]:
    """Every import from a lower phase into a higher one."""
    return {(m, t) for m, targets in edges.items() for t in targets if layer(t) > layer(m)}


def module_names() -> dict[str, Path]:
    """Dotted name -> source file, for every module of the installed package."""
    out: dict[str, Path] = {}
    for path in sorted((ROOT / PACKAGE).rglob("*.py")):
        parts = path.relative_to(ROOT).with_suffix("").parts
        if parts[-1] == "__init__":
            parts = parts[:-1]
        out[".".join(parts)] = path
    return out


def imports_of(name: str, source: str, is_package: bool, known: set[str]) -> set[str]:
    """The known modules that a module's source imports when it runs."""
    tree = ast.parse(source)
    base = name if is_package else name.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom):
            anchor = base
            for _ in range(node.level - 1):
                anchor = anchor.rpartition(".")[0]
            target = (f"{anchor}.{node.module}" if node.module else anchor) if node.level else (node.module or "")
            submodules = {f"{target}.{a.name}" for a in node.names} & known  # `from . import syntax`
            found.update(submodules)
            if len(submodules) < len(node.names):  # a name defined in the module itself
                found.add(target)
    return {m for m in found if m in known and m != name}


def packages_run(name: str, source: str, is_package: bool, known: set[str]) -> set[str]:
    """The packages whose `__init__` a module's `from PACKAGE import submodule` runs first."""
    base = name if is_package else name.rpartition(".")[0]
    found = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.ImportFrom) and node.names:
            anchor = base
            for _ in range(node.level - 1):
                anchor = anchor.rpartition(".")[0]
            target = (f"{anchor}.{node.module}" if node.module else anchor) if node.level else (node.module or "")
            found.add(target)
    return {m for m in found if m in known and m != name}


def graph() -> dict[str, set[str]]:
    names = module_names()
    known = set(names)
    edges = {}
    for n, p in names.items():
        source, is_package = p.read_text(encoding="utf-8"), p.name == "__init__.py"
        edges[n] = imports_of(n, source, is_package, known) | packages_run(n, source, is_package, known)
    return edges


def circles(edges: Mapping[str, set[str]]) -> set[frozenset[str]]:
    """The strongly connected components of more than one module (Tarjan, iteratively)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    out: set[frozenset[str]] = set()
    for root in edges:
        if root in index:
            continue
        work: list[tuple[str, Iterator[str]]] = [(root, iter(sorted(edges.get(root, ()))))]
        index[root] = low[root] = len(index)
        stack.append(root)
        on_stack.add(root)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = len(index)
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(edges.get(child, ())))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                component = set()
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.add(member)
                    if member == node:
                        break
                if len(component) > 1:
                    out.add(frozenset(component))
    return out


def bench_importers(edges: Mapping[str, set[str]], sources: Mapping[str, str]) -> set[str]:
    """Modules outside the benchmark package that import it, or name it in a string (a lazy import)."""
    out = set()
    for name, targets in edges.items():
        if name == BENCH_PACKAGE or name.startswith(BENCH_PACKAGE + "."):
            continue
        imports = any(t == BENCH_PACKAGE or t.startswith(BENCH_PACKAGE + ".") for t in targets)
        text = sources.get(name, "")
        if imports or f'"{BENCH_PACKAGE}' in text or f"'{BENCH_PACKAGE}" in text:
            out.add(name)
    return out


def test_no_import_circles() -> None:
    found = circles(graph())
    assert not found, f"import circles: {[sorted(c) for c in found]}"


def test_no_phase_imports_a_phase_above_it() -> None:
    found = upward(graph())
    assert not found, f"imports that run back up: {sorted(found)}"


def test_every_module_lives_in_a_phase_folder() -> None:
    loose = [n for n in module_names() if layer(n) == len(LAYERS) and n not in {PACKAGE, f"{PACKAGE}.__main__"}]
    assert not loose, f"modules outside the phase folders: {loose}"


def test_only_the_benchmarks_and_the_command_line_import_the_benchmark_package() -> None:
    sources = {n: p.read_text(encoding="utf-8") for n, p in module_names().items()}
    stray = {n for n in bench_importers(graph(), sources) if not n.startswith(MAY_IMPORT_BENCH_PREFIX)}
    assert not stray, stray


def test_the_graph_sees_relative_top_level_function_body_and_type_only_imports() -> None:
    known = {"pkg", "pkg.a", "pkg.b", "pkg.sub", "pkg.sub.c"}
    source = "from . import a\nfrom .sub.c import x\ndef f():\n    from .b import y\n"
    source += "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from .sub import c\n"
    assert imports_of("pkg.m", source, False, known) == {"pkg.a", "pkg.sub.c", "pkg.b"}
    assert imports_of("pkg.sub.c", "from .. import b\n", False, known) == {"pkg.b"}
    assert imports_of("pkg.sub.c", "from .. import b, version\n", False, known) == {"pkg", "pkg.b"}


def test_the_checks_catch_a_circle_and_a_stray_import_of_the_benchmark_package() -> None:
    edges = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}, "e": {"e"}}
    assert circles(edges) == {frozenset({"a", "b", "c"})}
    edges2 = {"lambda_rlm.models.llm": {"lambda_rlm.bench.tasks.base"}, "lambda_rlm.bench.tasks.base": set(),
              "lambda_rlm.models.x": set()}
    found = bench_importers(edges2, {"lambda_rlm.models.x": 'PLUGIN = "lambda_rlm.bench.tasks.reference:PROVIDER"'})
    assert found == {"lambda_rlm.models.llm", "lambda_rlm.models.x"}
    edges3 = {"lambda_rlm.core.errors": {"lambda_rlm.runtime.trace"}, "lambda_rlm.cli.app": {"lambda_rlm.core.errors"}}
    assert upward(edges3) == {("lambda_rlm.core.errors", "lambda_rlm.runtime.trace")}


def test_a_package_whose_init_imports_its_modules_is_a_circle_with_them() -> None:
    """`from . import options` runs the package's `__init__` first: if that imports the module that
    imports `options`, the three are a circle (cli/__init__ → app → ask → cli was one)."""
    known = {"pkg", "pkg.app", "pkg.ask", "pkg.options"}
    assert packages_run("pkg.ask", "def f():\n    from . import options\n", False, known) == {"pkg"}
    edges = {"pkg": {"pkg.app"}, "pkg.app": {"pkg.ask"}, "pkg.ask": {"pkg", "pkg.options"}, "pkg.options": set()}
    assert circles(edges) == {frozenset({"pkg", "pkg.app", "pkg.ask"})}
