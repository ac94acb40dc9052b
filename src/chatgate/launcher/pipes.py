"""MCP over a forked child's stdio pipes, seen from the API process.

`mcp.client.stdio.stdio_client` spawns its own process and keeps its teardown to itself; the
launchers hold the child's two pipe ends (exec spawned it, the fork template forked it) and stop the
child themselves (`launcher.process`). `pipe_transport` speaks the same wire format
as `stdio_client` (newline-delimited JSON-RPC, UTF-8, one `SessionMessage` or parse error per line)
over those fds (`launcher.session.PipeMCPServer` is the Agents SDK's `MCPServerStdio` with it).

Closing the pipes is the first step of every teardown: the child reads EOF and `os._exit`s. Nothing
here waits for the child, so that step costs the request path well under a millisecond.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager, suppress

import anyio
import anyio.lowlevel
import jsonschema  # noqa: F401 - see below
import mcp_types as types
from agents.mcp.server import MCPStreamTransport
from mcp.shared.message import SessionMessage

from chatgate.stdio_wire import READ_CHUNK_BYTES, write_message

# `import jsonschema` (the imports above): the MCP client imports it on a session's first tool call
# (~0.1 s, blocking the event loop); importing it with the launcher moves that to start-up.


class ChildPipes:
    """The API side of one forked child: its pid and the two pipe ends, closed exactly once."""

    def __init__(self, pid: int, stdin_fd: int, stdout_fd: int) -> None:
        self.pid = pid
        self.stdin_fd = stdin_fd
        self.stdout_fd = stdout_fd
        for fd in (stdin_fd, stdout_fd):
            os.set_blocking(fd, False)
            os.set_inheritable(fd, False)  # SCM_RIGHTS fds arrive without close-on-exec
        self._closed = False

    def close(self) -> None:
        """Close both ends; the child reads EOF and exits. Idempotent."""
        if self._closed:
            return
        self._closed = True
        for fd in (self.stdin_fd, self.stdout_fd):
            # Wake any task waiting on the fd before the number can be reused (outside a loop: none).
            with suppress(RuntimeError, LookupError):
                anyio.notify_closing(fd)
            with suppress(OSError):
                os.close(fd)


def _parse_line(line: bytes) -> SessionMessage | Exception:
    try:
        return SessionMessage(types.jsonrpc_message_adapter.validate_json(line, by_name=False))
    except ValueError as exc:  # surfaced to the session, like stdio_client does
        return exc


@asynccontextmanager
async def pipe_transport(pipes: ChildPipes) -> AsyncIterator[MCPStreamTransport]:
    """Streams for a `ClientSession` over the child's pipes; closes them on exit."""
    read_writer, read_stream = anyio.create_memory_object_stream[SessionMessage | Exception](0)
    write_stream, write_reader = anyio.create_memory_object_stream[SessionMessage](0)

    async def read_lines() -> None:
        buffer = bytearray()
        async with read_writer:
            while True:
                try:
                    await anyio.wait_readable(pipes.stdout_fd)
                    chunk = os.read(pipes.stdout_fd, READ_CHUNK_BYTES)
                except BlockingIOError:
                    continue
                except (OSError, anyio.ClosedResourceError):
                    return
                if not chunk:
                    return  # the child exited (or was killed): the session sees the stream end
                buffer += chunk
                while (end := buffer.find(b"\n")) >= 0:
                    line = bytes(buffer[:end])
                    del buffer[: end + 1]
                    try:
                        await read_writer.send(_parse_line(line))
                    except (anyio.ClosedResourceError, anyio.BrokenResourceError):
                        return

    async def write_messages() -> None:
        try:
            async with write_reader:
                async for message in write_reader:
                    await write_message(pipes.stdin_fd, message)
        except (OSError, anyio.ClosedResourceError, anyio.BrokenResourceError):
            # The child is gone: end the read side so no request waits forever.
            await read_writer.aclose()

    try:
        async with anyio.create_task_group() as tg:
            tg.start_soon(read_lines)
            tg.start_soon(write_messages)
            try:
                yield read_stream, write_stream
            finally:
                tg.cancel_scope.cancel()
    finally:
        pipes.close()
        for stream in (read_stream, write_stream, read_writer, write_reader):
            stream.close()
