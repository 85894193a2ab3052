"""Old module paths: takes an import of a module from before the phase folders, gives the module it moved to.

The package was flat until 0.1 (issue 12). For one release `import lambda_rlm.ask_compiler` and the
like still work: a finder on `sys.meta_path` (installed by `lambda_rlm/__init__.py`) answers the
old names with the new modules, with a DeprecationWarning that names the new path.
"""

from __future__ import annotations

import importlib
import importlib.abc
import importlib.machinery
import importlib.util
import sys
import warnings
from types import ModuleType
from typing import Any

# old module (under lambda_rlm.) -> new module (under lambda_rlm.)
MOVED = {
    "source": "core.source", "errors": "core.errors", "types": "core.types", "values": "core.values",
    "registry": "core.registry",
    "tokens": "text.tokens", "chunking": "text.chunking",
    "syntax": "lang.syntax", "parser": "lang.parser", "pretty": "lang.pretty", "typecheck": "lang.typecheck",
    "absdomain": "analysis.absdomain", "holes": "analysis.holes", "cost": "analysis.cost",
    "partition": "analysis.partition", "program": "analysis.program",
    "backend": "models.backend", "providers": "models.providers", "decode": "models.decode",
    "budget": "models.budget", "cache": "models.cache", "llm": "models.llm", "local": "models.local",
    "model_files": "models.model_files",
    "evaluator": "runtime.evaluator", "expand": "runtime.expand", "trace": "runtime.trace",
    "ask_compiler": "strategies.plan", "search": "strategies.search", "graph": "strategies.graph",
    "tasks": "bench.tasks",
    "ask_cli": "cli.ask", "bench_cli": "cli.bench", "cli_options": "cli.options", "progress": "cli.progress",
}  # fmt: skip
# Old modules whose name is now a package: their names resolve through one module of it.
FORWARDED = {"runtime": "session", "bench": "runner", "cli": "app"}
PACKAGE = "lambda_rlm"


def new_name(old: str) -> str | None:
    """The module `old` (a dotted name) now lives at, or None when it did not move."""
    if not old.startswith(PACKAGE + "."):
        return None
    rest = old[len(PACKAGE) + 1 :]
    head, dot, tail = rest.partition(".")
    if head not in MOVED or (head == "tasks" and tail.startswith("_")):
        return None
    return f"{PACKAGE}.{MOVED[head]}{dot}{tail}"


def _warn(old: str, new: str) -> None:
    warnings.warn(f"{old} moved to {new}; the old path goes in the next release", DeprecationWarning, stacklevel=3)


class _Alias(importlib.abc.Loader):
    """Loads an old name as the module it moved to (the same module object, not a copy)."""

    def __init__(self, target: str) -> None:
        self.target = target
        self.real_spec: importlib.machinery.ModuleSpec | None = None

    def create_module(self, spec: importlib.machinery.ModuleSpec) -> ModuleType:
        module = importlib.import_module(self.target)
        self.real_spec = module.__spec__
        return module

    def exec_module(self, module: ModuleType) -> None:
        # The import system stamped the alias's spec on the real module; give it its own back.
        module.__spec__ = self.real_spec


class MovedFinder(importlib.abc.MetaPathFinder):
    """Finds each old module name as an alias of the module it moved to."""

    def find_spec(self, fullname: str, path: Any = None, target: Any = None) -> importlib.machinery.ModuleSpec | None:
        new = new_name(fullname)
        if new is None:
            return None
        _warn(fullname, new)
        return importlib.machinery.ModuleSpec(fullname, _Alias(new))


def install() -> None:
    """Put the finder on `sys.meta_path` once, first: an old submodule (`lambda_rlm.tasks.reference`)
    would otherwise be found again through its moved parent's path and loaded as a second copy.
    It answers only the old names, none of which is a module today."""
    if not any(isinstance(f, MovedFinder) for f in sys.meta_path):
        sys.meta_path.insert(0, MovedFinder())


def forward(package: str, module: str, name: str) -> Any:
    """`name` from `package.module`, for an old module that became `package` (with a warning)."""
    if name.startswith("__"):
        raise AttributeError(f"module {package!r} has no attribute {name!r}")
    if importlib.util.find_spec(f"{package}.{name}") is not None:  # a submodule not imported yet
        return importlib.import_module(f"{package}.{name}")
    found = importlib.import_module(f"{package}.{module}")
    try:
        value = getattr(found, name)
    except AttributeError:
        raise AttributeError(f"module {package!r} has no attribute {name!r}") from None
    _warn(f"{package}.{name}", f"{package}.{module}.{name}")
    return value
