"""Which tool calls wait for the user's approval, as the Agents SDK's MCP approval policy.

A call needs approval when its tool is marked so by its operator (a toolset tool declared with
`needs_approval=True` carries `_meta["chatgate/needsApproval"]`), or when the calling agent's
`require_approval` lists a glob matching the tool's name, or `"destructive"` and the tool's MCP
annotations say `destructiveHint: true`. Each agent applies its own list (`[agent]`, `[[agents]]`).
Default: nothing needs approval.
"""

from __future__ import annotations

from collections.abc import Callable
from fnmatch import fnmatchcase
from typing import Any

from agents import AgentBase, RunContextWrapper
from mcp.types import Tool as MCPTool

from chatgate.agent_config import AgentSpec, AgentTeam
from chatgate.toolsets.definition import NEEDS_APPROVAL_META

DESTRUCTIVE = "destructive"


def needs_approval(spec: AgentSpec | None, tool: MCPTool) -> bool:
    """Whether a call of `tool` by the agent configured as `spec` must wait for the user."""
    if (tool.meta or {}).get(NEEDS_APPROVAL_META) is True:
        return True
    for pattern in spec.require_approval if spec is not None else ():
        if pattern == DESTRUCTIVE:
            if tool.annotations is not None and tool.annotations.destructive_hint is True:
                return True
        elif fnmatchcase(tool.name, pattern):
            return True
    return False


ApprovalPolicy = Callable[[RunContextWrapper[Any], AgentBase[Any], MCPTool], bool]


def approval_policy(team: AgentTeam) -> ApprovalPolicy:
    """`needs_approval` for `team`, as the Agents SDK's public MCP approval policy: the callable
    `require_approval` of an MCP server, which the SDK calls with `(run_context, agent, tool)` for
    each tool it turns into a function tool. The request's servers (the lazy tool server, the
    operator's MCP servers) are built with it (`ChatService.tool_servers(lazy=True)`)."""
    specs = {spec.name: spec for spec in team.all}

    def policy(_context: RunContextWrapper[Any], agent: AgentBase[Any], tool: MCPTool) -> bool:
        return needs_approval(specs.get(agent.name), tool)

    return policy
