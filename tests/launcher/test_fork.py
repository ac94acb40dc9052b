"""Fork-only behavior: the template's channel, its crashes, child limits, launcher selection."""

from __future__ import annotations

import os
import signal
import socket
import stat
import sys
import time
from collections.abc import AsyncIterator
from pathlib import Path

import anyio
import pytest

from chatgate.auth.principal import Principal
from chatgate.forkserver import protocol
from chatgate.launcher import ToolServerStartError, create_launcher
from chatgate.launcher.exec import ExecLauncher
from support.launching import (
    eventually,
    is_gone,
    launcher_settings,
    session_pid,
    spares_settled,
    template_children,
)

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="fork is Linux-only")

if sys.platform.startswith("linux"):
    from chatgate.launcher.fork import ForkLauncher

NOBODY = 65534


@pytest.fixture
async def fork_launcher(tmp_path: Path) -> AsyncIterator[ForkLauncher]:
    launcher = ForkLauncher(launcher_settings(tmp_path))
    await launcher.start()
    try:
        yield launcher
    finally:
        await launcher.stop()


def socket_path(launcher: ForkLauncher) -> Path:
    assert launcher._template is not None
    return launcher._template.socket_path


def raw_request(path: Path, payload: dict[str, object]) -> tuple[bytes, list[int]]:
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as client:
        client.settimeout(5)
        client.connect(str(path))
        client.sendall(protocol.encode_frame(payload))
        message, fds, _flags, _addr = socket.recv_fds(client, 4096, protocol.MAX_CHILD_FDS)
        return message, fds


def connect_as_nobody(path: Path) -> str:
    """In a forked child running as `nobody`, ask the template for a child; return what happened."""
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:  # pragma: no cover - runs in the child
        outcome = "unexpected"
        try:
            os.setgid(NOBODY)
            os.setuid(NOBODY)
            with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as client:
                client.settimeout(5)
                client.connect(str(path))
                client.sendall(protocol.encode_frame({"token": "x", "env": {}, "cwd": None}))
                outcome = "reply:" + client.recv(4096).decode(errors="replace")
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


def test_create_launcher_prefers_fork_on_linux_and_honors_exec(tmp_path: Path) -> None:
    assert isinstance(create_launcher(launcher_settings(tmp_path)), ForkLauncher)
    assert isinstance(create_launcher(launcher_settings(tmp_path, MCP_LAUNCHER="exec")), ExecLauncher)
    assert isinstance(create_launcher(launcher_settings(tmp_path, MCP_LAUNCHER="fork")), ForkLauncher)


async def test_channel_directory_and_socket_are_private(fork_launcher: ForkLauncher) -> None:
    path = socket_path(fork_launcher)
    directory = path.parent.stat()
    assert directory.st_uid == os.geteuid()
    assert stat.S_IMODE(directory.st_mode) == 0o700
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root to act as another user")
@pytest.mark.parametrize("opened", [False, True], ids=["private-directory", "opened-up-directory"])
async def test_another_user_cannot_get_a_child(fork_launcher: ForkLauncher, opened: bool) -> None:
    path = socket_path(fork_launcher)
    if opened:  # defense in depth: even with the directory opened up, the uid check refuses
        path.parent.chmod(0o755)
        path.chmod(0o666)
    spares = await spares_settled(fork_launcher)
    outcome = await anyio.to_thread.run_sync(connect_as_nobody, path)
    if opened:
        assert outcome in {"reply:", "ConnectionResetError", "BrokenPipeError"}  # closed without a word
    else:
        assert outcome == "PermissionError"
    assert template_children(fork_launcher) == spares  # no spare was handed out


async def test_an_unauthenticated_request_is_refused(fork_launcher: ForkLauncher) -> None:
    spares = await spares_settled(fork_launcher)
    env = {"CHATGATE_USER_ID": "mallory"}
    for token in ("0" * 64, None, 12):
        message, fds = await anyio.to_thread.run_sync(
            raw_request, socket_path(fork_launcher), {"token": token, "env": env, "cwd": None}
        )
        assert fds == []
        framed = protocol.split_frame(message)
        assert framed is not None
        assert framed[0] == {"ok": False, "error": protocol.ERROR_UNAUTHORIZED}
    assert template_children(fork_launcher) == spares  # no spare was handed out


async def test_template_killed_mid_session_fails_that_request_and_the_next_works(
    fork_launcher: ForkLauncher,
) -> None:
    first = fork_launcher.template_pid
    assert first is not None
    outcome = "no call"
    async with fork_launcher.launch(Principal("alice"), request_id="t-crash") as server:
        await server.call_tool("whoami", {})
        os.kill(first, signal.SIGKILL)
        await eventually(lambda: is_gone(first))  # the kernel signals its children as it exits
        with anyio.fail_after(60):  # the session must fail, never hang (a ceiling, not a speed)
            try:
                result = await server.call_tool("whoami", {})
                outcome = "error result" if result.is_error else "answered"
            except Exception as exc:
                outcome = type(exc).__name__
    assert outcome not in {"answered", "no call"}
    await eventually(lambda: fork_launcher.template_pid not in (None, first))
    async with fork_launcher.launch(Principal("bob"), request_id="t-after") as server:
        assert (await server.call_tool("whoami", {})).structured_content == {"user_id": "bob"}


async def test_a_dead_template_fails_the_request_cleanly_or_is_replaced(fork_launcher: ForkLauncher) -> None:
    first = fork_launcher.template_pid
    assert first is not None
    os.kill(first, signal.SIGKILL)
    try:
        async with fork_launcher.launch(Principal("alice"), request_id="t-dead") as server:
            assert (await server.call_tool("whoami", {})).structured_content == {"user_id": "alice"}
    except ToolServerStartError:
        pass  # the request raced the crash: a clean 503, not a hang or a raw error
    async with fork_launcher.launch(Principal("bob"), request_id="t-next") as server:
        assert (await server.call_tool("whoami", {})).structured_content == {"user_id": "bob"}
    assert fork_launcher.template_pid not in (None, first)


async def test_stop_kills_the_template_and_its_children(tmp_path: Path) -> None:
    launcher = ForkLauncher(launcher_settings(tmp_path))
    await launcher.start()
    template = launcher.template_pid
    assert template is not None
    async with launcher.launch(Principal("alice"), request_id="t-stop") as server:
        await server.call_tool("whoami", {})
        children = template_children(launcher)
        assert session_pid(server, set()) in children
        await launcher.stop()
    assert is_gone(template)
    await eventually(lambda: all(is_gone(pid) for pid in children))


async def test_a_child_outliving_its_lifetime_is_killed(tmp_path: Path, fork_launcher: ForkLauncher) -> None:
    # The lifetime must outlast a launch and a call on this machine, loaded or not: measure one.
    started = time.monotonic()
    async with fork_launcher.launch(Principal("alice"), request_id="t-measure") as server:
        await server.call_tool("whoami", {})
    lifetime = max(1.0, 20 * (time.monotonic() - started))
    launcher = ForkLauncher(launcher_settings(tmp_path, MCP_CHILD_LIFETIME_SECONDS=lifetime))
    await launcher.start()
    try:
        async with launcher.launch(Principal("alice"), request_id="t-lifetime") as server:
            await server.call_tool("whoami", {})
            pid = session_pid(server, set())
            await eventually(lambda: is_gone(pid), within=lifetime + 60)
        assert all(not is_gone(spare) for spare in await spares_settled(launcher))  # idle spares stay
    finally:
        await launcher.stop()


async def test_a_prebuilt_server_serves_nobody_until_bound_and_binds_once() -> None:
    from mcp import Client

    from chatgate.mcp_server.server import build_server
    from chatgate.mcp_server.settings import BoundIdentity, ChildSettings, IdentityMissingError

    server = build_server(ChildSettings(identity=BoundIdentity("template-placeholder")), bind=False)
    with pytest.raises(IdentityMissingError):
        async with Client(server) as client:
            await client.call_tool("whoami", {})
    server.bind(ChildSettings(identity=BoundIdentity("alice")))
    with pytest.raises(RuntimeError, match="already bound"):
        server.bind(ChildSettings(identity=BoundIdentity("bob")))
    async with Client(server) as client:
        assert (await client.call_tool("whoami", {})).structured_content == {"user_id": "alice"}


async def test_a_child_without_an_identity_refuses_to_serve(fork_launcher: ForkLauncher) -> None:
    assert fork_launcher._template is not None
    token = fork_launcher._template._token
    message, fds = await anyio.to_thread.run_sync(
        raw_request, socket_path(fork_launcher), {"token": token, "env": {"FILES_ROOT": "/tmp"}, "cwd": None}
    )
    try:
        framed = protocol.split_frame(message)
        assert framed is not None and framed[0]["ok"] is True
        await eventually(lambda: is_gone(framed[0]["pid"]))
    finally:
        for fd in fds:
            os.close(fd)


async def test_a_malformed_request_is_refused(fork_launcher: ForkLauncher) -> None:
    assert fork_launcher._template is not None
    token = fork_launcher._template._token
    spares = await spares_settled(fork_launcher)
    for env in ({"CHATGATE_USER_ID": 7}, ["CHATGATE_USER_ID"], None):
        message, fds = await anyio.to_thread.run_sync(
            raw_request, socket_path(fork_launcher), {"token": token, "env": env, "cwd": None}
        )
        assert fds == []
        assert protocol.split_frame(message) == (
            {"ok": False, "error": protocol.ERROR_BAD_REQUEST},
            len(message),
        )
    assert template_children(fork_launcher) == spares


async def test_the_template_never_receives_a_requests_api_secrets(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from chatgate.launcher import template_client

    seen: list[dict[str, str]] = []
    original = template_client.TemplateProcess.start

    async def spy(*args: object, base_env: dict[str, str], **kwargs: object) -> object:
        seen.append(base_env)
        return await original(*args, base_env=base_env, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(template_client.TemplateProcess, "start", spy)
    launcher = ForkLauncher(launcher_settings(tmp_path))  # not started: the first launch starts it
    try:
        secrets = {"CHATGATE_API_SHOP_TOKEN": "alice-secret"}
        async with launcher.launch(Principal("alice"), request_id="t-secret", extra_env=secrets) as server:
            assert (await server.call_tool("whoami", {})).structured_content == {"user_id": "alice"}
    finally:
        await launcher.stop()
    assert seen
    assert not any("alice-secret" in value for env in seen for value in env.values())
