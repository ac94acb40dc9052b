"""Operation specs: one operation of one API as a tool, in plain data.

The API process builds them from OpenAPI documents (`chatgate.http_apis.openapi`); tool servers read
them from the compiled catalog without importing any OpenAPI machinery.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

JSON_BODY = "application/json"
FORM_BODY = "application/x-www-form-urlencoded"
MULTIPART_BODY = "multipart/form-data"


@dataclass(frozen=True)
class ParameterSpec:
    """Where one tool argument goes on the wire, and how it is serialised (`chatgate.http_apis.styles`).

    `content_type` is set for a parameter described by `content` instead of `schema`: its value is
    sent as one text in that media type (JSON for `application/json`), in the location's default style.
    """

    arg: str
    name: str
    location: str  # path | query | header
    required: bool
    style: str = ""  # "" means the location's default (simple for path and header, form for query)
    explode: bool = False
    allow_reserved: bool = False
    content_type: str | None = None


@dataclass(frozen=True)
class FieldEncoding:
    """How one property of a form or multipart body is sent (the OpenAPI Encoding Object)."""

    name: str
    style: str = "form"
    explode: bool = True
    allow_reserved: bool = False
    content_type: str | None = None  # a multipart part's type, or "send this form field as JSON"


@dataclass(frozen=True)
class OperationSpec:
    """One operation of one API, as a tool. Plain data: it travels to the child as JSON."""

    api: str
    operation_id: str
    tool_name: str
    method: str
    path: str
    description: str
    input_schema: dict[str, Any]
    parameters: tuple[ParameterSpec, ...]
    body_arg: str | None
    read_only: bool
    destructive: bool
    idempotent: bool
    body_media_type: str = JSON_BODY  # JSON_BODY | FORM_BODY | MULTIPART_BODY
    body_encoding: tuple[FieldEncoding, ...] = ()

    def to_json(self) -> dict[str, Any]:
        """The spec as plain JSON: its fields by name, parameters and body encoding as lists of objects."""
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> OperationSpec:
        params = tuple(ParameterSpec(**p) for p in data["parameters"])
        encoding = tuple(FieldEncoding(**e) for e in data.get("body_encoding", ()))
        return cls(**{**data, "parameters": params, "body_encoding": encoding})
