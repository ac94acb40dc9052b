"""Warm-up for the fork template: pay every import and first-use cost once, before any fork.

A child forked after this starts with the SDK imported, pydantic schemas built and lazy imports
done, so its own start is a handful of milliseconds. It also builds the server object every child
serves (unbound: each child binds its own copy-on-write copy), so children skip building tool
schemas. The warm-up session's server is bound to a placeholder identity that never serves a
request; no user data exists in the template.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import anyio
import jsonschema  # noqa: F401 - imported lazily by the SDK on first use; pay for it here
from mcp import Client

from chatgate.forkserver.protocol import WARM_UP_USER
from chatgate.mcp_server.server import StrictMCPServer, build_server
from chatgate.mcp_server.settings import ChildSettings
from chatgate.sandbox import prepare as prepare_sandbox
from chatgate.spawn import ENV_USER_ID
from chatgate.storage.engine import preload_drivers


@dataclass(frozen=True)
class WarmState:
    """What warm-up leaves for the children."""

    tools: list[dict[str, Any]]  # every child's tool list (registration ignores the identity), as JSON
    server: StrictMCPServer  # built but unbound: each child binds its own copy and serves it


def warm_up(base_environ: Mapping[str, str]) -> WarmState:
    """Run one in-memory session (handshake, tool list, a tool call) and prebuild an unbound server.

    `base_environ` is a child environment without a real identity: the tool configuration (config
    file, database URL, files root) every child shares.
    """
    preload_drivers()
    settings = ChildSettings.from_environ({**base_environ, ENV_USER_ID: WARM_UP_USER})
    tools = anyio.run(_round_trip, settings)
    prepare_sandbox(settings)  # children inherit the plan and the compiled filter
    return WarmState(tools=tools, server=build_server(settings, bind=False))


async def listed_tools(base_environ: Mapping[str, str]) -> list[dict[str, Any]]:
    """The tool list, as JSON, that a server built from `base_environ` answers over MCP (bound to the
    placeholder user: registration ignores the identity). The exec launcher's catalog."""
    settings = ChildSettings.from_environ({**base_environ, ENV_USER_ID: WARM_UP_USER})
    return await _round_trip(settings, call=False)


async def _round_trip(settings: ChildSettings, *, call: bool = True) -> list[dict[str, Any]]:
    server = build_server(settings)
    async with Client(server) as client:
        listed = await client.list_tools()
        if call:
            await client.call_tool("whoami", {})
    return [tool.model_dump(mode="json", by_alias=True, exclude_none=True) for tool in listed.tools]
