"""The isolation kit's pure parts: example arguments from schemas, read plans, evidence in results."""

from __future__ import annotations

from typing import Any

import jsonschema
import pytest

from chatgate.testing.arguments import MARKER_PREFIX, example_arguments, new_marker
from chatgate.testing.isolation_plans import (
    Evidence,
    expand_markers,
    fill_markers,
    found_markers,
    planned_reads,
    planned_writes,
    returned_ids,
)
from chatgate.testing.tool_session import ToolResult

SCHEMAS: list[dict[str, Any]] = [
    {"type": "object", "properties": {}, "additionalProperties": False},
    {
        "type": "object",
        "properties": {
            "title": {"type": "string", "minLength": 1, "maxLength": 200},
            "notes": {"anyOf": [{"type": "string", "maxLength": 4000}, {"type": "null"}], "default": None},
            "due": {"anyOf": [{"type": "string", "format": "date"}, {"type": "null"}]},
            "priority": {"enum": ["low", "normal"], "type": "string", "default": "normal"},
            "done": {"type": "boolean", "default": False},
        },
        "required": ["title"],
        "additionalProperties": False,
    },
    {
        "type": "object",
        "properties": {
            "slug": {"type": "string", "pattern": "^[a-z][a-z0-9_]{2,40}$"},
            "file": {"type": "string", "pattern": r"\.txt$"},
            "email": {"type": "string", "format": "email"},
            "count": {"type": "integer", "minimum": 5, "maximum": 9},
            "ratio": {"type": "number", "exclusiveMinimum": 0},
            "tags": {"type": "array", "items": {"type": "string"}, "minItems": 2},
            "data": {"type": "object", "additionalProperties": True},
            "item": {"$ref": "#/$defs/Item"},
            "padded": {"type": "string", "minLength": 30},
        },
        "required": ["slug", "file", "email", "count", "ratio", "tags", "data", "item", "padded"],
        "$defs": {
            "Item": {"type": "object", "properties": {"name": {"type": "string"}}, "required": ["name"]}
        },
    },
]


@pytest.mark.parametrize("schema", SCHEMAS)
def test_generated_arguments_satisfy_their_schema(schema: dict[str, Any]) -> None:
    arguments = example_arguments(schema, lambda _path: new_marker(), optional_strings=True)
    jsonschema.validate(arguments, schema, format_checker=jsonschema.FormatChecker())


def test_every_free_text_field_carries_its_own_marker() -> None:
    paths: list[str] = []

    def marker(path: str) -> str:
        paths.append(path)
        return new_marker()

    arguments = example_arguments(SCHEMAS[1], marker, optional_strings=True)
    assert paths == ["title", "notes"]  # not the enum, the date or the boolean
    assert arguments["title"].startswith(MARKER_PREFIX) and arguments["notes"].startswith(MARKER_PREFIX)
    assert arguments["title"] != arguments["notes"]
    assert example_arguments(SCHEMAS[1], marker, optional_strings=False).keys() == {"title"}


def _tool(name: str, schema: dict[str, Any], *, read_only: bool, destructive: bool = False) -> dict[str, Any]:
    return {
        "name": name,
        "input_schema": schema,
        "annotations": {"readOnlyHint": read_only, "destructiveHint": destructive},
    }


ID = {"type": "object", "properties": {"id": {"type": "string"}}, "required": ["id"]}
TEXT = {"type": "object", "properties": {"text": {"type": "string"}}, "required": ["text"]}
QUERY = {"type": "object", "properties": {"query": {"type": "string"}}, "required": ["query"]}
NOTHING: dict[str, Any] = {"type": "object", "properties": {}}


def test_writes_run_destructive_tools_first_and_reads_use_what_was_written() -> None:
    catalog = [
        _tool("add", TEXT, read_only=False),
        _tool("delete", ID, read_only=False, destructive=True),
        _tool("list", NOTHING, read_only=True),
        _tool("get", ID, read_only=True),
        _tool("search", QUERY, read_only=True),
    ]
    evidence = Evidence()
    writes = planned_writes(catalog, evidence)
    assert [name for name, _ in writes] == ["delete", "add"]
    text = writes[1][1]["text"]
    assert evidence.sources[text] == "add"
    reads = planned_reads(catalog, {"id": {"note-000001"}, "text": {text}}, evidence, [])
    assert ("list", {}) in reads
    assert ("get", {"id": "note-000001"}) in reads
    assert {arguments["query"] for name, arguments in reads if name == "search"} >= set(evidence.sources)


def test_an_echoed_argument_is_not_evidence_but_anything_else_is() -> None:
    evidence = Evidence()
    locator, content = evidence.new_marker("add"), evidence.new_marker("add")
    call = ("get", {"path": locator})
    echo = ToolResult("get", f"No file named {locator}.", None, is_error=True)
    assert found_markers(call, echo, evidence) == []
    leak = ToolResult("get", "", {"path": locator, "content": content}, is_error=False)
    assert [marker for marker, _ in found_markers(call, leak, evidence)] == [content]


def test_returned_ids_become_evidence_when_they_cannot_occur_by_chance() -> None:
    result = ToolResult(
        "add", "", {"id": "9f1c2e7a-note", "owner_id": "abcdefgh-1", "n": 1, "nid": "x"}, False
    )
    assert returned_ids(result) == {"9f1c2e7a-note", "abcdefgh-1"}
    assert returned_ids(ToolResult("add", "not json", None, False)) == set()


def test_explicit_cases_fill_and_expand_markers() -> None:
    evidence = Evidence()
    name, arguments = fill_markers(("add", {"text": "call {marker}", "tags": ["{marker}"], "n": 1}), evidence)
    first, second = sorted(evidence.sources)
    assert name == "add" and arguments["n"] == 1
    assert {arguments["text"].removeprefix("call "), arguments["tags"][0]} == {first, second}
    expanded = expand_markers(("search", {"query": "{marker}"}), evidence)
    assert expanded == [("search", {"query": first}), ("search", {"query": second})]
    assert expand_markers(("list", {}), evidence) == [("list", {})]
