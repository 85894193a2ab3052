"""The package's import graph, read from the source: import circles and imports of the benchmark package.

Every `import` and `from … import` of a `lambda_rlm` module counts: at the top of a module, inside
a function body, and under `if TYPE_CHECKING:` (a type-only import is still a dependency of the
design). The circles that are there today are listed by name: issue 12 cuts them, and this test
fails when a new one appears or when one is cut without the list being updated. The second half builds small graphs
with a circle and a stray import to prove the checks can fail.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator, Mapping
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
# The installed package name of each source folder (pyproject.toml's package-dir).
FOLDERS = {"lambda_rlm": "lambda_rlm", "combinators": "lambda_rlm.combinators", "tasks": "lambda_rlm.tasks"}
BENCH_PACKAGE = "lambda_rlm.tasks"
# Modules that may import the benchmark package: the runner and the command line.
MAY_IMPORT_BENCH = frozenset({"lambda_rlm.bench", "lambda_rlm.bench_cli", "lambda_rlm.cli"})
# The circles on main when issue 12 was filed, less those cut since: cli/ask_cli/bench_cli (the
# shared options moved to cli_options), backend/llm (LLMConfig moved to backend) and cost/holes
# (holes reads its limits through a protocol). Strike the last one when it is cut.
KNOWN_CIRCLES = frozenset({
    frozenset({"lambda_rlm.ask_compiler", "lambda_rlm.search"}),
})


def module_names() -> dict[str, Path]:
    """Dotted name -> source file, for every module of the installed package."""
    out: dict[str, Path] = {}
    for folder, package in FOLDERS.items():
        for path in sorted((ROOT / folder).rglob("*.py")):
            parts = path.relative_to(ROOT / folder).with_suffix("").parts
            if parts[-1] == "__init__":
                parts = parts[:-1]
            out[".".join((package, *parts))] = path
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


def graph() -> dict[str, set[str]]:
    names = module_names()
    known = set(names)
    return {n: imports_of(n, p.read_text(encoding="utf-8"), p.name == "__init__.py", known) for n, p in names.items()}


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


def test_no_import_circle_beyond_the_ones_issue_12_cuts() -> None:
    found = circles(graph())
    new = found - KNOWN_CIRCLES
    assert not new, f"new import circles: {[sorted(c) for c in new]}"
    gone = KNOWN_CIRCLES - found
    assert not gone, f"circles cut (strike them from KNOWN_CIRCLES): {[sorted(c) for c in gone]}"


def test_only_the_runner_and_the_command_line_import_the_benchmark_package() -> None:
    sources = {n: p.read_text(encoding="utf-8") for n, p in module_names().items()}
    assert bench_importers(graph(), sources) <= MAY_IMPORT_BENCH


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
    edges2 = {"lambda_rlm.llm": {"lambda_rlm.tasks.base"}, "lambda_rlm.tasks.base": set(), "lambda_rlm.x": set()}
    found = bench_importers(edges2, {"lambda_rlm.x": 'PLUGIN = "lambda_rlm.tasks.reference:PROVIDER"'})
    assert found == {"lambda_rlm.llm", "lambda_rlm.x"}
