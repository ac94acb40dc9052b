"""A tool server's stderr carries JSON log lines only, even when its client leaves mid-call (item 21).

The client leaving during a tool call is how a cancelled request ends: the server's answer then
meets a closed pipe. That must not print a traceback (it printed a multi-line BrokenPipeError), and
the calls it cut short must close what they opened (no "Exception closing connection" from the
database pool). The child's real stderr is captured at the file-descriptor level.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import anyio
import pytest

from chatgate.auth.principal import Principal
from chatgate.launcher import Launcher
from chatgate.storage.migrate import upgrade_database
from support.launching import eventually, launcher_settings, make_launcher
from support.processes import tool_server_children

CEILING = 60.0
LEAVES = 8


async def _burst(server: Any, index: int) -> None:
    async with anyio.create_task_group() as group:
        for n in range(4):
            group.start_soon(server.call_tool, "records_create", {"collection": "c", "data": {"n": n}})
        arguments = {"path": f"f{index}.txt", "content": "x" * 200_000, "mode": "overwrite"}
        group.start_soon(server.call_tool, "files_write", arguments)


async def _burst_seconds(launcher: Launcher) -> float:
    async with launcher.launch(Principal("alice"), request_id="measure") as server:
        await server.call_tool("whoami", {})
        started = time.monotonic()
        await _burst(server, -1)
        return time.monotonic() - started


async def _leave_during_calls(kind: str, tmp_path: Path) -> None:
    settings = launcher_settings(tmp_path)
    await upgrade_database(settings.resolved_database_url)
    launcher = make_launcher(kind, settings)
    await launcher.start()  # after capfd took fd 2: the children write into the capture
    try:
        burst = await _burst_seconds(launcher)
        for index in range(LEAVES):
            async with launcher.launch(Principal("alice"), request_id=f"leave-{index}") as server:
                await server.call_tool("whoami", {})
                # Leave at staggered moments inside a burst of database and file calls (spread over
                # the burst's measured duration, so on any machine most cuts land mid-call).
                with anyio.move_on_after(burst * (index + 0.5) / LEAVES):
                    await _burst(server, index)
    finally:
        await launcher.stop()
    await eventually(lambda: not tool_server_children(), within=CEILING)


@pytest.mark.parametrize("kind", ["exec", "fork"])
async def test_a_client_leaving_mid_call_leaves_only_json_lines_on_stderr(
    kind: str, tmp_path: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    await _leave_during_calls(kind, tmp_path)
    lines = [line for line in capfd.readouterr().err.splitlines() if line.strip()]
    for line in lines:
        try:
            entry = json.loads(line)
        except json.JSONDecodeError:
            pytest.fail(f"not a JSON log line on the tool server's stderr: {line!r}")
        assert isinstance(entry, dict) and {"level", "logger", "msg"} <= set(entry), line
        # A client leaving is not an error, and cut-short calls close what they opened.
        assert entry["level"] not in {"error", "critical"} and "exc" not in entry, line
