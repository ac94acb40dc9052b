"""Tool names and descriptions of API operations: `api_<api>_<operationId>`, or a name made from
method and path; a one-line description from the document's summary and description.

Tool names are public (the model calls them, operators allowlist them), so they must be stable
across restarts, readable, unique, and at most 64 characters (OpenAI function names:
`^[a-zA-Z0-9_-]{1,64}$`).

- An `operationId` is used as written, with characters outside `A-Za-z0-9_-` replaced by `_`. Two
  operationIds that become one tool name, or an allowlisted one whose tool name is too long, are
  configuration errors: only the operator can choose (list one, shorten the API's `name`).
- An operation without `operationId` is named `<method>_<path segments>` (`GET /pets/{petId}` →
  `get_pets_petId`). Those names are ours, so we make them fit: a name that would be too long, or
  that another operation already has, ends in `_<8 hex digits of SHA-256("METHOD /path")>` instead.
"""

from __future__ import annotations

import hashlib
import re
from collections import defaultdict
from dataclasses import dataclass

from chatgate.tool_config import ToolConfigError

MAX_TOOL_NAME = 64
MAX_DESCRIPTION_CHARS = 1024
_UNSAFE = re.compile(r"[^A-Za-z0-9_-]")
_HASH_CHARS = 8


@dataclass(frozen=True)
class NamedOperation:
    """One operation of a document with the name an allowlist uses and its tool name."""

    method: str  # upper case
    path: str
    name: str  # the operationId, or the derived `<method>_<path>` name
    tool_name: str
    derived: bool


def tool_prefix(api_name: str) -> str:
    return f"api_{api_name}_"


def name_operations(api_name: str, operations: list[tuple[str, str, str | None]]) -> list[NamedOperation]:
    """Name each `(METHOD, path, operationId or None)` of one document, in document order."""
    prefix = tool_prefix(api_name)
    explicit = {_UNSAFE.sub("_", op_id) for _, _, op_id in operations if op_id}
    derived = [_derived(method, path) for method, path, op_id in operations if not op_id]
    counts: dict[str, int] = defaultdict(int)
    for base in derived:
        counts[base] += 1
    room = MAX_TOOL_NAME - len(prefix)
    named: list[NamedOperation] = []
    for method, path, op_id in operations:
        if op_id:
            named.append(NamedOperation(method, path, op_id, prefix + _UNSAFE.sub("_", op_id), derived=False))
            continue
        base = _derived(method, path)
        if len(base) > room or base in explicit or counts[base] > 1:
            digest = hashlib.sha256(f"{method} {path}".encode()).hexdigest()[:_HASH_CHARS]
            base = f"{base[: room - _HASH_CHARS - 1].rstrip('_')}_{digest}"
        named.append(NamedOperation(method, path, base, prefix + base, derived=True))
    return named


def check_names(api_name: str, selected: list[NamedOperation]) -> None:
    """Refuse tool names that collide or are too long among the operations to be exposed.

    Raises:
        ToolConfigError: one line naming the `[[apis]]` entry, the operations and the fix.
    """
    by_tool: dict[str, list[NamedOperation]] = defaultdict(list)
    for operation in selected:
        by_tool[operation.tool_name].append(operation)
    for tool_name, clash in by_tool.items():
        if len(clash) > 1:
            listed = " and ".join(f"{op.name!r} ({op.method} {op.path})" for op in clash)
            raise ToolConfigError(
                f"[[apis]] {api_name}: operationIds {listed} both become the tool name {tool_name}; "
                "set operations = [...] in this entry to list only one of them"
            )


def too_long(api_name: str, operation: NamedOperation) -> str:
    """The configuration error for an allowlisted operation whose tool name exceeds the limit."""
    excess = len(operation.tool_name) - MAX_TOOL_NAME
    shorter = len(api_name) - excess
    fix = (
        f"shorten this entry's name to at most {shorter} characters or remove it from operations"
        if shorter >= 1
        else "remove it from operations"
    )
    return (
        f"[[apis]] {api_name}: operations lists {operation.name!r}, whose tool name {operation.tool_name} "
        f"is {len(operation.tool_name)} characters (the limit is {MAX_TOOL_NAME}); {fix}"
    )


def _derived(method: str, path: str) -> str:
    segments = [segment.strip("{}") for segment in path.split("/") if segment]
    text = _UNSAFE.sub("_", "_".join([method.lower(), *segments]))
    return re.sub(r"_{2,}", "_", text).strip("_") or method.lower()


def one_line(text: str) -> str:
    """`text` on one line, whitespace collapsed, cut at `MAX_DESCRIPTION_CHARS` characters."""
    return " ".join(text.split())[:MAX_DESCRIPTION_CHARS]


def tool_description(
    api_name: str, method: str, path: str, summary: str | None, description: str | None
) -> str:
    """What the model reads about an operation: its summary and description, then the API and route."""
    summary = one_line(summary or "")
    detail = one_line(description or "")
    text = summary.rstrip(".") + "." if summary else ""
    if detail and detail != summary:
        text = f"{text} {detail}".strip()
    if not text:
        text = f"Call {method} {path}."
    return one_line(f"{text} ({api_name} API: {method} {path})")
