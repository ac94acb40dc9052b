"""MCP annotations shared by the tools over the user's own data (a closed world: no outside effects).

The names say what a call does to the user's data, so a tool's registration reads as its contract.
"""

from __future__ import annotations

from mcp.types import ToolAnnotations

# Reads only.
READS = ToolAnnotations(readOnlyHint=True, destructiveHint=False, idempotentHint=True, openWorldHint=False)
# Adds something new; calling twice adds twice, nothing existing is lost.
ADDS = ToolAnnotations(readOnlyHint=False, destructiveHint=False, idempotentHint=False, openWorldHint=False)
# Replaces or removes existing data; repeating the same call changes nothing more.
REPLACES = ToolAnnotations(readOnlyHint=False, destructiveHint=True, idempotentHint=True, openWorldHint=False)
# Replaces existing data, and repeating it changes more (an append, say).
REPLACES_REPEATEDLY = ToolAnnotations(
    readOnlyHint=False, destructiveHint=True, idempotentHint=False, openWorldHint=False
)
