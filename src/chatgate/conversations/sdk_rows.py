"""The Agents SDK session's own tables (`agent_sessions`, `agent_messages`), written in our transactions.

The SDK's `SQLAlchemySession` owns these tables' shape; chatgate writes a turn's items into them in the
same transaction that records the run, so a turn's history and its run record land together.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from chatgate.conversations.models import SDK_MESSAGES_TABLE, SDK_SESSIONS_TABLE

SDK_MESSAGES = sa.table(SDK_MESSAGES_TABLE, sa.column("session_id"), sa.column("message_data"))
SDK_SESSIONS = sa.table(SDK_SESSIONS_TABLE, sa.column("session_id"), sa.column("updated_at"))


async def append_history(
    connection: AsyncConnection, conversation_id: str, history: Sequence[str], *, first: bool = False
) -> None:
    """What the SDK session's `add_items` does, in the caller's transaction: the session row (created
    by the first write; `first` says this is it), then the items (JSON rows) in one executemany.

    The caller holds the conversation's claim, which serializes its writers: no row lock is needed.
    """
    touched = None
    if not first:
        touched = await connection.execute(
            SDK_SESSIONS.update()
            .where(SDK_SESSIONS.c.session_id == conversation_id)
            .values(updated_at=sa.func.current_timestamp())
        )
    if touched is None or touched.rowcount == 0:
        await connection.execute(SDK_SESSIONS.insert().values(session_id=conversation_id))
    await connection.execute(
        SDK_MESSAGES.insert(), [{"session_id": conversation_id, "message_data": row} for row in history]
    )
