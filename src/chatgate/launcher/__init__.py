"""Launchers: one fresh, user-bound MCP tool server per request, behind one interface.

`launch(principal, request_id=…, extra_env=…)` is an async context manager yielding a connected
Agents SDK MCP server; leaving it tears the process down, whatever happened inside (success, error,
timeout, cancellation at any point of launch, run or teardown). Implementations: `exec` (a new
interpreter per request) and `fork` (a child of a warm template process; Linux, the default there).
"""

from __future__ import annotations

import sys

from chatgate.config import Settings
from chatgate.launcher.base import Launcher, ToolServerError, ToolServerLostError, ToolServerStartError
from chatgate.launcher.exec import ExecLauncher

__all__ = ["Launcher", "ToolServerError", "ToolServerLostError", "ToolServerStartError", "create_launcher"]


def create_launcher(settings: Settings) -> Launcher:
    """The launcher `MCP_LAUNCHER` selects (`fork` on Linux when unset; `exec` where fork cannot run)."""
    if settings.resolved_mcp_launcher == "fork" and sys.platform.startswith("linux"):
        from chatgate.launcher.fork import ForkLauncher  # Linux-only machinery

        return ForkLauncher(settings)
    return ExecLauncher(settings)
