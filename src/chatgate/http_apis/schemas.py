"""OpenAPI schema objects → self-contained JSON Schema (2020-12) for the validator and the model.

OpenAPI 3.0 schemas are a dialect of JSON Schema draft 4/5; 3.1 schemas are JSON Schema 2020-12
plus a few OpenAPI annotations. Every schema of a tool goes through `to_json_schema` before it
reaches the argument validator or the model, so both read the document the way its author meant:

- `nullable: true` (3.0) adds `null`: to `type`, to `enum`, or, for a schema without `type`
  (`allOf: [{$ref}]`, say), as `anyOf: [<schema>, {"type": "null"}]`;
- boolean `exclusiveMinimum`/`exclusiveMaximum` (3.0) become the numeric 2020-12 form;
- `example` becomes `examples: [example]`;
- `discriminator`, `xml`, `externalDocs` and `x-…` extensions are dropped (annotations for code
  generators; several model servers refuse keywords they do not know);
- `readOnly` properties are removed from request schemas (and from `required`): the server sets
  them, and OpenAPI says a client does not send them.

The walk follows only schema positions (`properties`, `items`, `allOf`, …), so a property named
`nullable` or an `example` value that looks like a schema is left alone. The rewrite is a no-op on
plain 2020-12, which is why 3.1 documents (and 3.1 documents that still say `nullable`) go through
the same function. `#/components/schemas/X` references become `#/$defs/X`; `inline_references`
then inlines every non-recursive one.
"""

from __future__ import annotations

import json
from typing import Any

SCHEMA_REF = "#/components/schemas/"
DEFS_REF = "#/$defs/"
_DROPPED = frozenset({"discriminator", "xml", "externalDocs", "nullable", "example"})
_SCHEMA_MAPS = frozenset({"properties", "patternProperties", "$defs", "definitions", "dependentSchemas"})
_SCHEMA_LISTS = frozenset({"allOf", "anyOf", "oneOf", "prefixItems"})
_SCHEMA_VALUES = frozenset(
    {
        "items",
        "additionalItems",
        "additionalProperties",
        "not",
        "contains",
        "if",
        "then",
        "else",
        "propertyNames",
        "unevaluatedItems",
        "unevaluatedProperties",
        "contentSchema",
    }
)
_INLINE_LIMIT = 64 * 1024  # characters of schema; past this, references stay references


class SchemaReferenceError(ValueError):
    """A `$ref` that does not point at `#/components/schemas/…` of the same document."""


def to_json_schema(node: Any, refs: set[str]) -> Any:
    """`node` (an OpenAPI 3.0 or 3.1 schema, as plain JSON data) as JSON Schema 2020-12.

    Component references are rewritten to `#/$defs/<name>` and their names added to `refs`.

    Raises:
        SchemaReferenceError: a reference points outside the document's components.
    """
    if not isinstance(node, dict):
        return node  # `true` / `false` schemas, or a malformed value the validator will report
    out: dict[str, Any] = {}
    for key, value in node.items():
        if key in _DROPPED or key.startswith("x-"):
            continue
        if key == "$ref" and isinstance(value, str):
            if not value.startswith(SCHEMA_REF):
                raise SchemaReferenceError(
                    f"schema reference {value} points outside the document's components"
                )
            name = value[len(SCHEMA_REF) :]
            refs.add(name)
            out[key] = DEFS_REF + name
        elif key in _SCHEMA_MAPS and isinstance(value, dict):
            out[key] = {name: to_json_schema(item, refs) for name, item in value.items()}
        elif key in _SCHEMA_LISTS and isinstance(value, list):
            out[key] = [to_json_schema(item, refs) for item in value]
        elif key in _SCHEMA_VALUES:
            is_list = isinstance(value, list)  # draft-4 tuple `items`
            out[key] = [to_json_schema(v, refs) for v in value] if is_list else to_json_schema(value, refs)
        else:
            out[key] = value  # enum, default, const, examples…: data, never walked
    _exclusive_bounds(out)
    if "example" in node and "examples" not in out:
        out["examples"] = [node["example"]]
    _drop_read_only(out, node.get("properties"))
    return _nullable(out) if node.get("nullable") is True else out


def _exclusive_bounds(out: dict[str, Any]) -> None:
    for exclusive, bound in (("exclusiveMinimum", "minimum"), ("exclusiveMaximum", "maximum")):
        flag = out.get(exclusive)
        if not isinstance(flag, bool):
            continue
        del out[exclusive]
        if flag and bound in out:
            out[exclusive] = out.pop(bound)


def _drop_read_only(out: dict[str, Any], original: Any) -> None:
    if not isinstance(original, dict):
        return
    read_only = {
        name
        for name, schema in original.items()
        if isinstance(schema, dict) and schema.get("readOnly") is True
    }
    if not read_only:
        return
    out["properties"] = {name: schema for name, schema in out["properties"].items() if name not in read_only}
    if isinstance(out.get("required"), list):
        out["required"] = [name for name in out["required"] if name not in read_only]


def _nullable(out: dict[str, Any]) -> dict[str, Any]:
    kind = out.get("type")
    if isinstance(kind, str):
        out["type"] = [kind, "null"]
    elif isinstance(kind, list):
        if "null" not in kind:
            out["type"] = [*kind, "null"]
    elif isinstance(out.get("enum"), list):
        pass  # `null` joins the enum below
    elif any(key in out for key in ("$ref", "allOf", "anyOf", "oneOf", "const")):
        # No `type` to extend: whatever the composition says, or null.
        described: dict[str, Any] = {
            key: out.pop(key) for key in ("description", "title", "default") if key in out
        }
        return {**described, "anyOf": [out, {"type": "null"}]}
    else:
        return out  # no type at all: null is already allowed
    if isinstance(out.get("enum"), list) and None not in out["enum"]:
        out["enum"] = [*out["enum"], None]
    return out


def inline_references(schema: dict[str, Any], definitions: dict[str, Any]) -> dict[str, Any]:
    """`schema` with every non-recursive `#/$defs/…` reference replaced by its definition.

    Several OpenAI-compatible servers reject or mishandle `$ref`; only recursive models (a tree of
    items) keep theirs, with the definitions they need under `$defs`. A schema that would grow past
    64 KiB inlined keeps all its references instead.
    """
    kept: set[str] = set()

    def expand(node: Any, stack: tuple[str, ...]) -> Any:
        if isinstance(node, list):
            return [expand(item, stack) for item in node]
        if not isinstance(node, dict):
            return node
        ref = node.get("$ref")
        if isinstance(ref, str) and ref.startswith(DEFS_REF):
            name = ref[len(DEFS_REF) :]
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
