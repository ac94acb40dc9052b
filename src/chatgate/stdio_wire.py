"""MCP's stdio wire over non-blocking pipe fds, shared by both ends of a tool server's pipes.

The tool server (`chatgate.mcp_server.stdio_pipes`) and the API process (`chatgate.launcher.pipes`)
serve their pipe ends on the event loop instead of MCP's thread-backed files; the wire is the
stdio transport's: one JSON-RPC message per line, UTF-8, newline-terminated.
"""

from __future__ import annotations

import os

import anyio
from mcp.shared.message import SessionMessage

# Bytes asked of one os.read: a whole typical message, without a large buffer per pipe.
READ_CHUNK_BYTES = 64 * 1024


async def write_message(fd: int, message: SessionMessage) -> None:
    """Write `message` as one line to the non-blocking `fd`, waiting while the pipe is full.

    Raises:
        OSError: the other end is gone (`BrokenPipeError`) or the fd is closed.
    """
    json = message.message.model_dump_json(by_alias=True, exclude_unset=True)
    view = memoryview((json + "\n").encode())
    while view:
        try:
            view = view[os.write(fd, view) :]
        except BlockingIOError:
            await anyio.wait_writable(fd)
