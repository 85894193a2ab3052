"""Leaf decoding: takes a result type, gives its JSON schema and lenient parser (its format texts: core/formats).

Small local models invent values when a schema forces a field they cannot find, so only lists,
records and tuples are asked for as JSON. Text is the stripped reply, Int/Float/Bool accept a
bare answer ("42", "yes"), and `Option T` accepts the literal NONE for "absent". Validation of
JSON replies is pydantic's (lax mode: "42" fits an Int field); `values.from_json` then builds our
runtime values from pydantic's JSON-mode dump.
"""

from __future__ import annotations

import json
import math
import re
from functools import lru_cache
from typing import Any

import pydantic
import pydantic_core

from lambda_rlm.core import types as t
from lambda_rlm.core import values
from lambda_rlm.core.formats import NONE_WORD as _NONE_WORD
from lambda_rlm.core.formats import REASK_ERROR_BYTES as REASK_ERROR_BYTES
from lambda_rlm.core.formats import fails_only_when_blank as fails_only_when_blank
from lambda_rlm.core.formats import instruction as instruction
from lambda_rlm.core.formats import instruction_budget as instruction_budget
from lambda_rlm.core.formats import is_json_type as is_json_type
from lambda_rlm.core.formats import reask as reask
from lambda_rlm.core.formats import shape as shape

_JSON_DECODER = json.JSONDecoder()
_NUMBER = re.compile(r"[-+]?(?:\d{1,3}(?:,\d{3})+|\d+)(?:\.\d+)?(?:[eE][-+]?\d+)?")
_TRUE = frozenset({"yes", "true", "y"})
_FALSE = frozenset({"no", "false", "n"})
_WRAPPER = "value"
FREE_LABEL_CHARS = 24  # the longest label a labels leaf may write when no choices are given


class DecodeError(ValueError):
    """A reply that does not decode to the declared type; the message is sent back on a re-ask."""


# Small models write numbers where text is due; reading 42 as "42" is harmless.
_CONFIG = pydantic.ConfigDict(coerce_numbers_to_str=True)


@lru_cache(maxsize=256)
def _adapter(type_: t.Type) -> pydantic.TypeAdapter[Any]:
    if isinstance(type_, t.TRecord):
        return pydantic.TypeAdapter(_python_type(type_))  # a model carries its own config
    return pydantic.TypeAdapter(_python_type(type_), config=_CONFIG)


def _python_type(type_: t.Type) -> Any:
    match type_:
        case t.TCon("Text"):
            return str
        case t.TCon("Int"):
            return int
        case t.TCon("Float"):
            return pydantic.FiniteFloat
        case t.TCon("Bool"):
            return bool
        case t.TCon("Option", (inner,)):
            return _python_type(inner) | None
        case t.TCon("List", (inner,)):
            return list[_python_type(inner)]  # type: ignore[misc]
        case t.TTuple(items):
            return tuple[tuple(_python_type(x) for x in items)]  # type: ignore[misc]
        case t.TRecord(fields):
            # Field names become aliases: record labels may be Python keywords or start with _.
            # An absent optional field reads as none: models tend to omit what they cannot find.
            spec: dict[str, Any] = {
                f"f{i}": (_python_type(ft), pydantic.Field(alias=name, default=_default(ft)))
                for i, (name, ft) in enumerate(fields)
            }
            return pydantic.create_model("Record", __config__=_CONFIG, **spec)
    raise ValueError(f"a leaf cannot return {t.show(type_)}")


def _default(type_: t.Type) -> Any:
    is_option = isinstance(type_, t.TCon) and type_.name == "Option"
    return None if is_option else pydantic_core.PydanticUndefined


def response_format(type_: t.Type) -> dict[str, Any]:
    """An OpenAI-style `json_schema` response format; non-record types are wrapped in {"value": …}
    because providers require an object at the root."""
    if isinstance(type_, t.TLabels):
        return {"type": "json_schema", "json_schema": {"name": "leaf", "schema": labels_schema(type_)}}
    schema = _adapter(type_).json_schema(by_alias=True)
    if not isinstance(type_, t.TRecord):
        defs = schema.pop("$defs", None)
        schema = {"type": "object", "properties": {_WRAPPER: schema}, "required": [_WRAPPER]}
        if defs:
            schema["$defs"] = defs
    return {"type": "json_schema", "json_schema": {"name": "leaf", "schema": schema}}


def decode(reply: str | None, type_: t.Type) -> Any:
    """The runtime value a reply denotes, or DecodeError saying what was wrong."""
    text = (reply or "").strip()
    if not text:
        raise DecodeError("the reply was empty")
    match type_:
        case t.TCon("Text"):
            return text
        case t.TCon("Option", (inner,)):
            if _bare(text).upper() == _NONE_WORD:
                return None
            if is_json_type(inner):
                return _json_value(text, type_)
            return values.Some(decode(text, inner))
        case t.TCon("Int" | "Float" | "Bool" as name):
            return _scalar(text, name)
        case t.TLabels():
            return _labels(text, type_)
    return _json_value(text, type_)


def _bare(text: str) -> str:
    """The reply without quotes, markdown emphasis, backticks and a closing full stop."""
    return text.strip().strip("`*\"'").strip().rstrip(".").strip()


def _scalar(text: str, name: str) -> Any:
    bare = _bare(text)
    if name == "Bool":
        word = re.split(r"[\s,.;:!]+", bare.lower(), maxsplit=1)[0]
        if word in _TRUE:
            return True
        if word in _FALSE:
            return False
        raise DecodeError(f"expected yes or no, got {_excerpt(text)}")
    kind = "integer" if name == "Int" else "number"
    numbers = _NUMBER.findall(bare)
    if len(numbers) != 1:
        found = "no number" if not numbers else f"{len(numbers)} numbers"
        raise DecodeError(f"expected a single {kind}, found {found} in {_excerpt(text)}")
    digits = numbers[0].replace(",", "")
    if name == "Int" and re.fullmatch(r"[-+]?\d+", digits):
        return int(digits)
    number = float(digits)
    if not math.isfinite(number) or (name == "Int" and not number.is_integer()):
        raise DecodeError(
            f"expected {'an integer' if name == 'Int' else 'a finite number'}, got {numbers[0]}"
        )
    return int(number) if name == "Int" else number


def _json_value(text: str, type_: t.Type) -> Any:
    try:
        obj = _first_json(text)
    except DecodeError:
        # Small models often write a list of words without quotes: [food, travel, food].
        obj = _bare_words(text) if _holds_text_list(type_) else None
        if obj is None:
            raise
    adapter = _adapter(type_)
    try:
        validated = adapter.validate_python(obj)
    except pydantic.ValidationError as err:
        # A structured-output reply arrives wrapped as {"value": …} (see response_format).
        if not (isinstance(obj, dict) and set(obj) == {_WRAPPER}):
            raise DecodeError(_validation_message(err, type_)) from None
        try:
            validated = adapter.validate_python(obj[_WRAPPER])
        except pydantic.ValidationError as inner_err:
            raise DecodeError(_validation_message(inner_err, type_)) from None
    try:
        return values.from_json(adapter.dump_python(validated, mode="json", by_alias=True), type_)
    except ValueError as err:
        raise DecodeError(str(err)) from None


def _first_json(text: str) -> Any:
    """The first JSON array or object in a reply, ignoring code fences and surrounding prose."""
    unfenced = re.sub(r"```[A-Za-z0-9_-]*", "", text)
    for match in re.finditer(r"[\[{]", unfenced):
        try:
            obj, _ = _JSON_DECODER.raw_decode(unfenced, match.start())
        except ValueError:
            continue
        return obj
    if unfenced.strip() == "null":
        return None
    raise DecodeError(f"expected a JSON value, found none in {_excerpt(text)}")


_BARE_LIST = re.compile(r"\[([^\[\]{}\"]*)\]")


def _holds_text_list(type_: t.Type) -> bool:
    match type_:
        case t.TCon("List", (t.TCon("Text"),)):
            return True
        case t.TCon("Option", (inner,)):
            return _holds_text_list(inner)
    return False


def _bare_words(text: str) -> list[str] | None:
    """The items of the first `[a, b, c]` in a reply whose items have no quotes, brackets or braces."""
    found = _BARE_LIST.search(text)
    if found is None:
        return None
    items = [item.strip().strip("'`").strip() for item in found.group(1).split(",")]
    return [item for item in items if item] if any(items) else []


def _validation_message(err: pydantic.ValidationError, type_: t.Type) -> str:
    problems = []
    for e in err.errors(include_url=False)[:5]:
        where = ".".join(str(p) for p in e["loc"]) or "the value"
        problems.append(f"{where}: {e['msg']}")
    return f"the JSON does not fit {t.show(type_)}: " + "; ".join(problems)


def _excerpt(text: str, limit: int = 80) -> str:
    text = " ".join(text.split())
    return repr(text if len(text) <= limit else text[: limit - 1] + "…")


# ---------------------------------------------------------------------- labels of numbered items


def labels_schema(type_: t.TLabels) -> dict[str, Any]:
    """An object with exactly the item numbers as keys, in order, each a choice (or any string).
    llama.cpp's grammar keeps the properties' order, so a local model writes the numbers in turn."""
    value: dict[str, Any] = ({"type": "string", "enum": list(type_.choices)} if type_.choices
                             else {"type": "string", "minLength": 1, "maxLength": FREE_LABEL_CHARS})
    return {"type": "object", "properties": {k: value for k in type_.keys}, "required": list(type_.keys),
            "additionalProperties": False}


def _labels(text: str, type_: t.TLabels) -> tuple[str, ...]:
    """One label per key, from `{"<key>": label, …}` or from a list with exactly one label per key.

    Nothing is padded, cut or guessed: a missing, extra or unknown key, a list of the wrong length
    or a label outside the choices is a DecodeError, whose message the re-ask shows the model.
    """
    obj = _first_json(text)
    keys, n = type_.keys, len(type_.keys)
    if isinstance(obj, dict) and set(obj) == {_WRAPPER} and not isinstance(obj[_WRAPPER], str):
        obj = obj[_WRAPPER]
    if isinstance(obj, list):
        if len(obj) != n:
            raise DecodeError(f"the reply gave {len(obj)} labels for {n} items; give exactly {n}, one per item")
        given = list(obj)
    elif isinstance(obj, dict):
        got = {str(k).strip().strip("[]#").strip(): v for k, v in obj.items()}
        missing, extra = [k for k in keys if k not in got], [k for k in got if k not in set(keys)]
        if missing or extra:
            parts = [f"no label for item{'s' if len(missing) > 1 else ''} {_some(missing)}"] if missing else []
            parts += [f"item{'s' if len(extra) > 1 else ''} {_some(extra)} {'do' if len(extra) > 1 else 'does'} "
                      "not exist"] if extra else []
            raise DecodeError(f"{'; '.join(parts)}; give one label for each of items {keys[0]} to {keys[-1]}")
        given = [got[k] for k in keys]
    else:
        raise DecodeError(f"expected a JSON object of {n} labels, got {_excerpt(text)}")
    return tuple(_label(v, k, type_.choices) for v, k in zip(given, keys, strict=True))


def _label(value: Any, key: str, choices: tuple[str, ...]) -> str:
    if isinstance(value, bool) or not isinstance(value, str | int | float) or not str(value).strip():
        raise DecodeError(f"item {key} has no label")
    label = str(value).strip()
    if not choices:
        if len(label) > FREE_LABEL_CHARS:
            raise DecodeError(f"item {key}'s label is longer than {FREE_LABEL_CHARS} characters")
        return label
    for choice in choices:
        if choice.casefold() == label.casefold():
            return choice
    raise DecodeError(f"item {key}'s label {label!r} is not one of: {', '.join(choices)}")


def _some(keys: list[str]) -> str:
    return ", ".join(keys[:5]) + (f" and {len(keys) - 5} more" if len(keys) > 5 else "")
