"""OpenAPI 3.0 schemas reach the validator and the model as JSON Schema 2020-12."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from jsonschema import Draft202012Validator

from apis.small_api import compile_document, document, echo_tools, echoed, operation, text_of
from apis.upstream import Recorder, Upstream
from chatgate.http_apis.schemas import to_json_schema


def _json_body(schema: dict[str, Any]) -> dict[str, Any]:
    return {"required": True, "content": {"application/json": {"schema": schema}}}


async def test_nullable_fields_accept_null_through_the_tool(
    upstream: Upstream, tmp_path: Path, hits: Recorder
) -> None:
    """The field report: `{"label": null}` was refused with "None is not of type 'string'"."""
    body = {"type": "object", "properties": {"label": {"type": "string", "nullable": True}}}
    doc = document({"/echo/labels": {"post": operation("setLabel", requestBody=_json_body(body))}})
    async with echo_tools(upstream, tmp_path, doc) as client:
        got = await echoed(client, "api_t_setLabel", {"body": {"label": None}})
        refused = await client.call_tool("api_t_setLabel", {"body": {"label": 5}})
    assert json.loads(got["body"]) == {"label": None}
    assert refused.is_error and "invalid body.label" in text_of(refused)


def _input_schema(upstream: Upstream, tmp_path: Path, doc: dict[str, Any]) -> dict[str, Any]:
    (op,) = compile_document(upstream, tmp_path, doc).apis[0].operations
    Draft202012Validator.check_schema(op.input_schema)
    return op.input_schema


def test_the_3_0_dialect_is_converted_everywhere_a_schema_can_be(upstream: Upstream, tmp_path: Path) -> None:
    schemas = {
        "Pet": {
            "type": "object",
            "required": ["id", "name"],
            "discriminator": {"propertyName": "kind"},
            "xml": {"name": "pet"},
            "externalDocs": {"url": "https://example.test/pet"},
            "properties": {
                "id": {"type": "integer", "readOnly": True},
                "name": {"type": "string", "example": "Rex"},
                "kind": {"type": "string", "enum": ["dog", "cat"], "nullable": True},
                "age": {"type": "integer", "minimum": 0, "exclusiveMinimum": True, "maximum": 30},
                "owner": {"allOf": [{"$ref": "#/components/schemas/Owner"}], "nullable": True},
                "tags": {"type": "array", "items": {"type": "string", "nullable": True}},
                "extra": {"type": "object", "additionalProperties": {"type": "number", "nullable": True}},
                # Property names that look like 3.0 keywords are names, not keywords.
                "nullable": {"type": "boolean"},
                "example": {"type": "string"},
            },
        },
        "Owner": {
            "type": "object",
            "nullable": True,
            "properties": {"score": {"type": "number", "maximum": 5, "exclusiveMaximum": True}},
        },
    }
    body = {"oneOf": [{"$ref": "#/components/schemas/Pet"}]}
    doc = document(
        {"/echo/pets": {"post": operation("addPet", requestBody=_json_body(body))}}, schemas=schemas
    )
    schema = _input_schema(upstream, tmp_path, doc)
    text = json.dumps(schema)
    for keyword in ('"nullable": true', 'exclusiveMinimum": true', "discriminator", "xml", "externalDocs"):
        assert keyword not in text, keyword
    pet = schema["properties"]["body"]["oneOf"][0]
    assert "id" not in pet["properties"] and pet["required"] == ["name"]  # readOnly: the server sets it
    assert pet["properties"]["name"]["examples"] == ["Rex"]
    assert set(pet["properties"]) >= {"nullable", "example"}
    validator = Draft202012Validator(schema)
    good = {
        "name": "Rex",
        "kind": None,
        "age": 30,
        "owner": None,
        "tags": ["a", None],
        "extra": {"x": None},
        "nullable": True,
        "example": "e",
    }
    assert not list(validator.iter_errors({"body": good}))
    assert not list(validator.iter_errors({"body": {**good, "owner": {"score": 4.9}}}))
    for bad in ({"age": 0}, {"age": 31}, {"owner": {"score": 5}}, {"kind": "cow"}, {"tags": [1]}):
        assert list(validator.iter_errors({"body": {**good, **bad}})), bad


def test_parameters_are_converted_too(upstream: Upstream, tmp_path: Path) -> None:
    parameter = {
        "name": "limit",
        "in": "query",
        "schema": {
            "type": "integer",
            "minimum": 1,
            "exclusiveMinimum": False,
            "nullable": True,
            "example": 5,
        },
    }
    doc = document({"/echo/p": {"get": operation("list", parameters=[parameter])}})
    schema = _input_schema(upstream, tmp_path, doc)
    assert schema["properties"]["limit"] == {"type": ["integer", "null"], "minimum": 1, "examples": [5]}


@pytest.mark.parametrize(
    "schema",
    [
        {"type": ["string", "null"], "exclusiveMinimum": 3, "examples": ["a"]},
        {"anyOf": [{"$ref": "#/components/schemas/A"}, {"type": "null"}], "default": None},
        {"type": "object", "properties": {"a": {"const": 1}}, "additionalProperties": False},
    ],
)
def test_json_schema_2020_12_passes_unchanged_apart_from_references(schema: dict[str, Any]) -> None:
    refs: set[str] = set()
    converted = to_json_schema(schema, refs)
    assert json.dumps(converted).replace("#/$defs/", "#/components/schemas/") == json.dumps(schema)


def test_data_values_are_never_rewritten() -> None:
    schema = {
        "type": "object",
        "default": {"nullable": True, "$ref": "not a reference"},
        "enum": [{"example": 1}],
    }
    assert to_json_schema(schema, set()) == schema
