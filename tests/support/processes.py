"""Inspecting this test process's children and file descriptors (leak checks)."""

from __future__ import annotations

import os
import time

import psutil

from chatgate.forkserver.protocol import PROCESS_NAME_SPARE, PROCESS_NAME_TEMPLATE

# The fork launcher's template and its idle, unbound spares are machinery, not tool servers.
_NOT_TOOL_SERVERS = {PROCESS_NAME_TEMPLATE, PROCESS_NAME_SPARE}
# Chatgate's own tool server (exec'd, or forked: a forked one keeps the template's command line), and
# the operator MCP server the tests configure (spawned per chat too).
_TOOL_SERVER_MODULES = ("chatgate.mcp_server", "chatgate.forkserver", "support.operator_mcp_server")


def tool_server_children(root: psutil.Process | None = None) -> list[psutil.Process]:
    """Live (non-zombie) descendants of `root` (this process by default) running a tool server:
    chatgate's, or an operator MCP server the tests configured."""
    found = []
    try:
        descendants = (root or psutil.Process()).children(recursive=True)
    except psutil.NoSuchProcess:
        return []
    for child in descendants:
        try:
            if child.status() == psutil.STATUS_ZOMBIE or child.name() in _NOT_TOOL_SERVERS:
                continue
            command_line = " ".join(child.cmdline())
            if any(module in command_line for module in _TOOL_SERVER_MODULES):
                found.append(child)
        except psutil.NoSuchProcess:
            continue
    return found


def live_children() -> list[psutil.Process]:
    alive = []
    for child in psutil.Process().children(recursive=True):
        try:
            if child.status() != psutil.STATUS_ZOMBIE:
                alive.append(child)
        except psutil.NoSuchProcess:
            continue
    return alive


def wait_until(predicate: object, timeout: float = 5.0, interval: float = 0.02) -> bool:
    """Poll `predicate()` until true or `timeout` passes; returns its last value."""
    assert callable(predicate)
    deadline = time.monotonic() + timeout
    while True:
        if predicate():
            return True
        if time.monotonic() > deadline:
            return bool(predicate())
        time.sleep(interval)


def open_fd_count() -> int:
    return len(os.listdir("/proc/self/fd"))
