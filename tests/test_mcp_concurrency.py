"""A tool server runs a bounded number of calls at once and refuses the excess cleanly (item 18)."""

from __future__ import annotations

from pathlib import Path

import anyio
import pytest
from mcp import Client
from mcp.server.mcpserver.exceptions import ToolError

from chatgate.mcp_server import concurrency
from chatgate.mcp_server.concurrency import BUSY_MESSAGE, CallGate, is_exhaustion
from chatgate.mcp_server.server import build_server
from chatgate.mcp_server.settings import BoundIdentity, ChildSettings
from chatgate.mcp_server.tools import files as file_tools


async def test_the_gate_runs_some_queues_some_and_refuses_the_rest() -> None:
    gate = CallGate(running=1, waiting=1)
    release = anyio.Event()
    holding, queued_done = anyio.Event(), anyio.Event()

    async def hold() -> None:
        async with gate.admit():
            holding.set()
            await release.wait()

    async def queued() -> None:
        async with gate.admit():
            queued_done.set()

    async with anyio.create_task_group() as group:
        group.start_soon(hold)
        await holding.wait()
        group.start_soon(queued)
        await anyio.wait_all_tasks_blocked()  # the second call is waiting for the running one
        with pytest.raises(ToolError, match="busy"):
            async with gate.admit():
                pass
        release.set()
        await queued_done.wait()  # the queued call ran once a slot was free


async def test_a_cancelled_waiter_gives_its_place_back() -> None:
    gate = CallGate(running=1, waiting=1)
    admitted = anyio.Event()

    async def wait_in_line() -> None:
        async with gate.admit():  # refused ("busy") if the cancelled waiter still held the place
            admitted.set()

    async with anyio.create_task_group() as group:
        async with gate.admit():
            with anyio.CancelScope() as scope:
                scope.cancel()
                async with gate.admit():
                    pass  # pragma: no cover - cancelled while waiting
            group.start_soon(wait_in_line)
            await anyio.wait_all_tasks_blocked()
        await admitted.wait()


def test_exhaustion_is_recognised_through_causes() -> None:
    try:
        try:
            raise RuntimeError("can't start new thread")
        except RuntimeError as inner:
            raise ValueError("wrapped") from inner
    except ValueError as outer:
        assert is_exhaustion(outer)
    assert is_exhaustion(MemoryError())
    assert not is_exhaustion(RuntimeError("something else"))


async def test_a_tool_out_of_threads_tells_the_model_it_is_busy(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    async def no_thread(*_args: object, **_kwargs: object) -> object:
        raise RuntimeError("can't start new thread")

    monkeypatch.setattr(file_tools.anyio.to_thread, "run_sync", no_thread)
    settings = ChildSettings(identity=BoundIdentity(user_id="alice"), files_root=tmp_path)
    async with Client(build_server(settings)) as client:
        result = await client.call_tool("files_write", {"path": "a.txt", "content": "x"})
    assert result.is_error
    assert BUSY_MESSAGE in result.content[0].text  # type: ignore[union-attr]
    assert not (tmp_path / "a.txt").exists()


def test_the_bounds_leave_room_for_a_large_turn() -> None:
    # A turn of two dozen calls is served without refusals; only a flood is refused.
    assert concurrency.MAX_RUNNING_CALLS + concurrency.MAX_WAITING_CALLS >= 48
