"""Leaf formats: takes a leaf's result type, gives the instruction and re-ask texts a leaf adds to its prompt.

The runtime sends them (models/decode.py decodes the replies), and the static bound counts them
(Program.cost, `check`), so they live below both: a constant instruction per type, so that
servers can share prompt prefixes, and a re-ask whose quoted error is cut to REASK_ERROR_BYTES.
"""

from __future__ import annotations

import json
from collections.abc import Callable

from . import types as t

_PREAMBLE = "You answer one request precisely, using only the text you are given."
NONE_WORD = "NONE"


def is_json_type(type_: t.Type) -> bool:
    """Whether replies of this type are JSON (lists, records, tuples, labels, or options of those)."""
    match type_:
        case t.TLabels():
            return True
        case t.TCon("Option", (inner,)):
            return is_json_type(inner)
        case t.TCon("List", _) | t.TRecord() | t.TTuple():
            return True
    return False


def fails_only_when_blank(type_: t.Type) -> bool:
    """Whether every reply that is not blank decodes to this type (Text, Option Text): a re-ask of
    such a leaf shows no bad reply, so the bound keeps no room for one."""
    match type_:
        case t.TCon("Text"):
            return True
        case t.TCon("Option", (inner,)):
            return not is_json_type(inner) and fails_only_when_blank(inner)
    return False


def instruction(type_: t.Type) -> str:
    """The system message for leaves of this type: a constant per type, so prefixes are shared."""
    return f"{_PREAMBLE} {_format(type_)}"


def _format(type_: t.Type) -> str:
    match type_:
        case t.TCon("Text"):
            return "Reply with the answer only, as plain text, without preamble."
        case t.TCon("Int"):
            return "Reply with a single integer and nothing else."
        case t.TCon("Float"):
            return "Reply with a single number and nothing else."
        case t.TCon("Bool"):
            return "Reply with yes or no and nothing else."
        case t.TCon("Option", (inner,)) if is_json_type(inner):
            return (
                f"{_format(inner)} If the answer is absent from the text, reply {NONE_WORD} "
                "instead of JSON."
            )
        case t.TCon("Option", (inner,)):
            return f"{_format(inner)} If the answer is absent from the text, reply {NONE_WORD}."
        case t.TLabels(keys) if not all(k.isdigit() for k in keys):
            return "Reply with a JSON object that gives one of the offered choices for each key it asks for."
        case t.TLabels():
            # Constant per type shape (the keys and choices are in the prompt), so prefixes are shared.
            return ("Reply with a JSON object that maps the number of every item you are given to its "
                    "label, in order, one entry per item and nothing else.")
    return (
        "Reply with one JSON value of this shape and nothing else (no prose, no code fences): "
        f"{shape(type_)}"
    )


# The error quoted in a re-ask is cut to this many UTF-8 bytes, so (tokens <= bytes) the static
# bound can keep room for a re-ask: reask_room(type) tokens plus one bad reply.
REASK_ERROR_BYTES = 240


def instruction_budget(type_: t.Type, count: Callable[[str], int], output_tokens: int, reasks: bool) -> int:
    """The tokens a leaf of this type adds to its prompt besides the prompt itself: the format
    instruction, and when re-asks are on, room for one re-ask (the bad reply, at most
    `output_tokens`, none for a type whose only bad reply is blank, and the correction, whose
    quoted error is capped at REASK_ERROR_BYTES bytes, so at most that many tokens)."""
    tokens = int(count(instruction(type_)))
    if reasks:
        bad_reply = 0 if fails_only_when_blank(type_) else output_tokens
        tokens += bad_reply + int(count(reask("", type_))) + REASK_ERROR_BYTES
    return tokens


def instruction_counter(count: Callable[[str], int], output_tokens: int, reasks: bool) -> Callable[[t.Type], int]:
    """`instruction_budget` for one tokenizer and output limit, counted once per type: the bound's
    analysis asks at every leaf it visits, and the instructions are constant per type."""
    counted: dict[t.Type, int] = {}

    def tokens(type_: t.Type) -> int:
        if type_ not in counted:
            counted[type_] = instruction_budget(type_, count, output_tokens, reasks)
        return counted[type_]

    return tokens


def reask(error: Exception | str, type_: t.Type) -> str:
    """The user message that re-asks after a reply failed to decode."""
    said = str(error).encode()
    if len(said) > REASK_ERROR_BYTES:
        said = said[: REASK_ERROR_BYTES - 3].decode(errors="ignore").encode() + b"..."
    return (f"That reply could not be read: {said.decode()}. Answer the same request again. "
            f"{_format(type_)}")


def shape(type_: t.Type) -> str:
    """A compact picture of the JSON a type expects, easier for small models than a schema."""
    match type_:
        case t.TCon("Text"):
            return "<string>"
        case t.TCon("Int"):
            return "<integer>"
        case t.TCon("Float"):
            return "<number>"
        case t.TCon("Bool"):
            return "<true or false>"
        case t.TCon("Option", (inner,)):
            return f"{shape(inner)} or null"
        case t.TCon("List", (inner,)):
            return f"[{shape(inner)}, ...]"
        case t.TRecord(fields):
            return "{" + ", ".join(f"{json.dumps(n)}: {shape(f)}" for n, f in fields) + "}"
        case t.TTuple(items):
            return "[" + ", ".join(shape(x) for x in items) + "]"
        case t.TLabels(keys, choices):
            label = f"<one of: {' | '.join(choices)}>" if choices else "<label>"
            shown = [*keys[:2], "...", keys[-1]] if len(keys) > 3 else list(keys)
            return "{" + ", ".join("..." if k == "..." else f'"{k}": {label}' for k in shown) + "}"
    raise ValueError(f"a leaf cannot return {t.show(type_)}")
