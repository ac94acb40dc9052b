"""The body a tool call sends: JSON, form fields or multipart text parts, from validated arguments.

What each operation accepts was decided when the catalog was compiled (`chatgate.http_apis.openapi_bodies`);
this module only serialises. Form fields follow their Encoding Object exactly like query parameters
(`style`, `explode`, `allowReserved`; default `form`, exploded), or are sent as one text when the
encoding gives only a `contentType`. Multipart: one part per field, one per item of an array;
objects are JSON parts (`application/json` unless the encoding says otherwise).
"""

from __future__ import annotations

import json
from typing import Any

from chatgate.http_apis.operations import FORM_BODY, MULTIPART_BODY, FieldEncoding, OperationSpec
from chatgate.http_apis.styles import encode, query_pairs, scalar


def content_text(media_type: str, value: Any) -> str:
    """`value` as one text of `media_type`: compact JSON for JSON types, plain text otherwise."""
    base = media_type.split(";", 1)[0].strip().lower()
    if base == "application/json" or base.endswith("+json"):
        return json.dumps(value, separators=(",", ":"), ensure_ascii=False)
    return scalar(value)


def request_body(operation: OperationSpec, value: Any) -> tuple[dict[str, Any], dict[str, str]]:
    """The `httpx.build_request` keyword arguments that send `value` as this operation's body,
    and the headers to add (httpx sets `content-type` itself for JSON and multipart)."""
    if operation.body_media_type == FORM_BODY:
        return {"content": form_body(operation, value).encode("ascii")}, {"content-type": FORM_BODY}
    if operation.body_media_type == MULTIPART_BODY:
        return {"files": multipart_parts(operation, value)}, {}
    return {"json": value}, {}


def form_body(operation: OperationSpec, value: dict[str, Any]) -> str:
    """`application/x-www-form-urlencoded` text (ASCII) of the fields in `value`."""
    encodings = {encoding.name: encoding for encoding in operation.body_encoding}
    pairs: list[str] = []
    for name, field in value.items():
        if field is None:
            continue
        encoding = encodings.get(name, FieldEncoding(name))
        if encoding.content_type is not None:
            pairs.append(f"{encode(name)}={encode(content_text(encoding.content_type, field))}")
        else:
            pairs.extend(query_pairs(encoding.style, encoding.explode, encoding.allow_reserved, name, field))
    return "&".join(pairs)


def multipart_parts(operation: OperationSpec, value: dict[str, Any]) -> list[tuple[str, Any]]:
    """`httpx` `files=` entries: text parts without a file name, one per field or array item."""
    encodings = {encoding.name: encoding for encoding in operation.body_encoding}
    parts: list[tuple[str, Any]] = []
    for name, field in value.items():
        if field is None:
            continue
        declared = encodings.get(name, FieldEncoding(name)).content_type
        for item in field if isinstance(field, list) else [field]:
            if isinstance(item, dict | list):
                media = declared or "application/json"
                parts.append((name, (None, content_text(media, item).encode(), media)))
            elif declared is not None:
                parts.append((name, (None, content_text(declared, item).encode(), declared)))
            else:
                parts.append((name, (None, scalar(item).encode())))
    return parts
