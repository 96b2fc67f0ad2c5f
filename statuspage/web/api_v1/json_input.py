"""Strict JSON request bodies for `/api/v1/`: one JSON object, checked against a small schema.

The schemas are plain JSON Schema dicts (the ones the OpenAPI document shows), of which this
module understands the handful of keywords the API uses; an unknown keyword is a bug, not a pass.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from flask import request
from werkzeug.exceptions import BadRequest, UnsupportedMediaType

from statuspage.core.times import as_utc
from statuspage.errors import ValidationError

__all__ = ["parse_datetime", "parse_object", "read_object", "validate"]

MEDIA_TYPE = "application/json"
#: Keywords that only describe; they never refuse a value.
ANNOTATIONS = frozenset({"title", "description", "default", "examples", "$comment"})
CHECKS = frozenset(
    {
        "type",
        "enum",
        "properties",
        "required",
        "additionalProperties",
        "propertyNames",
        "maxProperties",
        "items",
        "maxItems",
        "uniqueItems",
        "minLength",
        "maxLength",
        "pattern",
        "format",
        "minimum",
        "maximum",
    }
)
TYPE_WORDS = {
    "object": "an object",
    "array": "a list",
    "string": "a string",
    "integer": "an integer",
    "boolean": "true or false",
    "null": "null",
}


class _DuplicateKey(Exception):
    """A JSON object repeats a key (raised from the parser's hook)."""


def read_object(schema: Mapping[str, Any]) -> dict[str, Any]:
    """Read the request body as one JSON object and check it against `schema`, or raise."""
    if request.mimetype != MEDIA_TYPE:
        raise UnsupportedMediaType(f"Send the body as JSON, with Content-Type: {MEDIA_TYPE}.")
    data = parse_object(request.get_data(cache=False))
    validate(schema, data)
    return data


def parse_object(raw: bytes) -> dict[str, Any]:
    """Parse a body that must be a JSON object; raise BadRequest (400) otherwise."""
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise BadRequest("The body is not UTF-8 text.") from None
    try:
        value = json.loads(text, object_pairs_hook=_object, parse_constant=_constant)
    except _DuplicateKey as exc:
        # Two parsers could each pick a different copy of the key: refuse the ambiguity.
        raise BadRequest(f"The key {exc.args[0]!r} appears twice in one object.") from None
    except (ValueError, RecursionError):
        raise BadRequest("The body is not valid JSON.") from None
    if not isinstance(value, dict):
        raise BadRequest("The body must be a JSON object ({...}).")
    return value


def _object(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    result: dict[str, Any] = {}
    for key, value in pairs:
        if key in result:
            raise _DuplicateKey(key)
        result[key] = value
    return result


def _constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def parse_datetime(value: str, field: str) -> datetime:
    """Parse an ISO 8601 date and time with a UTC offset; return it in UTC."""
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise ValidationError(
            f"{field}: {value!r} is not an ISO 8601 date and time (e.g. 2026-06-15T22:00:00+02:00)",
            field=field,
        ) from None
    if parsed.tzinfo is None or parsed.utcoffset() is None:
        raise ValidationError(
            f"{field}: give the time with its UTC offset (e.g. 22:00:00+02:00 or 20:00:00Z)",
            field=field,
        )
    try:
        return as_utc(parsed)
    except OverflowError:  # 9999-12-31T23:00-10:00 is past the last day Python knows
        raise ValidationError(f"{field}: {value!r} is out of range", field=field) from None


def validate(schema: Mapping[str, Any], value: Any, path: str = "") -> None:
    """Check `value` against `schema`; raise ValidationError naming the first bad field."""
    unknown = set(schema) - CHECKS - ANNOTATIONS
    if unknown:
        raise RuntimeError(f"schema keyword(s) not supported: {', '.join(sorted(unknown))}")
    name = path or "the body"
    _check_type(schema, value, path, name)
    if "enum" in schema and value not in schema["enum"]:
        choices = ", ".join(_choice(choice) for choice in schema["enum"])
        raise ValidationError(f"{name}: {value!r} is not one of: {choices}", field=path or None)
    if isinstance(value, str):
        _check_string(schema, value, path, name)
    elif isinstance(value, int) and not isinstance(value, bool):
        _check_number(schema, value, path, name)
    elif isinstance(value, dict):
        _check_object(schema, value, path, name)
    elif isinstance(value, list):
        _check_array(schema, value, path, name)


def _choice(value: Any) -> str:
    """An enum value as the message shows it: null and the empty string are JSON."""
    return json.dumps(value) if value in (None, "") else str(value)


def _check_type(schema: Mapping[str, Any], value: Any, path: str, name: str) -> None:
    wanted = schema.get("type")
    if wanted is None:
        return
    types = [wanted] if isinstance(wanted, str) else list(wanted)
    if not any(_is(kind, value) for kind in types):
        words = " or ".join(TYPE_WORDS[kind] for kind in types)
        raise ValidationError(f"{name} must be {words}", field=path or None)


def _is(kind: str, value: Any) -> bool:
    if kind == "integer":
        # JSON has one number type; booleans are ints in Python but never here.
        return isinstance(value, int) and not isinstance(value, bool)
    if kind == "null":
        return value is None
    python = {"object": dict, "array": list, "string": str, "boolean": bool}[kind]
    return isinstance(value, python)


def _check_string(schema: Mapping[str, Any], value: str, path: str, name: str) -> None:
    field = path or None
    if "minLength" in schema and len(value) < schema["minLength"]:
        if schema["minLength"] == 1:
            raise ValidationError(f"{name} cannot be empty", field=field)
        raise ValidationError(
            f"{name} needs at least {schema['minLength']} characters", field=field
        )
    if "maxLength" in schema and len(value) > schema["maxLength"]:
        raise ValidationError(
            f"{name} has at most {schema['maxLength']} characters (this is {len(value)})",
            field=field,
        )
    if "pattern" in schema and not re.search(schema["pattern"], value):
        hint = f" ({schema['description']})" if "description" in schema else ""
        raise ValidationError(f"{name}: {value!r} is not in the expected form{hint}", field=field)
    if schema.get("format") == "date-time":
        parse_datetime(value, path)


def _check_number(schema: Mapping[str, Any], value: int, path: str, name: str) -> None:
    low, high = schema.get("minimum"), schema.get("maximum")
    if (low is not None and value < low) or (high is not None and value > high):
        raise ValidationError(f"{name} must be between {low} and {high}", field=path or None)


def _check_object(schema: Mapping[str, Any], value: dict[str, Any], path: str, name: str) -> None:
    properties = schema.get("properties", {})
    extra = schema.get("additionalProperties", True)
    if "maxProperties" in schema and len(value) > schema["maxProperties"]:
        raise ValidationError(
            f"{name} has at most {schema['maxProperties']} entries", field=path or None
        )
    for key, item in value.items():
        where = f"{path}.{key}" if path else key
        if key in properties:
            validate(properties[key], item, where)
            continue
        if extra is False:
            allowed = ", ".join(properties) or "none"
            raise ValidationError(f"unknown field {where!r} (allowed: {allowed})", field=where)
        if "propertyNames" in schema:
            validate(schema["propertyNames"], key, where)
        if isinstance(extra, Mapping):
            validate(extra, item, where)
    for key in schema.get("required", ()):
        if key not in value:
            where = f"{path}.{key}" if path else key
            raise ValidationError(f"{where} is required", field=where)


def _check_array(schema: Mapping[str, Any], value: list[Any], path: str, name: str) -> None:
    if "maxItems" in schema and len(value) > schema["maxItems"]:
        raise ValidationError(f"{name} has at most {schema['maxItems']} items", field=path or None)
    for index, item in enumerate(value):
        if "items" in schema:
            validate(schema["items"], item, f"{path}.{index}" if path else str(index))
    if schema.get("uniqueItems") and len({json.dumps(item) for item in value}) != len(value):
        raise ValidationError(f"{name} lists the same item twice", field=path or None)
