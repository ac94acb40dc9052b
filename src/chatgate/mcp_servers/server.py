"""One operator MCP server as the agent sees it: its allowed tools, each named `mcp_<name>_<tool>`.

The Agents SDK can prefix tool names itself (`mcp_config={"include_server_in_tool_names": True}`), but
only for every server of an agent at once, with its own separator; chatgate's own tools keep their
names. Its `tool_filter` can be a callable, but the SDK calls that only during a run, and
`GET /api/agents/tools` lists outside one. So both live here: listing renames and filters, calling
strips the prefix and refuses anything the listing would not show. A per-agent filter the agents module
sets (`tool_filter`, agents' `tools` allowlists) is applied here too, after renaming, so allowlists name
tools as the model sees them (`mcp_github_*`).
"""

from __future__ import annotations

import fnmatch
import inspect
import logging
import re
from collections.abc import Callable
from typing import Any

from agents import AgentBase, RunContextWrapper
from agents.mcp import ToolFilter, ToolFilterContext
from agents.mcp.server import RequireApprovalSetting
from mcp.types import CallToolResult, TextContent
from mcp.types import Tool as MCPTool

from chatgate.launcher.process import ToolProcess
from chatgate.launcher.session import PipeMCPServer
from chatgate.mcp_servers.config import McpServerConfig
from chatgate.tool_outcomes import curated_tool_failure, record_tool_outcome

logger = logging.getLogger(__name__)

# What the model APIs accept as a function name (OpenAI: 64 characters of this alphabet).
_TOOL_NAME = re.compile(r"^[A-Za-z0-9_-]{1,64}$")


class OperatorMCPServer(PipeMCPServer):
    """The MCP client of one `[[mcp_servers]]` entry, over the pipes of the process spawned for one caller.

    Like chatgate's own tool servers, the process is spawned by chatgate (`ToolProcess`) and stopped
    unconditionally by `launcher.session.close_session`.
    """

    def __init__(
        self,
        config: McpServerConfig,
        *,
        process: ToolProcess,
        serves: Callable[[str], bool] | None = None,
        require_approval: RequireApprovalSetting = None,
    ) -> None:
        """`serves(name)`: whether any configured agent may use the prefixed tool `name` (default: all);
        `require_approval`: which calls wait for the user (the SDK's MCP approval policy)."""
        super().__init__(
            process,
            name=f"mcp_{config.name}",
            # One chat, one process: its tool list cannot change underneath us.
            cache_tools_list=True,
            client_session_timeout_seconds=config.timeout_seconds,
            failure_error_function=curated_tool_failure,
            custom_data_extractor=record_tool_outcome,
            require_approval=require_approval,
        )
        self.config = config
        self._serves = serves

    # The SDK applies `tool_filter` to the server's own names, before the prefix; keep it for ourselves.
    @property
    def tool_filter(self) -> ToolFilter:
        return None

    @tool_filter.setter
    def tool_filter(self, value: ToolFilter) -> None:
        self._agent_filter = value

    def allows(self, tool_name: str) -> bool:
        """The server's own tool name passes the entry's `tools` globs (all pass without them), and some
        agent may use it (a tool no agent may use is neither listed nor callable, like the tool server's)."""
        patterns = self.config.tools
        if patterns is not None and not any(fnmatch.fnmatchcase(tool_name, pattern) for pattern in patterns):
            return False
        return self._serves is None or self._serves(self.config.tool_prefix + tool_name)

    async def list_tools(
        self, run_context: RunContextWrapper[Any] | None = None, agent: AgentBase | None = None
    ) -> list[MCPTool]:
        """The allowed tools, renamed `mcp_<name>_<tool>`; names no model API accepts are left out."""
        listed = await super().list_tools(run_context, agent)
        prefix = self.config.tool_prefix
        tools = []
        for tool in listed:
            if not self.allows(tool.name):
                continue
            if not _TOOL_NAME.match(prefix + tool.name):
                logger.warning(
                    "mcp server %s: tool %r left out: its prefixed name is not a valid tool name",
                    self.config.name,
                    tool.name[:80],
                )
                continue
            tools.append(tool.model_copy(update={"name": prefix + tool.name}))
        return await self._per_agent(tools, run_context, agent)

    async def _per_agent(
        self, tools: list[MCPTool], run_context: RunContextWrapper[Any] | None, agent: AgentBase | None
    ) -> list[MCPTool]:
        chosen = self._agent_filter
        if chosen is None or run_context is None or agent is None:
            return tools  # outside a run (the catalog route): the entry's own allowlist only
        if isinstance(chosen, dict):
            allowed, blocked = chosen.get("allowed_tool_names"), chosen.get("blocked_tool_names") or []
            return [t for t in tools if (allowed is None or t.name in allowed) and t.name not in blocked]
        context = ToolFilterContext(run_context=run_context, agent=agent, server_name=self.name)
        kept = []
        for tool in tools:
            verdict = chosen(context, tool)
            if await verdict if inspect.isawaitable(verdict) else verdict:
                kept.append(tool)
        return kept

    async def call_tool(
        self, tool_name: str, arguments: dict[str, Any] | None, meta: dict[str, Any] | None = None
    ) -> CallToolResult:
        """Call `mcp_<name>_<tool>` as `<tool>` on the server; any other name is an error result."""
        prefix = self.config.tool_prefix
        own_name = tool_name[len(prefix) :] if tool_name.startswith(prefix) else None
        if own_name is None or not self.allows(own_name):
            return CallToolResult(
                content=[TextContent(type="text", text=f"Unknown tool: {tool_name[:80]}")], is_error=True
            )
        return await super().call_tool(own_name, arguments, meta)
