"""Operator toolsets: Python tools over the operator's own code, served per user like the built-ins.

`definition` (what the operator declares: `Toolset`, `ToolError`), `context` (what a tool receives:
`ToolContext`), `loader` (the `[[toolsets]]` section). Operators import the public names from
`chatgate.toolkit`; the tool server registers toolsets in `chatgate.mcp_server.tools.toolsets`.
"""
