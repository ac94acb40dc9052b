"""Warm-up for the fork template: pay every import and first-use cost once, before any fork.

A child forked after this starts with the SDK imported, pydantic schemas built and lazy imports
done, so its own start is a handful of milliseconds. It also builds the server object every child
serves (unbound: each child binds its own copy-on-write copy), so children skip building tool
schemas. The warm-up session's server is bound to a placeholder identity that never serves a
request; no user data exists in the template.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import anyio
import jsonschema  # noqa: F401 - imported lazily by the SDK on first use; pay for it here
import mcp.server.stdio  # noqa: F401 - the child's transport
from mcp import Client

from chatgate.mcp_server.server import StrictMCPServer, build_server
from chatgate.mcp_server.settings import BoundIdentity, ChildSettings

WARM_UP_USER = "chatgate-template-warm-up"


@dataclass(frozen=True)
class WarmState:
    """What warm-up leaves for the children."""

    tools: list[dict[str, Any]]  # every child's tool list (registration ignores the identity), as JSON
    server: StrictMCPServer  # built but unbound: each child binds its own copy and serves it


def warm_up() -> WarmState:
    """Run one in-memory session (handshake, tool list, a tool call) and prebuild an unbound server."""
    tools = anyio.run(_round_trip)
    return WarmState(tools=tools, server=build_server())


async def _round_trip() -> list[dict[str, Any]]:
    server = build_server(ChildSettings(identity=BoundIdentity(user_id=WARM_UP_USER)))
    async with Client(server) as client:
        listed = await client.list_tools()
        await client.call_tool("whoami", {})
    return [tool.model_dump(mode="json", by_alias=True, exclude_none=True) for tool in listed.tools]
