"""One error hierarchy: every user-facing failure has a kind, a message, an optional span, notes and an exit code.

The exit codes are the command line's (README, "Exit codes"): 1 the program is invalid (syntax,
type, termination, cost, import); 2 usage; 3 the run failed (a leaf, a runtime error); 4 a budget
refused or stopped the run; 5 configuration (model, key, input file); 130 interrupted. Each class
carries its own, so the CLI maps an error to its code without a table of classes.
"""

from __future__ import annotations

from collections.abc import Iterable
from difflib import get_close_matches
from typing import Any

from .source import Span

EXIT_OK, EXIT_INVALID, EXIT_USAGE, EXIT_RUN, EXIT_BUDGET, EXIT_CONFIG, EXIT_INTERRUPT = 0, 1, 2, 3, 4, 5, 130
EXIT_CLOSED_PIPE = 141  # the reader of stdout went away (`| head -1`), as for a shell's SIGPIPE


class LambdaError(Exception):
    """Base of every error the project raises to its users."""

    kind = "error"
    exit_code = EXIT_INVALID

    def __init__(self, message: str, span: Span | None = None, notes: Iterable[str] = ()) -> None:
        super().__init__(message)
        self.message = message
        self.span = span
        self.notes = tuple(notes)

    def format(self) -> str:
        """`file:line:col: kind: message`, then the source line with a caret, then notes."""
        head = f"{self.kind}: {self.message}"
        lines = [f"{self.span.location()}: {head}" if self.span and self.span.source.text else head]
        if self.span is not None and self.span.source.text:
            lines.append(self.span.excerpt())
        lines.extend(f"  note: {note}" for note in self.notes)
        return "\n".join(lines)

    def __str__(self) -> str:
        return self.format()


class ParseError(LambdaError):
    kind = "syntax error"


class ModuleImportError(LambdaError):
    """A `.lam` module that cannot be found or loaded by `import`."""

    kind = "import error"


class UnboundNameError(LambdaError):
    """A name with no definition in scope (or a program without the `main` it needs)."""

    kind = "name error"


class TypeCheckError(LambdaError):
    """An expression whose type is not the one its use needs."""

    kind = "type error"


class TerminationError(LambdaError):
    kind = "termination error"


class CostError(LambdaError):
    kind = "cost error"


class EvalError(LambdaError):
    """A deterministic runtime failure (division by zero, empty list to `best`, ...)."""

    kind = "runtime error"
    exit_code = EXIT_RUN


class LeafError(LambdaError):
    """An LLM leaf that still failed after its retries (or could not be decoded)."""

    kind = "leaf error"
    exit_code = EXIT_RUN


class HoleError(LambdaError):
    """A typed hole whose body the model did not write acceptably within its re-asks."""

    kind = "hole error"
    exit_code = EXIT_RUN  # the run failed, as for a leaf; the program itself was valid


class BudgetExceeded(LambdaError):
    """A budget (calls, tokens, dollars, deadline) that refused the run before it began, or stopped it."""

    kind = "budget exceeded"
    exit_code = EXIT_BUDGET


class BudgetRefusal(BudgetExceeded):
    """A reservation refused because it would pass `limit`; carries the figures for traces."""

    def __init__(self, limit: str, used: float, asked: float, allowed: float, message: str) -> None:
        super().__init__(message)
        self.limit = limit
        self.used = used
        self.asked = asked
        self.allowed = allowed


class SearchCutOff(BudgetExceeded):
    """A budget (dollars, deadline, tokens) ended a program search; `outcomes` keeps the finished candidates."""

    def __init__(self, message: str, outcomes: tuple[Any, ...], notes: list[str]) -> None:
        super().__init__(message, notes=notes)
        self.outcomes = outcomes  # search.Outcome, one per finished candidate


class ConfigError(LambdaError):
    """Bad options or environment: unknown model, missing key, bad input file."""

    kind = "configuration error"
    exit_code = EXIT_CONFIG


# The names before 0.2, kept for one release: they shadowed Python's built-ins but for a trailing `_`.
ImportError_ = ModuleImportError
NameError_ = UnboundNameError
TypeError_ = TypeCheckError


def did_you_mean(name: str, known: Iterable[str]) -> list[str]:
    """A note suggesting the closest known names, or nothing."""
    close = get_close_matches(name, sorted(set(known)), n=3, cutoff=0.6)
    if not close:
        return []
    return ["did you mean " + " or ".join(f"'{c}'" for c in close) + "?"]
