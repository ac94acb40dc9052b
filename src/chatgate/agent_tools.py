"""The tool catalog a user's agent would see (`GET /api/agents/tools`), listed by real tool servers."""

from __future__ import annotations

from typing import Any

from chatgate.auth.principal import Principal
from chatgate.chat import TOOL_SERVER_LOST, ChatService
from chatgate.errors import ToolServerUnavailableError
from chatgate.launcher import ToolServerError


async def list_tools(service: ChatService, principal: Principal, *, request_id: str) -> list[dict[str, Any]]:
    """The tool catalog `principal`'s agent would see, read from real tool servers: one dict per
    tool, `{"name": str, "description": str, "input_schema": dict, "annotations": dict}`.

    Raises:
        SaturatedError, ToolServerUnavailableError (a server failed to start or to list its tools).
    """
    async with service.tool_servers(principal, request_id=request_id) as (server, extra):
        try:
            tools = [tool for each in (server, *extra) for tool in await each.list_tools()]
        except ToolServerError:
            raise ToolServerUnavailableError(TOOL_SERVER_LOST) from None
    return [
        {
            "name": tool.name,
            "description": tool.description or "",
            "input_schema": tool.input_schema,
            "annotations": tool.annotations.model_dump(exclude_none=True, by_alias=True)
            if tool.annotations
            else {},
        }
        for tool in tools
    ]
