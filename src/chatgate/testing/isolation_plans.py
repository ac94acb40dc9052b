"""How `assert_isolated` plans its calls from a tool catalog and recognises evidence in results.

Pure functions over JSON: no servers here, so each step is testable on its own.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from chatgate.testing.arguments import example_arguments, new_marker, plain_string
from chatgate.testing.tool_session import ToolResult

# One call: a tool name and its arguments.
Call = tuple[str, dict[str, Any]]
MARKER_PLACEHOLDER = "{marker}"
MAX_READS_PER_TOOL = 50
# Argument values this short are not scrubbed from results as echoes (they would mangle the text).
_MIN_ECHO_CHARS = 4
# Returned ids at least this long count as evidence (shorter ones, like 1, occur by chance).
_MIN_ID_CHARS = 8
_ID_KEY = re.compile(r"(^id$|_id$|Id$)")


@dataclass
class Evidence:
    """What the writer wrote: each marker (or returned id) and the write tool it came from."""

    sources: dict[str, str] = field(default_factory=dict)

    def new_marker(self, tool: str) -> str:
        marker = new_marker()
        self.sources[marker] = tool
        return marker


def planned_writes(catalog: list[dict[str, Any]], evidence: Evidence) -> list[Call]:
    """Every write tool once, destructive ones first: on a writer with nothing stored yet they have
    nothing to erase, so a `delete(id=1)` cannot remove what the creating tools write afterwards."""
    planned: list[tuple[bool, Call]] = []
    for tool in catalog:
        annotations = tool.get("annotations") or {}
        if annotations.get("readOnlyHint") is True:
            continue
        name, schema = tool["name"], tool.get("input_schema") or {}

        def marker(_path: str, tool_name: str = name) -> str:
            return evidence.new_marker(tool_name)

        creates = annotations.get("destructiveHint") is False
        planned.append((creates, (name, example_arguments(schema, marker, optional_strings=True))))
    return [call for _, call in sorted(planned, key=lambda item: item[0])]


def planned_reads(
    catalog: list[dict[str, Any]],
    written: dict[str, set[Any]],
    evidence: Evidence,
    skipped: list[tuple[str, str]],
) -> list[Call]:
    """Each read tool with neutral required arguments, and again with every value the writer used or
    got back under the same parameter name; a required free-text parameter with no such value (a
    search `query`) tries every marker. At most `MAX_READS_PER_TOOL` per tool (the rest noted in
    `skipped`)."""
    markers = sorted(evidence.sources)
    calls: list[Call] = []
    for tool in catalog:
        if (tool.get("annotations") or {}).get("readOnlyHint") is not True:
            continue
        name, schema = tool["name"], tool.get("input_schema") or {}
        # Required strings start neutral: a fresh marker nobody wrote.
        base = example_arguments(schema, lambda _path: new_marker(), optional_strings=False)
        variants: list[dict[str, Any]] = [base]
        properties = schema.get("properties") or {}
        required = set(schema.get("required") or [])
        for parameter, sub in properties.items():
            if not isinstance(sub, dict):
                continue
            kind = _unwrapped_type(sub)
            candidates = [v for v in written.get(parameter, ()) if _fits(v, kind)]
            if not candidates and parameter in required and plain_string(sub, schema):
                candidates = markers  # free text with nothing to go on (a search query): every marker
            variants += [{**base, parameter: value} for value in candidates]
        if len(variants) > MAX_READS_PER_TOOL:
            skipped.append((name, f"only the first {MAX_READS_PER_TOOL} of {len(variants)} reads"))
        calls += [(name, arguments) for arguments in _unique(variants)[:MAX_READS_PER_TOOL]]
    return calls


def _unwrapped_type(schema: dict[str, Any]) -> str | None:
    options = schema.get("anyOf") or schema.get("oneOf")
    if isinstance(options, list):
        kinds = [o.get("type") for o in options if isinstance(o, dict) and o.get("type") != "null"]
        return kinds[0] if kinds and isinstance(kinds[0], str) else None
    kind = schema.get("type")
    return kind if isinstance(kind, str) else None


def _fits(value: Any, kind: str | None) -> bool:
    if kind == "string":
        return isinstance(value, str)
    if kind == "integer":
        return isinstance(value, int) and not isinstance(value, bool)
    return False


def _unique(variants: list[dict[str, Any]]) -> list[dict[str, Any]]:
    seen: set[str] = set()
    unique = []
    for arguments in variants:
        key = json.dumps(arguments, sort_keys=True, default=str)
        if key not in seen:
            seen.add(key)
            unique.append(arguments)
    return unique


def written_values(calls: list[Call], results: list[ToolResult]) -> dict[str, set[Any]]:
    """Scalar values by key: what the writer passed, and what successful writes returned (ids…)."""
    values: dict[str, set[Any]] = {}
    for (_, arguments), result in zip(calls, results, strict=True):
        if not result.ok:
            continue
        for key, value in _scalars(arguments):
            values.setdefault(key, set()).add(value)
        try:
            returned = result.json()
        except ValueError:
            continue
        for key, value in _scalars(returned):
            values.setdefault(key, set()).add(value)
    return values


def _scalars(value: Any, key: str = "") -> Iterator[tuple[str, Any]]:
    if isinstance(value, dict):
        for name, item in value.items():
            yield from _scalars(item, str(name))
    elif isinstance(value, list):
        for item in value:
            yield from _scalars(item, key)
    elif key and isinstance(value, (str, int)) and not isinstance(value, bool):
        yield key, value


def returned_ids(result: ToolResult) -> set[str]:
    """String ids in a result (under `id`, `*_id` or `*Id` keys) long enough not to occur by chance."""
    try:
        returned = result.json()
    except ValueError:
        return set()
    return {
        value
        for key, value in _scalars(returned)
        if isinstance(value, str) and len(value) >= _MIN_ID_CHARS and _ID_KEY.search(key)
    }


def fill_markers(call: Call, evidence: Evidence) -> Call:
    """An explicit write: every string holding `{marker}` gets a fresh marker there."""
    name, arguments = call

    def fill(value: Any) -> Any:
        if isinstance(value, str) and MARKER_PLACEHOLDER in value:
            return value.replace(MARKER_PLACEHOLDER, evidence.new_marker(name))
        if isinstance(value, dict):
            return {key: fill(item) for key, item in value.items()}
        if isinstance(value, list):
            return [fill(item) for item in value]
        return value

    return name, fill(arguments)


def expand_markers(call: Call, evidence: Evidence) -> list[Call]:
    """An explicit read: with `{marker}` in it, one call per marker written."""
    name, arguments = call
    text = json.dumps(arguments)
    if MARKER_PLACEHOLDER not in text:
        return [call]
    return [
        (name, json.loads(text.replace(MARKER_PLACEHOLDER, marker))) for marker in sorted(evidence.sources)
    ]


def found_markers(call: Call, result: ToolResult, evidence: Evidence) -> list[tuple[str, str]]:
    """Markers in `result` beyond the call's own arguments echoed back, each with a short excerpt."""
    output = result.text + "\n" + json.dumps(result.structured, default=str)
    for _, value in _scalars(call[1], "argument"):
        if isinstance(value, str) and len(value) >= _MIN_ECHO_CHARS:
            output = output.replace(value, "")
    found = []
    for marker in evidence.sources:
        at = output.find(marker)
        if at >= 0:
            found.append((marker, " ".join(output[max(0, at - 60) : at + 60].split())))
    return found
