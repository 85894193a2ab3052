"""lambda-rlm: typed recursive LLM programs over long documents (compile, bound, run).

Importing the package is cheap and offline: nothing here touches the disk, the network or litellm;
the parser, the library and the model client load on first use.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .errors import (
    BudgetExceeded,
    ConfigError,
    CostError,
    EvalError,
    ImportError_,
    LambdaError,
    LeafError,
    NameError_,
    ParseError,
    TerminationError,
    TypeError_,
)

if TYPE_CHECKING:
    from .ask_compiler import aask, ask
    from .program import Program, compile
    from .runtime import Config, Result, arun, run

__version__ = "0.1.0"

_LAZY = {
    "compile": "program", "Program": "program",
    "run": "runtime", "arun": "runtime", "Config": "runtime", "Result": "runtime",
    "ask": "ask_compiler", "aask": "ask_compiler",
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        from importlib import import_module

        return getattr(import_module(f".{_LAZY[name]}", __name__), name)
    raise AttributeError(f"module 'lambda_rlm' has no attribute {name!r}")


__all__ = [
    "BudgetExceeded", "ConfigError", "CostError", "EvalError", "ImportError_", "LambdaError", "LeafError",
    "NameError_", "ParseError", "TerminationError", "TypeError_", "compile", "Program", "run", "arun",
    "Config", "Result", "ask", "aask",
]
