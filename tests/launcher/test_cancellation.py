"""Cancellation at any point of a chat's lifecycle releases everything (issue 10, item 19).

A chat is cancelled from an anyio cancel scope after a random delay: while its tool server starts,
while the agent runs and calls a tool, while the session is torn down. On both launchers, JSON and
streamed, every time: the cancelled chat returns, and no tool server process, no admission slot and
no claim on the conversation remains.

The delays are seeded (`CHATGATE_TEST_SEED` to replay another seed) and drawn between 0 and 1.2x a
full chat measured on this machine and launcher first, so the cut points spread over the whole
lifecycle on a fast and on a loaded machine alike. Nothing waits a fixed time: the checks wait on
conditions, under generous ceilings that only catch a hang.
"""

from __future__ import annotations

import datetime
import gc
import os
import random
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import anyio
import pytest
from agents.stream_events import StreamEvent

from chatgate.admission import Admission
from chatgate.auth.principal import Principal
from chatgate.chat import ChatService
from chatgate.conversations.history import prepare_engine
from chatgate.conversations.store import ConversationStore
from chatgate.launcher import Launcher
from chatgate.storage.engine import create_engine
from chatgate.storage.errors import RowNotFoundError
from chatgate.storage.migrate import upgrade_database
from chatgate.turn import Turn
from support.launching import holds_within, make_launcher
from support.models import call_then_report, scripted_provider
from support.processes import tool_server_children
from support.settings import make_settings

SEED = int(os.environ.get("CHATGATE_TEST_SEED", "20261123"))
CUTS = {"exec": 10, "fork": 24}
# Ceilings that only catch a hang (a cancelled chat that never returns, a process never reaped).
HANG_CEILING_SECONDS = 60.0
OWNER = "alice"


@dataclass
class Chats:
    service: ChatService
    store: ConversationStore


@pytest.fixture
async def chats(launcher_kind: str, tmp_path: Path) -> AsyncIterator[Chats]:
    settings = make_settings(tmp_path, MCP_LAUNCHER=launcher_kind)
    await upgrade_database(settings.resolved_database_url)
    engine = create_engine(settings.resolved_database_url)
    prepare_engine(engine)
    launcher: Launcher = make_launcher(launcher_kind, settings)
    await launcher.start()
    store = ConversationStore(engine, stale_after=datetime.timedelta(minutes=5))
    service = ChatService(
        settings,
        launcher,
        Admission(2, 1.0),
        scripted_provider(call_then_report([("whoami", {}), ("whoami", {})])),
        engine,
        store,
    )
    try:
        yield Chats(service, store)
    finally:
        await launcher.stop()
        await engine.dispose()


async def _chat(service: ChatService, conversation_id: str, *, streamed: bool) -> None:
    async def ignore(_event: StreamEvent) -> None:
        return None

    await service.chat(
        Turn(Principal(OWNER), "hi", request_id=f"req-{conversation_id}", conversation_id=conversation_id),
        on_event=ignore if streamed else None,
    )


async def _claimed(store: ConversationStore, conversation_id: str) -> bool:
    try:
        conversation, _runs = await store.get(OWNER, conversation_id)
    except RowNotFoundError:
        return False  # cancelled before the claim was even made
    return bool(conversation["running"])


async def _no_tool_servers(case: dict[str, Any]) -> None:
    await holds_within(lambda: not tool_server_children(), HANG_CEILING_SECONDS)
    left = [(child.pid, child.name(), child.status()) for child in tool_server_children()]
    assert not left, (case, left)


# The SDK wraps each model turn's coroutine in another before creating its task; a cancellation that
# lands before that task first runs leaves the inner coroutine un-awaited. Harmless, and the SDK's.
@pytest.mark.filterwarnings("ignore:coroutine 'run_single_turn' was never awaited:RuntimeWarning")
@pytest.mark.filterwarnings("ignore:Exception ignored in. <coroutine object run_single_turn")
async def test_cancelling_a_chat_anywhere_releases_process_slot_and_claim(
    chats: Chats, launcher_kind: str, caplog: pytest.LogCaptureFixture
) -> None:
    timings = []
    for attempt in range(2):  # the first chat pays one-off costs; the second is the one to cut
        started = time.monotonic()
        with anyio.fail_after(HANG_CEILING_SECONDS):
            await _chat(chats.service, f"measure-{attempt}", streamed=False)
        timings.append(time.monotonic() - started)
        await _no_tool_servers({"measure": attempt})
    full_chat = timings[-1]

    rng = random.Random(f"{SEED}-{launcher_kind}")
    cuts: list[dict[str, Any]] = []
    for index in range(CUTS[launcher_kind]):
        delay = rng.uniform(0, 1.2 * full_chat)
        streamed = rng.random() < 0.5
        conversation_id = f"cut-{index}"
        case = {"seed": SEED, "delay": round(delay, 4), "streamed": streamed, "chat": round(full_chat, 3)}
        with anyio.fail_after(HANG_CEILING_SECONDS):  # the cancelled chat must return
            with anyio.move_on_after(delay) as cut:
                await _chat(chats.service, conversation_id, streamed=streamed)
        case["cut"] = cut.cancelled_caught
        cuts.append(case)
        assert chats.service.admission.in_use == 0, case
        assert not await _claimed(chats.store, conversation_id), case
        await _no_tool_servers(case)
    # The draw really cut chats short (delays up to 1.2x a chat: most land inside one).
    assert any(case["cut"] for case in cuts), cuts
    # Cancelled paths closed what they opened: no database connection was left half-closed (its
    # pending close task is reported when collected) and none failed to close.
    gc.collect()
    leftovers = [
        record.getMessage()
        for record in caplog.records
        if "Task was destroyed" in record.getMessage()
        or "Exception closing connection" in record.getMessage()
    ]
    assert not leftovers, leftovers
