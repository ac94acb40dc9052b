"""The per-request MCP tool server: one process, one bound user, one request.

Run as `python -m chatgate.mcp_server` with the identity in the environment (see `settings`).
stdout carries only protocol messages; logs go to stderr.
"""
