"""Pure checks and transforms for JSON documents, names and ids (no I/O)."""

from __future__ import annotations

import datetime
import decimal
import json
import math
import re
import uuid
from typing import Any

from chatgate.storage.errors import InvalidInputError
from chatgate.surrogates import without_lone_surrogates

MAX_DOCUMENT_BYTES = 64 * 1024
MAX_DEPTH = 32
MAX_FILTERS = 16
MAX_LIMIT = 100
DEFAULT_LIMIT = 20
MAX_OFFSET = 100_000
_INT64 = 2**63

COLLECTION_PATTERN = re.compile(r"[A-Za-z][A-Za-z0-9_]{0,63}")
FIELD_PATTERN = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,63}")

Scalar = str | int | float | bool | None


def check_collection(name: object) -> str:
    if not isinstance(name, str) or not COLLECTION_PATTERN.fullmatch(name):
        raise InvalidInputError(
            "collection must be 1-64 characters: a letter, then letters, digits or underscores"
        )
    return name


def check_field_name(name: object, *, what: str = "field name") -> str:
    if not isinstance(name, str) or not FIELD_PATTERN.fullmatch(name):
        raise InvalidInputError(
            f"{what} {_preview(name)} must be 1-64 letters, digits or underscores, not starting with a digit"
        )
    return name


def parse_uuid(value: object, *, what: str = "id") -> uuid.UUID:
    """The UUID in `value`; anything else is invalid input (never a lookup)."""
    if isinstance(value, uuid.UUID):
        return value
    if isinstance(value, str) and len(value) <= 64:
        try:
            return uuid.UUID(value)
        except ValueError:
            pass
    raise InvalidInputError(f"{what} must be an id as returned by a previous call (a UUID)")


def check_page(limit: int, offset: int) -> None:
    if not 1 <= limit <= MAX_LIMIT:
        raise InvalidInputError(f"limit must be between 1 and {MAX_LIMIT}")
    if not 0 <= offset <= MAX_OFFSET:
        raise InvalidInputError(f"offset must be between 0 and {MAX_OFFSET}")


def check_document(document: object, *, what: str = "data") -> dict[str, Any]:
    """A JSON object that every backend stores faithfully, within the size limit.

    Refused: non-objects, NUL characters (PostgreSQL text and JSONB cannot hold them), NaN and
    infinities (not JSON), integers beyond 64 bits, nesting deeper than `MAX_DEPTH`.

    Returns the document to store: `document` itself, or a copy with each lone UTF-16 surrogate
    (which JSON can spell but UTF-8 cannot encode) replaced by U+FFFD, keys included
    (`chatgate.surrogates`).
    """
    if not isinstance(document, dict):
        raise InvalidInputError(f"{what} must be a JSON object")
    cleaned: dict[str, Any] = without_lone_surrogates(document)
    _check_value(cleaned, what, 0)
    size = len(json.dumps(cleaned, separators=(",", ":"), ensure_ascii=False).encode())
    if size > MAX_DOCUMENT_BYTES:
        raise InvalidInputError(f"{what} is {size} bytes; the limit is {MAX_DOCUMENT_BYTES} bytes")
    return cleaned


def _check_value(value: object, where: str, depth: int) -> None:
    if depth > MAX_DEPTH:
        raise InvalidInputError(f"{where} is nested deeper than {MAX_DEPTH} levels")
    if value is None or isinstance(value, bool):
        return
    if isinstance(value, str):
        if "\x00" in value:
            raise InvalidInputError(f"{where} contains a NUL character")
        return
    if isinstance(value, int):
        if not -_INT64 <= value < _INT64:
            raise InvalidInputError(f"{where} holds an integer outside the 64-bit range")
        return
    if isinstance(value, float):
        if not math.isfinite(value):
            raise InvalidInputError(f"{where} holds a number that is not finite")
        return
    if isinstance(value, list):
        for index, item in enumerate(value):
            _check_value(item, f"{where}[{index}]", depth + 1)
        return
    if isinstance(value, dict):
        for key, item in value.items():
            if not isinstance(key, str) or "\x00" in key:
                raise InvalidInputError(f"{where} has a key that is not a plain string")
            _check_value(item, f"{where}.{key}"[:200], depth + 1)
        return
    raise InvalidInputError(f"{where} holds a value that is not JSON")


def check_filters(where: object) -> dict[str, Scalar]:
    """Equality filters on top-level fields: names are identifiers, values are JSON scalars."""
    if where is None:
        return {}
    if not isinstance(where, dict):
        raise InvalidInputError("where must be an object of field names to values")
    if len(where) > MAX_FILTERS:
        raise InvalidInputError(f"at most {MAX_FILTERS} filters")
    for key, value in where.items():
        check_field_name(key, what="filter field")
        if isinstance(value, dict | list):
            raise InvalidInputError(f"filter on {key} must be a string, number, boolean or null")
        _check_value(value, f"filter {key}", 0)
    return where


def parse_order(order_by: str | None, *, default: str) -> tuple[str, bool]:
    """`field` or `-field` (descending) as (field, descending)."""
    spec = order_by or default
    descending = spec.startswith("-")
    return check_field_name(spec.removeprefix("-"), what="order_by field"), descending


def merge_patch(target: Any, patch: Any) -> Any:
    """RFC 7386 JSON merge patch: objects merge recursively, null removes a key, anything else replaces."""
    if not isinstance(patch, dict):
        return patch
    result = dict(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if value is None:
            result.pop(key, None)
        else:
            result[key] = merge_patch(result.get(key), value)
    return result


def jsonable(value: Any) -> Any:
    """A column value as plain JSON (UUIDs and dates as strings, naive datetimes as UTC)."""
    if isinstance(value, uuid.UUID):
        return str(value)
    if isinstance(value, datetime.datetime):
        if value.tzinfo is None:  # SQLite drops the zone; everything is stored in UTC
            value = value.replace(tzinfo=datetime.UTC)
        return value.isoformat()
    if isinstance(value, datetime.date):
        return value.isoformat()
    if isinstance(value, decimal.Decimal):
        return str(value)
    return value


def _preview(value: object) -> str:
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."
