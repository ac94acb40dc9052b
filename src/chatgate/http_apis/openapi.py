"""OpenAPI documents → operation specs: one tool per allowed operation.

The document is parsed with `openapi-pydantic` (typed pydantic v2 models of OpenAPI 3.0 and 3.1,
MIT, maintained, one dependency: pydantic, which we already have). A malformed document fails at
start-up with pydantic's precise location, and the walk below reads typed `Operation`, `Parameter`
and `RequestBody` objects instead of guessing at dict shapes. It does not resolve `$ref`s, and that
is what we want: components are references inside one document, so parameters and bodies are looked
up by name, and schemas are converted to JSON Schema and their references inlined so each tool's
input schema is self-contained (`chatgate.http_apis.schemas`). Heavier choices were passed over:
`openapi-core` validates live requests and responses (we only need the shapes), `prance` stops at
3.0, and hand-walking dicts would re-implement the validation `openapi-pydantic` already does.

Only what can be sent becomes an argument: path, query and header parameters in any OpenAPI style
(not the headers the gateway sets itself, not cookies) and a JSON, form or multipart text body
(`chatgate.http_apis.openapi_bodies`). An operation needing anything else is skipped with a warning
rather than exposed half-working; naming it in the API's allowlist is a configuration error.
"""

from __future__ import annotations

import logging
import re
from collections import Counter
from typing import Any

from openapi_pydantic import parse_obj
from pydantic import BaseModel, ValidationError

from chatgate.http_apis.config import RESERVED_HEADERS, ApiConfig
from chatgate.http_apis.naming import (
    MAX_TOOL_NAME,
    NamedOperation,
    check_names,
    name_operations,
    one_line,
    too_long,
    tool_description,
)
from chatgate.http_apis.openapi_bodies import BodySpec, Unsupported, build_body
from chatgate.http_apis.operations import OperationSpec, ParameterSpec
from chatgate.http_apis.schemas import SchemaReferenceError, inline_references, to_json_schema
from chatgate.http_apis.styles import DEFAULT_STYLE, STYLES_BY_LOCATION, default_explode
from chatgate.tool_config import ToolConfigError

logger = logging.getLogger(__name__)

_METHODS = ("get", "head", "post", "put", "patch", "delete", "options")
_READ_ONLY = frozenset({"GET", "HEAD", "OPTIONS"})
# PUT replaces what is there, DELETE removes it: both can lose data, so both say so.
_DESTRUCTIVE = frozenset({"PUT", "DELETE"})
_IDEMPOTENT = frozenset({"GET", "HEAD", "OPTIONS", "PUT", "DELETE"})
# Headers a tool argument may never set, on top of the gateway's own (OpenAPI ignores these too).
_UNSETTABLE_HEADERS = RESERVED_HEADERS | {"accept", "proxy-authorization", "x-forwarded-for", "forwarded"}


def build_operations(api: ApiConfig, document: dict[str, Any]) -> list[OperationSpec]:
    """The operations of `document` that `api` allows, as tool specs.

    Raises:
        ToolConfigError: one line naming the entry, the setting and the fix: the document is not
            OpenAPI 3.0/3.1, two operations share a tool name, or an allowlisted operation is
            missing or cannot be exposed.
    """
    spec = _parse(api, document)
    walker = _Walker(api, spec.components)
    entries: list[tuple[str, str, Any, Any]] = []
    for path, item in (spec.paths or {}).items():
        for method in _METHODS:
            operation = getattr(item, method, None)
            if operation is not None:
                entries.append((path, method.upper(), item, operation))
    named = name_operations(api.name, [(m, p, op.operationId or None) for p, m, _, op in entries])
    allowed = set(api.operations) if api.operations is not None else None
    selected = [
        (name, entry)
        for name, entry in zip(named, entries, strict=True)
        if allowed is None or name.name in allowed
    ]
    check_names(api.name, [name for name, _ in selected])
    found: dict[str, OperationSpec] = {}
    for name, (path, method, item, operation) in selected:
        if len(name.tool_name) > MAX_TOOL_NAME:
            if allowed is not None:
                raise ToolConfigError(too_long(api.name, name))
            logger.warning(
                "api %s: skipping operation %s: its tool name is longer than %d characters",
                api.name,
                name.name,
                MAX_TOOL_NAME,
            )
            continue
        try:
            found[name.name] = walker.operation(name, path, method, item, operation)
        except Unsupported as exc:
            if allowed is not None:
                raise ToolConfigError(
                    f"[[apis]] {api.name}: operations lists {name.name!r}, which cannot be exposed "
                    f"({exc}); remove it from operations"
                ) from None
            logger.warning("api %s: skipping operation %s: %s", api.name, name.name, exc)
    if allowed is not None and (missing := sorted(allowed - set(found))):
        raise ToolConfigError(
            f"[[apis]] {api.name}: operations lists {', '.join(map(repr, missing))}, not in the document: "
            "list its operationIds (or, for operations without one, <method>_<path> names like "
            "get_pets_petId)"
        )
    if not found:
        logger.warning(
            "api %s yields no tools: its document (%s) has %d operations and none can be exposed",
            api.name,
            api.openapi,
            len(entries),
        )
    return list(found.values())


def _parse(api: ApiConfig, document: dict[str, Any]) -> Any:
    where = f"[[apis]] {api.name}: openapi = {api.openapi}"
    if "swagger" in document:
        raise ToolConfigError(
            f"{where} is a Swagger {document['swagger']} document, but chatgate reads OpenAPI 3.0 and 3.1; "
            "convert it (for example with swagger2openapi) and point openapi at the result"
        )
    version = document.get("openapi")
    if not isinstance(version, str) or not re.match(r"3\.[01]\.\d+$", version):
        raise ToolConfigError(
            f"{where} declares OpenAPI version {version!r}; chatgate reads 3.0.x and 3.1.x documents: "
            "point openapi at one of those"
        )
    try:
        return parse_obj(document)
    except ValidationError as exc:
        first = exc.errors()[0]
        # The first part of pydantic's location is the version tag that picked the model.
        parts = [str(part) for part in first["loc"]]
        location = ".".join(parts[1:] if parts[:1] == [version] else parts) or "document"
        message = " ".join(str(first["msg"]).split())
        raise ToolConfigError(
            f"{where} is not a valid OpenAPI {version} document ({location}: {message}); "
            "fix the document or point openapi at another"
        ) from None


class _Walker:
    def __init__(self, api: ApiConfig, components: Any) -> None:
        self._api = api
        self._components = components
        # The model must not set (or duplicate) what the gateway sets: credentials, the user header.
        own = {api.auth_header, *([api.user_id_header] if api.user_id_header else [])}
        self._gateway_headers = _UNSETTABLE_HEADERS | {header.lower() for header in own}

    def operation(
        self, name: NamedOperation, path: str, method: str, item: Any, operation: Any
    ) -> OperationSpec:
        merged: dict[tuple[str, str], Any] = {}
        for raw in [*(item.parameters or []), *(operation.parameters or [])]:
            parameter = self._resolve(raw, "parameters")
            merged[(parameter.name, _value(parameter.param_in))] = parameter
        properties: dict[str, Any] = {}
        required: list[str] = []
        params: list[ParameterSpec] = []
        defs: set[str] = set()
        counts = Counter(param_name for param_name, _ in merged)
        for (param_name, location), parameter in merged.items():
            if location == "cookie" or (location == "header" and param_name.lower() in self._gateway_headers):
                if parameter.required:
                    raise Unsupported(f"required {location} parameter {param_name} cannot be set by a tool")
                continue
            # The same name in two places (an `id` in the path and the query) gets the place as a prefix.
            arg = param_name if counts[param_name] == 1 else f"{location}_{param_name}"
            spec, schema = self._parameter(arg, location, parameter, defs)
            properties[arg] = schema
            if spec.required:
                required.append(arg)
            params.append(spec)
        missing_path = set(re.findall(r"{([^}]+)}", path)) - {p.name for p in params if p.location == "path"}
        if missing_path:
            raise Unsupported(f"path parameters {sorted(missing_path)} are not declared")
        body: BodySpec | None = None
        if operation.requestBody is not None:
            arg = "body" if "body" not in properties else "request_body"
            body = build_body(
                self._resolve(operation.requestBody, "requestBodies"),
                arg=arg,
                convert=lambda schema: self._schema(schema, defs),
                definitions=self._definitions,
                on_dropped=lambda fields: logger.warning(
                    "api %s: operation %s: body fields %s hold file content, which tools cannot send; "
                    "they are left out",
                    self._api.name,
                    name.name,
                    ", ".join(fields),
                ),
            )
            properties[arg] = body.schema
            if body.required:
                required.append(arg)
        input_schema: dict[str, Any] = {"type": "object", "properties": properties, "required": required}
        if defs:
            input_schema = inline_references(input_schema, self._definitions(defs))
        return OperationSpec(
            api=self._api.name,
            operation_id=name.name,
            tool_name=name.tool_name,
            method=method,
            path=path,
            description=tool_description(
                self._api.name, method, path, operation.summary, operation.description
            ),
            input_schema=input_schema,
            parameters=tuple(params),
            body_arg=body.arg if body else None,
            read_only=method in _READ_ONLY,
            destructive=method in _DESTRUCTIVE,
            idempotent=method in _IDEMPOTENT,
            body_media_type=body.media_type if body else OperationSpec.body_media_type,
            body_encoding=body.encoding if body else (),
        )

    def _parameter(
        self, arg: str, location: str, parameter: Any, defs: set[str]
    ) -> tuple[ParameterSpec, dict[str, Any]]:
        content_type = None
        if parameter.param_schema is not None:
            schema = self._schema(parameter.param_schema, defs)
        elif parameter.content:
            # A parameter described by `content` travels as one text in that media type.
            content_type, media = next(iter(parameter.content.items()))
            schema = self._schema(media.media_type_schema, defs) if media.media_type_schema else {}
        else:
            schema = {"type": "string"}
        if parameter.description and "description" not in schema:
            schema["description"] = one_line(parameter.description)
        style = _value(parameter.style) if parameter.style else DEFAULT_STYLE[location]
        if style not in STYLES_BY_LOCATION[location]:
            allowed = ", ".join(sorted(STYLES_BY_LOCATION[location]))
            raise Unsupported(
                f"{location} parameter {parameter.name} has style {style}; {location} allows {allowed}"
            )
        spec = ParameterSpec(
            arg=arg,
            name=parameter.name,
            location=location,
            required=bool(parameter.required) or location == "path",
            style=style,
            explode=parameter.explode if parameter.explode is not None else default_explode(style),
            allow_reserved=bool(parameter.allowReserved) and location == "query",
            content_type=content_type,
        )
        return spec, schema

    def _resolve(self, value: Any, kind: str) -> Any:
        # Components may reference components; a short chain is plenty, a cycle is a broken document.
        for _ in range(8):
            ref = getattr(value, "ref", None)
            if ref is None:
                return value
            prefix = f"#/components/{kind}/"
            table = getattr(self._components, kind, None) or {}
            if not ref.startswith(prefix) or ref[len(prefix) :] not in table:
                raise Unsupported(f"reference {ref} cannot be resolved inside the document")
            value = table[ref[len(prefix) :]]
        raise Unsupported("reference chain too long")

    def _schema(self, schema: Any, defs: set[str]) -> dict[str, Any]:
        try:
            converted = to_json_schema(_dump(schema), defs)
        except SchemaReferenceError as exc:
            raise Unsupported(str(exc)) from None
        return converted if isinstance(converted, dict) else {}

    def _definitions(self, names: set[str]) -> dict[str, Any]:
        """The converted component schemas `names` and every schema they reference."""
        table = getattr(self._components, "schemas", None) or {}
        done: dict[str, Any] = {}
        pending = sorted(names)
        while pending:
            schema_name = pending.pop()
            if schema_name in done:
                continue
            if schema_name not in table:
                raise Unsupported(f"schema {schema_name} is referenced but not defined")
            found: set[str] = set()
            try:
                done[schema_name] = to_json_schema(_dump(table[schema_name]), found)
            except SchemaReferenceError as exc:
                raise Unsupported(str(exc)) from None
            pending.extend(sorted(found - set(done)))
        return dict(sorted(done.items()))


def _dump(schema: Any) -> Any:
    if isinstance(schema, BaseModel):
        return schema.model_dump(mode="json", by_alias=True, exclude_unset=True)
    return schema


def _value(value: Any) -> str:
    return str(getattr(value, "value", value))
