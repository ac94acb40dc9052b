"""Behavior both launchers must share: identity, strictness, cleanup, environment, parent death."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import psutil
import pytest

from chatgate.auth.principal import Principal
from chatgate.launcher import Launcher
from support.launching import (
    eventually,
    is_gone,
    launcher_settings,
    live_descendants,
    make_launcher,
    open_fds,
    session_pid,
    template_pid,
)

HERE = Path(__file__).parent


async def test_whoami_reports_the_bound_identity_and_only_profile_claims(launcher: Launcher) -> None:
    principal = Principal("alice", {"email": "alice@example.com", "name": "Alice", "role": "admin"})
    async with launcher.launch(principal, request_id="t-whoami") as server:
        result = await server.call_tool("whoami", {})
    assert not result.is_error
    assert result.structured_content == {"user_id": "alice", "email": "alice@example.com", "name": "Alice"}


async def test_each_session_is_bound_to_its_own_user(launcher: Launcher) -> None:
    async with (
        launcher.launch(Principal("alice"), request_id="t-a") as alice,
        launcher.launch(Principal("bob"), request_id="t-b") as bob,
    ):
        assert (await bob.call_tool("whoami", {})).structured_content == {"user_id": "bob"}
        assert (await alice.call_tool("whoami", {})).structured_content == {"user_id": "alice"}


async def test_undeclared_arguments_are_rejected(launcher: Launcher) -> None:
    async with launcher.launch(Principal("alice"), request_id="t-args") as server:
        tools = await server.list_tools()
        result = await server.call_tool("whoami", {"user_id": "bob"})
    assert "whoami" in {tool.name for tool in tools}
    assert all(tool.input_schema.get("additionalProperties") is False for tool in tools)
    assert result.is_error
    assert "unknown argument(s) user_id" in json.dumps(result.model_dump(mode="json"))


async def test_a_tool_server_reads_its_stdin_without_a_worker_thread(launcher: Launcher) -> None:
    """The client's messages are read on the tool server's event loop (`mcp_server.stdio_pipes`), not
    by a worker thread per line: serving calls leaves it with its main thread and its parent watchdog."""
    before = live_descendants()
    async with launcher.launch(Principal("alice"), request_id="threads") as server:
        for _ in range(3):
            result = await server.call_tool("whoami", {})
            assert result.structured_content is not None
        threads = psutil.Process(session_pid(server, before)).threads()
    assert len(threads) == 2


async def test_teardown_leaves_no_tool_server_process(launcher: Launcher) -> None:
    before = live_descendants()
    async with launcher.launch(Principal("alice"), request_id="t-teardown") as server:
        await server.call_tool("whoami", {})
        pid = session_pid(server, before)
        assert pid != template_pid(launcher)
    await eventually(lambda: is_gone(pid))


async def test_sessions_leak_no_file_descriptors(launcher: Launcher) -> None:
    async with launcher.launch(Principal("alice"), request_id="t-fd-warm") as server:
        await server.call_tool("whoami", {})
    await eventually(lambda: len(open_fds()) > 0)
    baseline = open_fds()
    for index in range(5):
        async with launcher.launch(Principal(f"user-{index}"), request_id=f"t-fd-{index}") as server:
            await server.call_tool("whoami", {})
    await eventually(lambda: open_fds() <= baseline)


async def test_child_environment_holds_no_model_key_or_jwt_secret(
    launcher_kind: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test-must-not-leak")
    monkeypatch.setenv("JWT_SECRET", "jwt-secret-must-not-leak")
    launcher = make_launcher(launcher_kind, launcher_settings(tmp_path))
    await launcher.start()
    try:
        before = live_descendants()
        async with launcher.launch(Principal("alice"), request_id="t-env") as server:
            await server.call_tool("whoami", {})
            processes = {session_pid(server, before), template_pid(launcher)} - {None}
            environments = [psutil.Process(pid).environ() for pid in processes if pid is not None]
    finally:
        await launcher.stop()
    assert environments
    for environ in environments:
        assert "OPENAI_API_KEY" not in environ
        assert "JWT_SECRET" not in environ
        assert not any("must-not-leak" in value for value in environ.values())


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="PDEATHSIG is Linux-only")
async def test_killing_the_api_process_leaves_no_stray_processes(launcher_kind: str, tmp_path: Path) -> None:
    with subprocess.Popen(  # noqa: ASYNC220 - a stand-in API process, waited for below
        [sys.executable, str(HERE / "hold_session.py"), launcher_kind, str(tmp_path)],
        stdout=subprocess.PIPE,
        env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)},
    ) as parent:
        try:
            assert parent.stdout is not None
            pids = json.loads(parent.stdout.readline())
            assert len(pids) >= 1  # exec: the tool server; fork: the template and its child
        finally:
            parent.send_signal(signal.SIGKILL)
            parent.wait()
    await eventually(lambda: all(is_gone(pid) for pid in pids))
