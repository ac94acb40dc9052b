"""MCP over a forked child's stdio pipes, seen from the API process.

`mcp.client.stdio.stdio_client` spawns its own process; the fork launcher already has one (the
template forked it) and holds only the two pipe ends. `pipe_transport` speaks the same wire format
as `stdio_client` (newline-delimited JSON-RPC, UTF-8, one `SessionMessage` or parse error per line)
over those fds, and `ForkedMCPServer` is the Agents SDK's `MCPServerStdio` with that transport.

Teardown is closing the pipes: the child reads EOF and `os._exit`s, the template reaps it. Nothing
here waits for the child, so leaving a session costs the request path well under a millisecond.
"""

from __future__ import annotations

import copy
import os
from collections.abc import AsyncIterator
from contextlib import AbstractAsyncContextManager, asynccontextmanager, suppress
from typing import Any

import anyio
import anyio.lowlevel
import jsonschema  # noqa: F401 - see below
import mcp_types as types
from agents.mcp import MCPServerStdio
from agents.mcp.server import MCPStreamTransport
from mcp.shared.message import SessionMessage
from mcp.types import Tool as MCPTool

# `jsonschema` above: the MCP client imports it on a session's first tool call (~0.1 s, blocking the
# event loop); importing it with the launcher moves that to start-up.
READ_CHUNK_BYTES = 64 * 1024


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
                    json = message.message.model_dump_json(by_alias=True, exclude_unset=True)
                    view = memoryview((json + "\n").encode())
                    while view:
                        try:
                            view = view[os.write(pipes.stdin_fd, view) :]
                        except BlockingIOError:
                            await anyio.wait_writable(pipes.stdin_fd)
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


class ForkedMCPServer(MCPServerStdio):
    """`MCPServerStdio` whose transport is an already-forked child's pipes.

    `tools` is the template's tool list (identical for every child: registration does not depend on
    the identity); with it, `list_tools` is answered from the cache instead of costing a round trip.
    """

    def __init__(self, pipes: ChildPipes, *, tools: list[MCPTool] | None = None, **kwargs: Any) -> None:
        super().__init__(params={"command": "forked", "args": []}, **kwargs)
        self.pipes = pipes
        self._preloaded_tools = tools

    @property
    def pid(self) -> int:
        return self.pipes.pid

    def create_streams(self) -> AbstractAsyncContextManager[MCPStreamTransport]:
        return pipe_transport(self.pipes)

    async def connect(self) -> None:
        await super().connect()  # type: ignore[no-untyped-call]
        if self._preloaded_tools is not None:
            # Seed the SDK's own cache (what `cache_tools_list=True` fills after the first listing), so
            # client-side behavior, including its required-argument check, matches the exec path.
            self._tools_list = copy.deepcopy(self._preloaded_tools)
            self._cache_dirty = False
            # The MCP client re-lists tools on a session's first call to learn output schemas; give it
            # the same schemas (private in mcp 2.x; without it the only cost is that round trip).
            schemas = getattr(self.session, "_tool_output_schemas", None)
            if isinstance(schemas, dict):
                schemas.update({tool.name: tool.output_schema for tool in self._preloaded_tools})

    async def cleanup(self) -> None:
        try:
            await super().cleanup()  # type: ignore[no-untyped-call]
        finally:
            self.pipes.close()
