"""The OpenAPI document's schemas as a checker: does a real answer fit what is documented?"""

from __future__ import annotations

import re
from typing import Any

DATE_TIME = r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(Z|[+-]\d\d:\d\d)"


def resolve(doc: dict, node: dict) -> dict:
    while "$ref" in node:
        section, kind, name = node["$ref"].removeprefix("#/").split("/")
        node = doc[section][kind][name]
    return node


def check(doc: dict, schema: dict, value: Any, path: str = "$") -> list[str]:
    """Problems of `value` against a documented schema (the keywords the document uses)."""
    schema = resolve(doc, schema)
    if "oneOf" in schema:
        fits = [not check(doc, option, value, path) for option in schema["oneOf"]]
        return [] if fits.count(True) == 1 else [f"{path}: fits {fits.count(True)} of oneOf"]
    problems: list[str] = []
    types = schema.get("type")
    if types is not None:
        types = [types] if isinstance(types, str) else types
        python = {
            "object": dict,
            "array": list,
            "string": str,
            "boolean": bool,
            "null": type(None),
        }
        ok = any(
            (isinstance(value, int) and not isinstance(value, bool))
            if kind == "integer"
            else (isinstance(value, (int, float)) and not isinstance(value, bool))
            if kind == "number"
            else isinstance(value, python[kind])
            for kind in types
        )
        if not ok:
            return [f"{path}: {value!r} is not {types}"]
    if "enum" in schema and value not in schema["enum"]:
        problems.append(f"{path}: {value!r} not in enum")
    is_text = isinstance(value, str)
    if is_text and schema.get("format") == "date-time" and not re.fullmatch(DATE_TIME, value):
        problems.append(f"{path}: {value!r} is not a date-time")
    if isinstance(value, dict):
        properties = schema.get("properties", {})
        for key in schema.get("required", []):
            if key not in value:
                problems.append(f"{path}: missing {key}")
        for key, item in value.items():
            if key in properties:
                problems += check(doc, properties[key], item, f"{path}.{key}")
            elif schema.get("additionalProperties") is False:
                problems.append(f"{path}: undocumented key {key}")
            elif isinstance(schema.get("additionalProperties"), dict):
                problems += check(doc, schema["additionalProperties"], item, f"{path}.{key}")
    if isinstance(value, list) and "items" in schema:
        for index, item in enumerate(value):
            problems += check(doc, schema["items"], item, f"{path}[{index}]")
    return problems


def response_schema(doc: dict, path: str, method: str, status: int) -> dict:
    response = resolve(doc, doc["paths"][path][method]["responses"][str(status)])
    return response["content"]["application/json"]["schema"]


def assert_fits(doc: dict, path: str, method: str, response) -> None:
    schema = response_schema(doc, path, method, response.status_code)
    problems = check(doc, schema, response.get_json())
    assert not problems, problems[:5]
