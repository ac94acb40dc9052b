"""OpenAPI documents → operation specs: one tool per allowed operation.

The document is parsed with `openapi-pydantic` (typed pydantic v2 models of OpenAPI 3.0 and 3.1,
MIT, maintained, one dependency: pydantic, which we already have). A malformed document fails at
start-up with pydantic's precise location, and the walk below reads typed `Operation`, `Parameter`
and `RequestBody` objects instead of guessing at dict shapes. It does not resolve `$ref`s, and that
is what we want: components are references inside one document, so parameters and bodies are looked
up by name, and schema references are inlined so each tool's input schema is self-contained
(only recursive models keep a `$ref`, into the schema's own `$defs`). Heavier choices were passed
over: `openapi-core` validates live requests and responses (we only need the shapes), `prance` stops
at 3.0, and hand-walking dicts would re-implement the validation `openapi-pydantic` already does.

Only what can be sent safely becomes an argument: path, query and header parameters (not the
headers the gateway sets itself, not cookies) and an `application/json` body. An operation needing
anything else is skipped with a warning rather than exposed half-working.
"""

from __future__ import annotations

import json
import logging
import re
from collections import Counter
from typing import Any

from openapi_pydantic import parse_obj
from pydantic import BaseModel, ValidationError

from chatgate.apis.config import RESERVED_HEADERS, ApiConfig
from chatgate.apis.operations import OperationSpec, ParameterSpec
from chatgate.tool_config import ToolConfigError

logger = logging.getLogger(__name__)

MAX_TOOL_NAME = 64  # OpenAI function names: ^[a-zA-Z0-9_-]{1,64}$
MAX_DESCRIPTION_CHARS = 1024
_METHODS = ("get", "head", "post", "put", "patch", "delete", "options")
_READ_ONLY = frozenset({"GET", "HEAD", "OPTIONS"})
# PUT replaces what is there, DELETE removes it: both can lose data, so both say so.
_DESTRUCTIVE = frozenset({"PUT", "DELETE"})
_IDEMPOTENT = frozenset({"GET", "HEAD", "OPTIONS", "PUT", "DELETE"})
_SCHEMA_REF = "#/components/schemas/"
# Headers a tool argument may never set, on top of the gateway's own (OpenAPI ignores these too).
_UNSETTABLE_HEADERS = RESERVED_HEADERS | {"accept", "proxy-authorization", "x-forwarded-for", "forwarded"}


def build_operations(api: ApiConfig, document: dict[str, Any]) -> list[OperationSpec]:
    """The operations of `document` that `api` allows, as tool specs.

    Raises:
        ToolConfigError: the document is not valid OpenAPI 3, or an allowlisted operationId is
            missing or cannot be exposed.
    """
    try:
        spec = parse_obj(document)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(part) for part in first["loc"])
        raise ToolConfigError(
            f"[[apis]] {api.name}: not an OpenAPI 3 document ({where}: {first['msg']})"
        ) from None
    components = spec.components
    walker = _Walker(api, components)
    allowed = set(api.operations) if api.operations is not None else None
    found: dict[str, OperationSpec] = {}
    for path, item in (spec.paths or {}).items():
        for method in _METHODS:
            operation = getattr(item, method, None)
            if operation is None or not operation.operationId:
                continue
            if allowed is not None and operation.operationId not in allowed:
                continue
            try:
                found[operation.operationId] = walker.operation(path, method.upper(), item, operation)
            except _Unsupported as exc:
                if allowed is not None:
                    raise ToolConfigError(
                        f"[[apis]] {api.name}: operation {operation.operationId} cannot be exposed: {exc}"
                    ) from None
                logger.warning("api %s: skipping operation %s: %s", api.name, operation.operationId, exc)
    if allowed is not None and (missing := sorted(allowed - set(found))):
        raise ToolConfigError(f"[[apis]] {api.name}: operations not in the document: {', '.join(missing)}")
    return list(found.values())


class _Unsupported(Exception):
    """This operation cannot be exposed as a tool (the reason is logged or reported)."""


class _Walker:
    def __init__(self, api: ApiConfig, components: Any) -> None:
        self._api = api
        self._components = components
        # The model must not set (or duplicate) what the gateway sets: credentials, the user header.
        own = {api.auth_header, *([api.user_id_header] if api.user_id_header else [])}
        self._gateway_headers = _UNSETTABLE_HEADERS | {header.lower() for header in own}

    def operation(self, path: str, method: str, item: Any, operation: Any) -> OperationSpec:
        tool_name = f"api_{self._api.name}_{re.sub(r'[^A-Za-z0-9_-]', '_', operation.operationId)}"
        if len(tool_name) > MAX_TOOL_NAME:
            raise _Unsupported(f"tool name {tool_name} is longer than {MAX_TOOL_NAME} characters")
        merged: dict[tuple[str, str], Any] = {}
        for raw in [*(item.parameters or []), *(operation.parameters or [])]:
            parameter = self._resolve(raw, "parameters")
            merged[(parameter.name, str(_value(parameter.param_in)))] = parameter
        properties: dict[str, Any] = {}
        required: list[str] = []
        params: list[ParameterSpec] = []
        defs: set[str] = set()
        counts = Counter(name for name, _ in merged)
        for (name, location), parameter in merged.items():
            if location == "cookie" or (location == "header" and name.lower() in self._gateway_headers):
                if parameter.required:
                    raise _Unsupported(f"required {location} parameter {name} cannot be set by a tool")
                continue
            # The same name in two places (an `id` in the path and the query) gets the place as a prefix.
            arg = name if counts[name] == 1 else f"{location}_{name}"
            schema = (
                self._schema(parameter.param_schema, defs) if parameter.param_schema else {"type": "string"}
            )
            if parameter.description and "description" not in schema:
                schema["description"] = _one_line(parameter.description)
            properties[arg] = schema
            is_required = bool(parameter.required) or location == "path"
            if is_required:
                required.append(arg)
            params.append(ParameterSpec(arg=arg, name=name, location=location, required=is_required))
        missing_path = set(re.findall(r"{([^}]+)}", path)) - {p.name for p in params if p.location == "path"}
        if missing_path:
            raise _Unsupported(f"path parameters {sorted(missing_path)} are not declared")
        body_arg = None
        if operation.requestBody is not None:
            body = self._resolve(operation.requestBody, "requestBodies")
            media = next((m for t, m in (body.content or {}).items() if _is_json(t)), None)
            if media is None:
                if body.required:
                    raise _Unsupported("its request body is not JSON")
            else:
                body_arg = "body" if "body" not in properties else "request_body"
                schema = self._schema(media.media_type_schema, defs) if media.media_type_schema else {}
                schema.setdefault("description", _one_line(body.description or "The JSON request body."))
                properties[body_arg] = schema
                if body.required:
                    required.append(body_arg)
        input_schema: dict[str, Any] = {"type": "object", "properties": properties, "required": required}
        if defs:
            input_schema = _inline_references(input_schema, self._definitions(defs))
        return OperationSpec(
            api=self._api.name,
            operation_id=operation.operationId,
            tool_name=tool_name,
            method=method,
            path=path,
            description=_description(self._api, method, path, operation),
            input_schema=input_schema,
            parameters=tuple(params),
            body_arg=body_arg,
            read_only=method in _READ_ONLY,
            destructive=method in _DESTRUCTIVE,
            idempotent=method in _IDEMPOTENT,
        )

    def _resolve(self, value: Any, kind: str) -> Any:
        # Components may reference components; a short chain is plenty, a cycle is a broken document.
        for _ in range(8):
            ref = getattr(value, "ref", None)
            if ref is None:
                return value
            prefix = f"#/components/{kind}/"
            table = getattr(self._components, kind, None) or {}
            if not ref.startswith(prefix) or ref[len(prefix) :] not in table:
                raise _Unsupported(f"reference {ref} cannot be resolved inside the document")
            value = table[ref[len(prefix) :]]
        raise _Unsupported("reference chain too long")

    def _schema(self, schema: Any, defs: set[str]) -> dict[str, Any]:
        rewritten: dict[str, Any] = self._rewrite(_dump(schema), defs)
        return rewritten

    def _rewrite(self, node: Any, defs: set[str]) -> Any:
        if isinstance(node, dict):
            out = {key: self._rewrite(value, defs) for key, value in node.items()}
            ref = node.get("$ref")
            if isinstance(ref, str):
                if not ref.startswith(_SCHEMA_REF):
                    raise _Unsupported(f"schema reference {ref} points outside the document's components")
                out["$ref"] = "#/$defs/" + ref[len(_SCHEMA_REF) :]
                defs.add(ref[len(_SCHEMA_REF) :])
            return out
        if isinstance(node, list):
            return [self._rewrite(value, defs) for value in node]
        return node

    def _definitions(self, names: set[str]) -> dict[str, Any]:
        table = getattr(self._components, "schemas", None) or {}
        done: dict[str, Any] = {}
        pending = sorted(names)
        while pending:
            name = pending.pop()
            if name in done:
                continue
            if name not in table:
                raise _Unsupported(f"schema {name} is referenced but not defined")
            found: set[str] = set()
            done[name] = self._rewrite(_dump(table[name]), found)
            pending.extend(sorted(found - set(done)))
        return dict(sorted(done.items()))


def _dump(schema: Any) -> dict[str, Any]:
    if isinstance(schema, BaseModel):
        dumped = schema.model_dump(mode="json", by_alias=True, exclude_unset=True)
        return dumped if isinstance(dumped, dict) else {}
    return dict(schema) if isinstance(schema, dict) else {}


def _value(location: Any) -> str:
    return str(getattr(location, "value", location))


def _is_json(media_type: str) -> bool:
    base = media_type.split(";", 1)[0].strip().lower()
    return base == "application/json" or base.endswith("+json")


def _one_line(text: str) -> str:
    return " ".join(text.split())[:MAX_DESCRIPTION_CHARS]


def _description(api: ApiConfig, method: str, path: str, operation: Any) -> str:
    summary = _one_line(operation.summary or "")
    detail = _one_line(operation.description or "")
    text = summary.rstrip(".") + "." if summary else ""
    if detail and detail != summary:
        text = f"{text} {detail}".strip()
    if not text:
        text = f"Call {method} {path}."
    return _one_line(f"{text} ({api.name} API: {method} {path})")


_INLINE_LIMIT = 64 * 1024  # characters of schema; past this, references stay references


def _inline_references(schema: dict[str, Any], definitions: dict[str, Any]) -> dict[str, Any]:
    """`schema` with every non-recursive `$ref` replaced by its definition.

    Several OpenAI-compatible servers reject or mishandle `$ref`; only recursive models (a tree of
    items) keep theirs, with the definitions they need under `$defs`.
    """
    kept: set[str] = set()

    def expand(node: Any, stack: tuple[str, ...]) -> Any:
        if isinstance(node, list):
            return [expand(item, stack) for item in node]
        if not isinstance(node, dict):
            return node
        ref = node.get("$ref")
        if isinstance(ref, str) and ref.startswith("#/$defs/"):
            name = ref[len("#/$defs/") :]
            if name in stack or name not in definitions:
                kept.add(name)
                return {key: expand(value, stack) for key, value in node.items()}
            siblings = {key: expand(value, stack) for key, value in node.items() if key != "$ref"}
            return {**expand(definitions[name], (*stack, name)), **siblings}
        return {key: expand(value, stack) for key, value in node.items()}

    inlined: dict[str, Any] = expand({k: v for k, v in schema.items() if k != "$defs"}, ())
    if len(json.dumps(inlined)) > _INLINE_LIMIT:
        return {**schema, "$defs": definitions}
    # The recursive definitions, themselves inlined except for their recursive references.
    needed: dict[str, Any] = {}
    pending = sorted(kept)
    while pending:
        name = pending.pop()
        if name in needed:
            continue
        needed[name] = expand(definitions[name], (name,))
        pending.extend(sorted(kept - set(needed)))
    if needed:
        inlined["$defs"] = dict(sorted(needed.items()))
    return inlined
