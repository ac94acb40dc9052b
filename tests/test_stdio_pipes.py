"""The tool server's stdio transport (`chatgate.mcp_server.stdio_pipes`): the wire format of the SDK's
`stdio_server`, over non-blocking pipes."""

from __future__ import annotations

import os

import anyio
import anyio.lowlevel
import mcp_types as types
from mcp.shared.message import SessionMessage

from chatgate.mcp_server.stdio_pipes import fd_streams

PING = b'{"jsonrpc":"2.0","id":1,"method":"ping"}'


async def test_lines_in_any_chunking_are_messages_and_bad_lines_are_errors() -> None:
    client_out, server_in = os.pipe()[::-1]  # (write end for the client, read end for the server)
    server_out, client_in = os.pipe()[::-1]
    try:
        async with fd_streams(server_in, server_out) as (read_stream, write_stream):
            # A message split across writes, two in one write, a bad line, a last line without "\n".
            for chunk in (PING[:10], PING[10:] + b"\n" + PING + b"\n", b"not json\n" + PING):
                os.write(client_out, chunk)
                await anyio.lowlevel.checkpoint()
            os.close(client_out)
            client_out = -1
            async with read_stream:
                received = [item async for item in read_stream]
            await write_stream.send(
                SessionMessage(types.JSONRPCResponse(jsonrpc="2.0", id=1, result={"ok": True}))
            )
            await write_stream.aclose()
        assert [type(item).__name__ for item in received] == [
            "SessionMessage",
            "SessionMessage",
            "ValidationError",
            "SessionMessage",
        ]
        assert all(
            isinstance(item.message, types.JSONRPCRequest) and item.message.method == "ping"
            for item in received
            if isinstance(item, SessionMessage)
        )
        assert os.read(client_in, 4096) == b'{"jsonrpc":"2.0","id":1,"result":{"ok":true}}\n'
    finally:
        for fd in (client_out, server_in, server_out, client_in):
            if fd >= 0:
                os.close(fd)
