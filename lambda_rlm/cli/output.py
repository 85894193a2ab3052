"""The `--json` document: takes what a subcommand did, or the error that stopped it, gives the JSON object it prints.

Every `--json` mode of `check`, `run` and `ask` (`--dry-run`, `--search K`) prints exactly one
object on stdout with the same keys, those a mode does not fill being null; `schema` names its
version, and `error` is null on success or says why the command failed (its exit code too). The
JSON Schema is `output.schema.json` beside this module.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

SCHEMA = "lambda-rlm/output/2"
KEYS = (
    "schema", "command", "date", "model", "question",
    "value", "type", "task", "plan", "confident", "used_model", "note", "source",
    "calls", "total_calls", "cache_hits", "requests", "prompt_tokens", "completion_tokens", "cost_usd", "wall_s",
    "pieces_read", "bound", "leaves", "winner", "why", "candidates", "error",
)


def document(command: str, compact: bool = False, **fields: Any) -> str:
    """The JSON text of one output document: `fields` over a null for every other key; on one line
    when `compact` (`ask` with several questions prints one document a line)."""
    unknown = set(fields) - set(KEYS)
    if unknown:
        raise ValueError(f"not keys of the output document: {sorted(unknown)}")
    doc = dict.fromkeys(KEYS)
    doc.update(fields, schema=SCHEMA, command=command, date=datetime.now(UTC).isoformat(timespec="seconds"))
    return json.dumps(doc, ensure_ascii=False, indent=None if compact else 2, default=str)


def error(exc: Any) -> dict[str, Any]:
    """The `error` object of a LambdaError."""
    span = getattr(exc, "span", None)
    location = span.location() if span is not None and span.source.text else None
    return {"kind": exc.kind, "message": exc.message, "exit_code": exc.exit_code, "location": location,
            "notes": list(exc.notes)}
