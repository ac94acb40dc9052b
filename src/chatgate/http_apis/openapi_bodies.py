"""Request bodies of OpenAPI operations: which one a tool sends, and the argument that describes it.

A tool sends one body, chosen from the operation's `content` in this order: JSON (`application/json`,
`…+json`), `application/x-www-form-urlencoded`, `multipart/form-data`, then a `*/*` or
`application/*` range (sent as JSON). Form and multipart bodies must be objects with properties;
each property is a form field or a part, serialised by the media type's Encoding Object
(`chatgate.http_apis.request_bodies` does the sending). File content (`format: binary`, or a non-text
`contentMediaType`) cannot come from a model: such a field is left out when optional, and an
operation that needs one, or whose only body is of another type, is not exposed at all — an
operation exposed without the body it needs would send an empty request every time.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from chatgate.http_apis.operations import FORM_BODY, JSON_BODY, MULTIPART_BODY, FieldEncoding
from chatgate.http_apis.schemas import DEFS_REF
from chatgate.http_apis.styles import QUERY_STYLES, default_explode

_TEXT_MEDIA = ("text/", "application/json", "application/xml")


class Unsupported(Exception):
    """This operation cannot be exposed as a tool (the reason is logged or reported)."""


@dataclass(frozen=True)
class BodySpec:
    arg: str
    schema: dict[str, Any]
    required: bool
    media_type: str
    encoding: tuple[FieldEncoding, ...]


def build_body(
    body: Any,
    *,
    arg: str,
    convert: Callable[[Any], dict[str, Any]],
    definitions: Callable[[set[str]], dict[str, Any]],
    on_dropped: Callable[[list[str]], None],
) -> BodySpec:
    """The tool argument for the resolved `RequestBody` `body`.

    `convert` turns an OpenAPI schema into JSON Schema (collecting references); `definitions`
    returns converted component schemas by name; `on_dropped` is told which optional file fields
    were left out.

    Raises:
        Unsupported: no body type a tool can send, or a required file field.
    """
    content = body.content or {}
    choice = _choose(content)
    if choice is None:
        offered = ", ".join(sorted(content)) or "no media type"
        raise Unsupported(
            f"its request body ({offered}) cannot be sent: tools send JSON, form and multipart text"
        )
    kind, media = choice
    schema = convert(media.media_type_schema) if media.media_type_schema else {}
    encoding: tuple[FieldEncoding, ...] = ()
    if kind != JSON_BODY:
        schema = _form_object(schema, definitions)
        properties: dict[str, Any] = schema["properties"]
        files = [name for name, prop in properties.items() if _is_file(prop, definitions)]
        needed = sorted(set(files) & set(schema.get("required", [])))
        if needed:
            raise Unsupported(f"its body needs file content ({', '.join(needed)}), which tools cannot send")
        if files:
            on_dropped(files)
            schema["properties"] = {name: prop for name, prop in properties.items() if name not in files}
        encoding = tuple(_encoding(kind, name, value) for name, value in (media.encoding or {}).items())
    default = {
        JSON_BODY: "The JSON request body.",
        FORM_BODY: "The form fields of the request.",
        MULTIPART_BODY: "The form fields of the request.",
    }[kind]
    schema.setdefault("description", " ".join((body.description or default).split()))
    return BodySpec(arg=arg, schema=schema, required=bool(body.required), media_type=kind, encoding=encoding)


def _choose(content: dict[str, Any]) -> tuple[str, Any] | None:
    by_base = {media_type.split(";", 1)[0].strip().lower(): media for media_type, media in content.items()}
    for base, media in by_base.items():
        if base == JSON_BODY or base.endswith("+json"):
            return JSON_BODY, media
    for kind in (FORM_BODY, MULTIPART_BODY):
        if kind in by_base:
            return kind, by_base[kind]
    for base in ("*/*", "application/*"):
        if base in by_base:
            return JSON_BODY, by_base[base]
    return None


def _resolve(schema: Any, definitions: Callable[[set[str]], dict[str, Any]]) -> Any:
    for _ in range(8):
        ref = schema.get("$ref") if isinstance(schema, dict) else None
        if not isinstance(ref, str) or not ref.startswith(DEFS_REF):
            return schema
        name = ref[len(DEFS_REF) :]
        siblings = {key: value for key, value in schema.items() if key != "$ref"}
        schema = {**definitions({name})[name], **siblings}
    return schema


def _form_object(schema: dict[str, Any], definitions: Callable[[set[str]], dict[str, Any]]) -> dict[str, Any]:
    """The body schema as one object with `properties` (a top-level `$ref` and `allOf` flattened)."""
    resolved = _resolve(schema, definitions)
    parts = [resolved, *(_resolve(member, definitions) for member in resolved.get("allOf", []))]
    properties: dict[str, Any] = {}
    required: list[str] = []
    for part in parts:
        if isinstance(part, dict):
            properties.update(part.get("properties") or {})
            required.extend(name for name in part.get("required") or [] if name not in required)
    if not properties:
        raise Unsupported("its form body is not an object with properties")
    out: dict[str, Any] = {"type": "object", "properties": properties}
    if required:
        out["required"] = required
    for key in ("description", "additionalProperties"):
        if key in resolved:
            out[key] = resolved[key]
    return out


def _is_file(schema: Any, definitions: Callable[[set[str]], dict[str, Any]]) -> bool:
    schema = _resolve(schema, definitions)
    if not isinstance(schema, dict):
        return False
    if schema.get("format") == "binary":
        return True
    media = schema.get("contentMediaType")
    if isinstance(media, str) and not media.lower().startswith(_TEXT_MEDIA):
        return True
    return schema.get("type") == "array" and _is_file(schema.get("items"), definitions)


def _encoding(kind: str, name: str, encoding: Any) -> FieldEncoding:
    given = encoding.model_fields_set
    style = str(encoding.style) if encoding.style else "form"
    if kind == MULTIPART_BODY or style not in QUERY_STYLES:
        style = "form"
    # A form field with only a contentType is sent as one text of that type (JSON, say).
    as_content = kind == MULTIPART_BODY or not ({"style", "explode", "allowReserved"} & given)
    return FieldEncoding(
        name=name,
        style=style,
        explode=encoding.explode if encoding.explode is not None else default_explode(style),
        allow_reserved=bool(encoding.allowReserved),
        content_type=encoding.contentType if as_content else None,
    )
