"""Operator MCP servers (`[[mcp_servers]]`): existing stdio MCP servers, spawned per chat as the caller.

- `config`: the section, validated at start-up (names, commands, `{credential:API}` placeholders).
- `server`: one spawned server as the agent sees it (allowlisted tools named `mcp_<name>_<tool>`).
- `service`: which servers a caller gets, with which environment, and their teardown.

They run in the API process's care, beside the per-request tool server, not inside it: see
docs/mcp-servers.md for why and what it costs.
"""

from chatgate.mcp_servers.config import McpServerConfig, load_mcp_server_configs
from chatgate.mcp_servers.service import OperatorMcpServers

__all__ = ["McpServerConfig", "OperatorMcpServers", "load_mcp_server_configs"]
