"""A process other than the API process gets nothing from the fork template, even with its token.

Every tool server is forked from the template and so holds a copy of the channel token in its
memory. Without the sandbox (or on a kernel without seccomp) it could connect to the template's
socket and ask for a tool server bound to any user; the template must refuse any peer but its parent.
"""

from __future__ import annotations

import os
import socket
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import anyio
import pytest

from chatgate.forkserver import protocol
from support.launching import launcher_settings, spares_settled, template_children

pytestmark = pytest.mark.skipif(
    not sys.platform.startswith("linux"), reason="the fork launcher is Linux-only"
)


@pytest.fixture
async def fork_launcher(tmp_path: Path) -> AsyncIterator[object]:
    from chatgate.launcher.fork import ForkLauncher

    launcher = ForkLauncher(launcher_settings(tmp_path, MCP_SANDBOX="off"))
    await launcher.start()
    try:
        yield launcher
    finally:
        await launcher.stop()


def ask_from_another_process(path: str, token: str) -> str:
    """In a forked child of this (the API) process, send a well-formed, authenticated bind request."""
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:  # pragma: no cover - runs in the child
        outcome = "unexpected"
        try:
            with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as client:
                client.settimeout(10)
                client.connect(path)
                request = {"token": token, "env": {"CHATGATE_USER_ID": "victim"}, "cwd": None}
                client.sendall(protocol.encode_frame(request))
                message, fds, _flags, _address = socket.recv_fds(client, 65536, 2)
                outcome = f"reply:{len(message)} bytes, {len(fds)} descriptors"
        except OSError as exc:
            outcome = type(exc).__name__
        finally:
            os.write(write_end, outcome.encode())
            os._exit(0)
    os.close(write_end)
    with os.fdopen(read_end, "rb") as result:
        outcome = result.read().decode()
    os.waitpid(pid, 0)
    return outcome


async def test_only_the_api_process_gets_a_tool_server(fork_launcher: object) -> None:
    template = fork_launcher._template  # type: ignore[attr-defined]
    spares = await spares_settled(fork_launcher)  # type: ignore[arg-type]
    outcome = await anyio.to_thread.run_sync(
        ask_from_another_process, str(template.socket_path), template._token
    )
    assert outcome in {"reply:0 bytes, 0 descriptors", "ConnectionResetError", "BrokenPipeError"}, outcome
    assert template_children(fork_launcher) == spares  # type: ignore[arg-type]  # no spare was handed out
