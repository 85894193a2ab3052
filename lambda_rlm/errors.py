"""One error hierarchy: every user-facing failure has a kind, a message, an optional span and notes."""

from __future__ import annotations

from collections.abc import Iterable
from difflib import get_close_matches

from .source import Span


class LambdaError(Exception):
    """Base of every error the project raises to its users."""

    kind = "error"

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


class ImportError_(LambdaError):
    kind = "import error"


class NameError_(LambdaError):
    kind = "name error"


class TypeError_(LambdaError):
    kind = "type error"


class TerminationError(LambdaError):
    kind = "termination error"


class CostError(LambdaError):
    kind = "cost error"


class EvalError(LambdaError):
    """A deterministic runtime failure (division by zero, empty list to `best`, ...)."""

    kind = "runtime error"


class LeafError(LambdaError):
    """An LLM leaf that still failed after its retries (or could not be decoded)."""

    kind = "leaf error"


class HoleError(LambdaError):
    """A typed hole whose body the model did not write acceptably within its re-asks."""

    kind = "hole error"


class BudgetExceeded(LambdaError):
    kind = "budget exceeded"


class ConfigError(LambdaError):
    """Bad options or environment: unknown model, missing key, bad input file."""

    kind = "configuration error"


def did_you_mean(name: str, known: Iterable[str]) -> list[str]:
    """A note suggesting the closest known names, or nothing."""
    close = get_close_matches(name, sorted(set(known)), n=3, cutoff=0.6)
    if not close:
        return []
    return ["did you mean " + " or ".join(f"'{c}'" for c in close) + "?"]
