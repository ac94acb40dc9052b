"""Warm-up for the fork template: pay every import and first-use cost once, before any fork.

A child forked after this starts with the SDK imported, pydantic schemas built and lazy imports
done, so its own start is a handful of milliseconds. The warm-up server is bound to a placeholder
identity that never serves a request; no user data exists in the template.
"""

from __future__ import annotations

from typing import Any

import anyio
import jsonschema  # noqa: F401 - imported lazily by the SDK on first use; pay for it here
import mcp.server.stdio  # noqa: F401 - the child's transport
from mcp import Client

from chatgate.mcp_server.server import build_server
from chatgate.mcp_server.settings import BoundIdentity, ChildSettings

WARM_UP_USER = "chatgate-template-warm-up"


def warm_up() -> list[dict[str, Any]]:
    """Run one in-memory session (handshake, tool list, a tool call); return the tool list as JSON.

    Tool registration does not depend on the bound identity, so this list is every child's list.
    """
    return anyio.run(_round_trip)


async def _round_trip() -> list[dict[str, Any]]:
    server = build_server(ChildSettings(identity=BoundIdentity(user_id=WARM_UP_USER)))
    async with Client(server) as client:
        listed = await client.list_tools()
        await client.call_tool("whoami", {})
    return [tool.model_dump(mode="json", by_alias=True, exclude_none=True) for tool in listed.tools]
