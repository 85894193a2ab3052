"""lambda-rlm: typed recursive LLM programs over long documents (compile, bound, run).

Importing the package is cheap and offline: nothing here touches the disk, the network or litellm;
the parser, the library and the model client load on first use. Everything the README uses is
exported here, so user code needs no path inside the package (those paths are moving, issue 12).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .errors import (
    BudgetExceeded,
    ConfigError,
    CostError,
    EvalError,
    HoleError,
    ImportError_,
    LambdaError,
    LeafError,
    ModuleImportError,
    NameError_,
    ParseError,
    SearchCutOff,
    TerminationError,
    TypeCheckError,
    TypeError_,
    UnboundNameError,
)

if TYPE_CHECKING:
    from .ask_compiler import AskResult, Choice, aask, ask
    from .cost import Bound
    from .program import Program, compile
    from .providers import Provider
    from .registry import Combinator, combinator, standard_library
    from .runtime import Config, Result, arun, run
    from .search import SearchResult

__version__ = "0.1.0"

# name -> the module (relative to this package) that defines it, imported on first use.
_LAZY = {
    "compile": "program", "Program": "program",
    "run": "runtime", "arun": "runtime", "Config": "runtime", "Result": "runtime",
    "ask": "ask_compiler", "aask": "ask_compiler", "AskResult": "ask_compiler", "Choice": "ask_compiler",
    "SearchResult": "search",
    "Bound": "cost",
    "combinator": "registry", "Combinator": "registry", "standard_library": "registry",
    "Provider": "providers",
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        from importlib import import_module

        return getattr(import_module(f".{_LAZY[name]}", __name__), name)
    raise AttributeError(f"module 'lambda_rlm' has no attribute {name!r}")


__all__ = [
    # errors, each with its exit code (`exc.exit_code`); the `_`-suffixed names are the old ones
    "LambdaError", "ParseError", "ModuleImportError", "UnboundNameError", "TypeCheckError", "TerminationError",
    "CostError", "EvalError", "LeafError", "HoleError", "BudgetExceeded", "SearchCutOff", "ConfigError",
    "ImportError_", "NameError_", "TypeError_",
    # compiling and bounding
    "compile", "Program", "Bound",
    # running
    "run", "arun", "Config", "Result",
    # asking
    "ask", "aask", "AskResult", "Choice", "SearchResult",
    # extending
    "combinator", "Combinator", "standard_library", "Provider",
]
