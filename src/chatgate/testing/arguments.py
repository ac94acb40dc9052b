"""Valid example arguments for a tool, generated from its JSON input schema, with marker strings.

Markers are short random strings (`zq` + 10 hex digits) that no tool would produce by itself: a marker
found where it was not written is evidence. Every string field gets its own marker, so a read that
merely echoes its arguments can be told apart from one that returns someone's data.
"""

from __future__ import annotations

import re
import secrets
import uuid
from collections.abc import Callable
from typing import Any

MARKER_PREFIX = "zq"
_MAX_DEPTH = 6


def new_marker() -> str:
    """A fresh marker: lowercase letters and digits, 12 characters (fits most name patterns)."""
    return MARKER_PREFIX + secrets.token_hex(5)


def example_arguments(
    schema: dict[str, Any], string: Callable[[str], str], *, optional_strings: bool
) -> dict[str, Any]:
    """Arguments satisfying `schema` (an object schema): required properties always, optional plain
    string properties too when `optional_strings`. Each free-text string is `string(path)`, where
    `path` names the field (`data.note`, `title`)."""
    value = _value(schema, schema, "", string, optional_strings, 0)
    return value if isinstance(value, dict) else {}


def plain_string(schema: dict[str, Any], root: dict[str, Any]) -> bool:
    """A free-text string (maybe nullable): no enum, const or format that a marker would break."""
    schema = _unwrap_nullable(_resolve(schema, root), root)
    return schema.get("type") == "string" and not {"enum", "const", "format"} & set(schema)


def _resolve(schema: Any, root: dict[str, Any]) -> dict[str, Any]:
    if not isinstance(schema, dict):
        return {}
    reference = schema.get("$ref")
    if isinstance(reference, str) and reference.startswith("#/"):
        target: Any = root
        for part in reference[2:].split("/"):
            target = target.get(part, {}) if isinstance(target, dict) else {}
        return target if isinstance(target, dict) else {}
    return schema


def _unwrap_nullable(schema: dict[str, Any], root: dict[str, Any]) -> dict[str, Any]:
    options = schema.get("anyOf") or schema.get("oneOf")
    if isinstance(options, list):
        concrete = [_resolve(o, root) for o in options if _resolve(o, root).get("type") != "null"]
        if concrete:
            return concrete[0]
    return schema


def _value(
    schema: Any,
    root: dict[str, Any],
    path: str,
    string: Callable[[str], str],
    optional_strings: bool,
    depth: int,
) -> Any:
    schema = _resolve(schema, root)
    if depth > _MAX_DEPTH:
        return None
    if "const" in schema:
        return schema["const"]
    if isinstance(schema.get("enum"), list) and schema["enum"]:
        return schema["enum"][0]
    if any(isinstance(schema.get(key), list) for key in ("anyOf", "oneOf", "allOf")):
        unwrapped = _unwrap_nullable(schema, root)
        if unwrapped is schema:
            options = schema.get("allOf") or []
            unwrapped = _resolve(options[0], root) if options else {}
        if not unwrapped or unwrapped.get("type") == "null":
            return None
        return _value(unwrapped, root, path, string, optional_strings, depth + 1)
    kind = schema.get("type")
    if isinstance(kind, list):
        kind = next((k for k in kind if k != "null"), "null")
    if kind == "string" or (kind is None and path and "properties" not in schema):
        return _string(schema, path, string)
    if kind in {"integer", "number"}:
        return _number(schema, integer=kind == "integer")
    if kind == "boolean":
        return False
    if kind == "null":
        return None
    if kind == "array":
        item = _value(schema.get("items", {}), root, f"{path}[]", string, optional_strings, depth + 1)
        return [item] * max(1, int(schema.get("minItems", 1)))
    return _object(schema, root, path, string, optional_strings, depth)


def _object(
    schema: dict[str, Any],
    root: dict[str, Any],
    path: str,
    string: Callable[[str], str],
    optional_strings: bool,
    depth: int,
) -> dict[str, Any]:
    properties = schema.get("properties")
    required = set(schema.get("required") or [])
    result: dict[str, Any] = {}
    if isinstance(properties, dict) and properties:
        for name, sub in properties.items():
            wanted = name in required or (optional_strings and plain_string(sub, root))
            if wanted:
                child = f"{path}.{name}" if path else name
                result[name] = _value(sub, root, child, string, optional_strings, depth + 1)
        return result
    if schema.get("additionalProperties") is not False and path:
        # A free-form object (`data`, `patch`): one field carrying a marker.
        result["note"] = string(f"{path}.note")
    return result


def _string(schema: dict[str, Any], path: str, string: Callable[[str], str]) -> str:
    text = string(path)
    kind = schema.get("format")
    if kind == "date":
        return "2030-01-02"
    if kind == "date-time":
        return "2030-01-02T03:04:05Z"
    if kind == "uuid":
        return str(uuid.uuid4())
    if kind == "email":
        text = f"{text}@example.com"
    elif kind in {"uri", "url"}:
        text = f"https://example.com/{text}"
    pattern = schema.get("pattern")
    if isinstance(pattern, str):
        try:
            compiled = re.compile(pattern)
        except re.error:
            compiled = None
        if compiled is not None:
            for candidate in (text, text.upper(), f"{text}.txt", text.replace(MARKER_PREFIX, "z-q", 1)):
                if compiled.search(candidate):
                    text = candidate
                    break
    minimum = int(schema.get("minLength", 0))
    if len(text) < minimum:
        text = (text + "-" + text * (minimum // max(len(text), 1) + 1))[:minimum]
    maximum = schema.get("maxLength")
    if isinstance(maximum, int) and len(text) > maximum:
        text = text[:maximum]  # too short for a marker: this field cannot carry one
    return text


def _number(schema: dict[str, Any], *, integer: bool) -> int | float:
    low = schema.get("minimum", schema.get("exclusiveMinimum"))
    value: float = 1
    if isinstance(low, (int, float)) and not isinstance(low, bool):
        value = low + (1 if "minimum" not in schema else 0)
    high = schema.get("maximum")
    if isinstance(high, (int, float)) and not isinstance(high, bool) and value > high:
        value = high
    return int(value) if integer else value
