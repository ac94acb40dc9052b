"""Agents SDK settings shared by every launcher's client side."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from agents.mcp import MCPToolCustomDataContext

# Key under which each tool output item records whether the tool succeeded (read by the chat service).
TOOL_OK_KEY = "chatgate_ok"


def record_tool_outcome(context: MCPToolCustomDataContext) -> Mapping[str, Any]:
    """Attach the MCP `is_error` flag to the tool output item, so responses can report `ok`."""
    return {TOOL_OK_KEY: not bool(context.is_error)}


def curated_tool_failure(_context: Any, error: Exception) -> str:
    """What the model reads when a tool call fails below the tool (timeout, crashed process).

    The exception text may name paths or internals; the model gets a fixed sentence instead.
    """
    if isinstance(error, TimeoutError) or "timed out" in str(error).lower():
        return "The tool did not answer in time. Try again or use a smaller request."
    return "The tool failed to run. Try again later."


def leaf_exception(error: BaseException) -> BaseException:
    """The first non-group exception inside (nested) exception groups: what actually went wrong."""
    while isinstance(error, BaseExceptionGroup) and error.exceptions:
        error = error.exceptions[0]
    return error
