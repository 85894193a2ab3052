"""lambda-rlm: typed recursive LLM programs over long documents (compile, bound, run).

Importing the package is cheap and offline: nothing here touches the disk, the network or litellm;
the parser, the library and the model client load on first use. Everything the README uses is
exported here, so user code needs no path inside the package (those paths are moving, issue 12).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from lambda_rlm.core import VERSION, moved
from lambda_rlm.core.errors import (
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
    from lambda_rlm.analysis.cost import Bound, Leaves
    from lambda_rlm.analysis.holes import HoleLimits
    from lambda_rlm.analysis.program import Program, compile
    from lambda_rlm.core import events
    from lambda_rlm.core.registry import Combinator, combinator, standard_library
    from lambda_rlm.models.providers import ContextTooLong, Provider, Reply, Request, in_process
    from lambda_rlm.models.settings import Limits, ModelSettings
    from lambda_rlm.runtime.config import Config
    from lambda_rlm.runtime.session import Planned, Result, Session, arun, prepare, run
    from lambda_rlm.strategies.ask import aask, ask
    from lambda_rlm.strategies.plan import AskResult, Choice
    from lambda_rlm.strategies.search import SearchResult
    from lambda_rlm.strategies.strategy import Strategy, strategy
    from lambda_rlm.strategies.task_types import TaskType

__version__ = VERSION

# name -> the module (relative to this package) that defines it, imported on first use.
_LAZY = {
    "compile": "analysis.program", "Program": "analysis.program", "Bound": "analysis.cost",
    "run": "runtime.session", "arun": "runtime.session", "Config": "runtime.config",
    "ModelSettings": "models.settings", "Limits": "models.settings", "Leaves": "analysis.cost",
    "HoleLimits": "analysis.holes", "Result": "runtime.session",
    "prepare": "runtime.session", "Planned": "runtime.session", "Session": "runtime.session",
    "ask": "strategies.ask", "aask": "strategies.ask",
    "AskResult": "strategies.plan", "Choice": "strategies.plan", "SearchResult": "strategies.search",
    "combinator": "core.registry", "Combinator": "core.registry", "standard_library": "core.registry",
    "Provider": "models.providers", "in_process": "models.providers", "Request": "models.providers",
    "Reply": "models.providers", "ContextTooLong": "models.providers", "TaskType": "strategies.task_types",
    "Strategy": "strategies.strategy", "strategy": "strategies.strategy",
}
moved.install()  # old module paths (lambda_rlm.ask_compiler, …) resolve to their new homes for one release


def __getattr__(name: str) -> Any:
    if name == "events":  # the run events' module: `from lambda_rlm import events`
        from importlib import import_module

        return import_module(".core.events", __name__)
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
    "run", "arun", "Config", "ModelSettings", "Limits", "Leaves", "HoleLimits", "Result", "prepare", "Planned",
    "Session",
    # asking
    "ask", "aask", "AskResult", "Choice", "SearchResult", "Strategy", "strategy",
    # extending
    "combinator", "Combinator", "standard_library", "Provider", "in_process", "Request", "Reply", "ContextTooLong",
    "TaskType",
    # what a run reports
    "events",
]
