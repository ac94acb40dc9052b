"""A small stdio MCP server for the operator-MCP benchmark: `python -m bench.echo_mcp_server`.

One tool, `echo`, on the official Python SDK: what a typical small Python MCP server costs to start.
"""

from __future__ import annotations

import os

from mcp.server.mcpserver import MCPServer

server = MCPServer("echo")


@server.tool()
def echo(text: str) -> str:
    """Echo the text back, with the start of the credential this server was given."""
    return f"{text} ({os.environ.get('ECHO_TOKEN', '')[:4]}…)"


if __name__ == "__main__":
    server.run("stdio")
