"""The chat service called directly: cancellation from above, and a consumer that stops reading."""

from __future__ import annotations

import asyncio
import datetime
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from agents.stream_events import StreamEvent
from agents.testing import assistant_message, function_call
from sqlalchemy import event

from chatgate.admission import Admission
from chatgate.approvals.store import ApprovalStore
from chatgate.auth.principal import Principal
from chatgate.chat import ChatService
from chatgate.conversations.history import ConversationSession, prepare_engine
from chatgate.conversations.store import ConversationStore
from chatgate.launcher.exec import ExecLauncher
from chatgate.storage.engine import create_engine
from chatgate.storage.migrate import upgrade_database
from chatgate.turn import Turn
from support.models import Policy, answer, scripted_provider, tool_outputs
from support.processes import tool_server_children
from support.settings import make_settings


class Harness:
    def __init__(self, tmp_path: Path) -> None:
        self.settings = make_settings(tmp_path)
        self.engine = create_engine(self.settings.resolved_database_url)
        prepare_engine(self.engine)
        self.store = ConversationStore(self.engine, stale_after=datetime.timedelta(minutes=5))

    def service(self, policy: Policy) -> ChatService:
        return ChatService(
            self.settings,
            ExecLauncher(self.settings),
            Admission(2, 1),
            scripted_provider(policy),
            self.engine,
            self.store,
        )


@pytest.fixture
async def harness(tmp_path: Path) -> AsyncIterator[Harness]:
    made = Harness(tmp_path)
    await upgrade_database(made.settings.resolved_database_url)
    try:
        yield made
    finally:
        await made.engine.dispose()


async def test_cancelled_request_still_tears_down_and_records(harness: Harness) -> None:
    """Cancellation from above (shutdown, a caller's timeout) runs the shielded teardown and bookkeeping."""
    started = asyncio.Event()

    async def waiting(call: Any) -> Any:
        if not tool_outputs(call):
            return [
                function_call("whoami", {}, call_id="call_1")
            ]  # a tool call first: a tool server to tear down
        started.set()
        await asyncio.sleep(30)
        return answer("never")(call)

    service = harness.service(waiting)
    task = asyncio.create_task(
        service.chat(Turn(Principal("alice"), "hi", request_id="cancel", conversation_id="c1"))
    )
    await asyncio.wait_for(started.wait(), timeout=60)
    assert len(tool_server_children()) == 1
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert not tool_server_children()
    conversation, runs = await harness.store.get("alice", "c1")
    assert not conversation["running"]
    assert [run["outcome"] for run in runs] == ["interrupted"]
    history = await ConversationSession("c1", harness.engine, history_limit=None).get_items()
    assert [item.get("content") for item in history][:1] == ["hi"]  # type: ignore[union-attr]


async def test_a_consumer_that_stops_reading_stops_the_run(harness: Harness) -> None:
    """Cancelled while handing an event to a slow client, the run loop must stop too (no more model calls)."""
    second_turn_done: list[str] = []
    release = asyncio.Event()

    async def policy(call: Any) -> Any:
        if not tool_outputs(call):
            return [assistant_message("Looking."), function_call("whoami", {}, call_id="call_slow")]
        await release.wait()
        second_turn_done.append("completed")
        return [assistant_message("late")]

    stuck = asyncio.Event()

    async def slow_client(_event: StreamEvent) -> None:
        stuck.set()
        await asyncio.Event().wait()  # never reads on

    service = harness.service(policy)
    task = asyncio.create_task(
        service.chat(Turn(Principal("alice"), "hi", request_id="slow"), on_event=slow_client)
    )
    await asyncio.wait_for(stuck.wait(), timeout=60)
    # Not a bound: time for a run loop that was not stopped to reach the model again (a negative check).
    await asyncio.sleep(0.3)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    release.set()
    await asyncio.sleep(0.3)
    assert second_turn_done == []
    assert not tool_server_children()


async def test_a_new_conversations_first_turn_reads_back_nothing(harness: Harness) -> None:
    """A conversation the turn creates holds nothing else yet: its history is not read back from the
    database, its input is written without the SDK's session-row lock (lookup, savepoint) and no
    calls waiting for approval are looked up. Its next turn reads the stored history as always, and
    its claim asks for a paused run."""
    statements: list[str] = []

    def record(_connection: Any, _cursor: Any, statement: str, *_: Any) -> None:
        statements.append(statement)

    event.listen(harness.engine.sync_engine, "before_cursor_execute", record)
    inputs: list[Any] = []

    def policy(call: Any) -> Any:
        inputs.append(call.input)
        return [assistant_message(f"answer {len(inputs)}")]

    service = harness.service(policy)
    service.approvals = ApprovalStore(harness.engine, ttl=datetime.timedelta(minutes=5))
    first = Turn(Principal("alice"), "first question", request_id="new")
    await service.chat(first)
    history_reads = [s for s in statements if s.startswith("SELECT agent_messages.message_data")]
    assert history_reads == []
    assert not [s for s in statements if "SAVEPOINT" in s or "tool_approvals" in s or "paused_runs" in s]
    statements.clear()
    await service.chat(
        Turn(Principal("alice"), "second question", request_id="next", conversation_id=first.conversation_id)
    )
    assert [s for s in statements if s.startswith("SELECT agent_messages.message_data")]
    # An existing conversation's claim asks whether a paused run waits (in the claim's own UPDATE).
    claims = [s for s in statements if s.startswith("UPDATE conversations SET active_request_id")]
    assert len(claims) == 1 and "paused_runs" in claims[0]
    assert "first question" in str(inputs[1]) and "answer 1" in str(inputs[1])
    conversation, runs = await harness.store.get("alice", first.claimed_conversation)
    assert [run["outcome"] for run in runs] == ["completed", "completed"]
