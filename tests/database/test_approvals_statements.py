"""What approvals cost an ordinary chat, counted in SQL statements: nothing. Whether the conversation
has a paused run is returned by the claim's own UPDATE, so a message to a conversation with no paused
run runs exactly the statements it runs with approvals off. SQLite and PostgreSQL (`database_url`).
"""

from __future__ import annotations

import datetime
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncEngine

from chatgate.admission import Admission
from chatgate.approvals.store import ApprovalStore
from chatgate.auth.principal import Principal
from chatgate.chat import ChatService
from chatgate.conversations.history import prepare_engine
from chatgate.conversations.store import ConversationStore
from chatgate.launcher.exec import ExecLauncher
from chatgate.turn import Turn
from support.models import answer, scripted_provider
from support.settings import make_settings


@contextmanager
def statements(engine: AsyncEngine) -> Iterator[list[str]]:
    """Every SQL statement `engine` runs inside the block, in order."""
    seen: list[str] = []

    def record(*args: Any) -> None:
        seen.append(" ".join(str(args[2]).split()))

    event.listen(engine.sync_engine, "before_cursor_execute", record)
    try:
        yield seen
    finally:
        event.remove(engine.sync_engine, "before_cursor_execute", record)


def service(tmp_path: Path, engine: AsyncEngine, *, approvals: bool) -> ChatService:
    settings = make_settings(tmp_path)
    return ChatService(
        settings,
        ExecLauncher(settings),
        Admission(2, 1),
        scripted_provider(answer("fine")),
        engine,
        ConversationStore(engine, stale_after=datetime.timedelta(minutes=5)),
        approvals=ApprovalStore(engine, ttl=datetime.timedelta(hours=1)) if approvals else None,
    )


async def second_message(chat: ChatService, engine: AsyncEngine, conversation: str) -> list[str]:
    """The statements of a follow-up message to `conversation` (its first one is not counted)."""
    user = Principal(f"counted-{conversation}")
    await chat.chat(Turn(user, "hello", request_id=f"{conversation}-1", conversation_id=conversation))
    with statements(engine) as seen:
        await chat.chat(Turn(user, "again", request_id=f"{conversation}-2", conversation_id=conversation))
    return seen


async def test_approvals_add_no_statement_to_an_ordinary_chat(
    engine: AsyncEngine, tmp_path: Path, backend: str
) -> None:
    prepare_engine(engine)
    without = await second_message(service(tmp_path, engine, approvals=False), engine, f"off-{backend}")
    with_approvals = await second_message(service(tmp_path, engine, approvals=True), engine, f"on-{backend}")
    assert len(with_approvals) == len(without), "\n".join(with_approvals)
    touching = [text for text in with_approvals if "paused_runs" in text or "tool_approvals" in text]
    assert len(touching) == 1 and touching[0].upper().startswith("UPDATE CONVERSATIONS"), touching
