"""The tool server's side of MCP over stdio, read and written on the event loop, without threads.

`mcp.server.stdio.stdio_server` wraps stdin and stdout in anyio's thread-backed files: every line
read, every write and every flush is a hop to a worker thread, and the first one starts that
thread in the freshly forked child. Profiled in a forked tool server, those hops and the thread's
start were a fifth of its Python CPU for a one-tool chat (`bench/PROFILE.md`). Here the pipes are
non-blocking and served by the event loop, as the API process serves their other ends
(`chatgate.launcher.pipes`).

The rest is what `stdio_server` does: the same wire format (newline-delimited JSON-RPC in UTF-8,
undecodable bytes replaced; one `SessionMessage`, or the parse error, per line), and the same
claim of the process's standard streams: while serving, fd 0 reads the null device and fd 1 writes
to stderr, so a tool (or a process it starts) can neither read the client's messages nor corrupt
the wire with stray output; both are restored on exit.
"""

from __future__ import annotations

import fcntl
import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager, suppress

import anyio
import mcp_types as types
from mcp.shared._context_streams import (
    ContextReceiveStream,
    ContextSendStream,
    create_context_streams,
)
from mcp.shared.message import SessionMessage

from chatgate.stdio_wire import READ_CHUNK_BYTES, write_message

ServerStreams = tuple[ContextReceiveStream[SessionMessage | Exception], ContextSendStream[SessionMessage]]


def _parse_line(line: bytes) -> SessionMessage | Exception:
    try:
        text = line.decode("utf-8", errors="replace")
        return SessionMessage(types.jsonrpc_message_adapter.validate_json(text, by_name=False))
    except Exception as exc:  # handed to the session as the stdio transport does
        return exc


@asynccontextmanager
async def fd_streams(stdin_fd: int, stdout_fd: int) -> AsyncIterator[ServerStreams]:
    """MCP server streams over `stdin_fd` (messages in) and `stdout_fd` (messages out).

    Both are made non-blocking. The read side ends at EOF on `stdin_fd` (a last line without its
    newline still counts). A write to a closed pipe raises `BrokenPipeError` out of the block.
    """
    for fd in (stdin_fd, stdout_fd):
        os.set_blocking(fd, False)
    read_writer, read_stream = create_context_streams[SessionMessage | Exception](0)
    write_stream, write_reader = create_context_streams[SessionMessage](0)

    async def read_lines() -> None:
        buffer = bytearray()
        async with read_writer:
            while True:
                try:
                    chunk = os.read(stdin_fd, READ_CHUNK_BYTES)
                except BlockingIOError:
                    await anyio.wait_readable(stdin_fd)
                    continue
                lines = []
                if chunk:
                    buffer += chunk
                    while (end := buffer.find(b"\n")) >= 0:
                        lines.append(bytes(buffer[: end + 1]))
                        del buffer[: end + 1]
                elif buffer:
                    lines.append(bytes(buffer))
                for line in lines:
                    try:
                        await read_writer.send(_parse_line(line))
                    except (anyio.ClosedResourceError, anyio.BrokenResourceError):
                        return
                if not chunk:
                    return  # EOF: the client closed our stdin

    async def write_messages() -> None:
        async with write_reader:
            async for message in write_reader:
                await write_message(stdout_fd, message)

    async with anyio.create_task_group() as tg:
        tg.start_soon(read_lines)
        tg.start_soon(write_messages)
        yield read_stream, write_stream


@asynccontextmanager
async def stdio_streams() -> AsyncIterator[ServerStreams]:
    """`fd_streams` over this process's stdin and stdout, claimed while serving (module docstring)."""
    wire_in = fcntl.fcntl(0, fcntl.F_DUPFD_CLOEXEC, 3)
    wire_out = fcntl.fcntl(1, fcntl.F_DUPFD_CLOEXEC, 3)
    null = os.open(os.devnull, os.O_RDONLY)
    try:
        os.dup2(null, 0)
        os.dup2(2, 1)
        async with fd_streams(wire_in, wire_out) as streams:
            yield streams
    finally:
        os.close(null)
        for fd, wire in ((0, wire_in), (1, wire_out)):
            with suppress(OSError):
                os.dup2(wire, fd)
                os.set_blocking(fd, True)  # the wire's pipe, as it was handed to this process
            os.close(wire)
