"""Which stored history items make up which message of a thread, under which id.

The Agents SDK stores one row per model item (`agent_messages`); a frontend shows messages: a user
message, then one answer made of every item up to the next user message (text, tool calls and
their outputs, over several model calls). `conversation_messages` marks where each message begins
(the row id of its first item) and under which id, so a thread reads back with the ids the client
saw while it streamed, and regenerate or edit can find a message by id and drop it with everything
after it (`StoredMessage.first_item`).

A turn's marks are written with its history, in the transaction that ends the run
(`ConversationStore.finish` calls `mark_turn`). History written before ids were stored has no marks:
its messages get ids derived from their first row (`item_<row>`), which never change.
"""

from __future__ import annotations

import datetime
import json
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from chatgate.conversations.models import SDK_MESSAGES_TABLE, Conversation, ConversationMessage
from chatgate.storage.engine import owner_transaction
from chatgate.storage.errors import RowNotFoundError
from chatgate.storage.models import utc_now

C = Conversation.__table__  # type: ignore[attr-defined]
M = ConversationMessage.__table__  # type: ignore[attr-defined]
_ITEMS = sa.table(
    SDK_MESSAGES_TABLE,
    sa.column("id", sa.Integer),
    sa.column("session_id", sa.String),
    sa.column("message_data", sa.Text),
    sa.column("created_at", sa.DateTime),
)
USER = "user"
ASSISTANT = "assistant"


def new_message_id() -> str:
    """A fresh message id for an answer (or a user message the client sent without one)."""
    return f"msg_{uuid.uuid4().hex}"


def derived_message_id(first_item: int) -> str:
    """The id of a message that has no stored id: stable, from its first item's row id."""
    return f"item_{first_item}"


@dataclass(frozen=True)
class TurnIds:
    """The ids of one turn's messages: the user's (as the client sent it) and the answer's."""

    user: str = field(default_factory=new_message_id)
    assistant: str = field(default_factory=new_message_id)


@dataclass(frozen=True)
class StoredItem:
    """One history row: its id, the model item (a Responses API input item) and when it was stored."""

    row: int
    item: dict[str, Any]
    created_at: datetime.datetime


@dataclass
class StoredMessage:
    """One message of a thread: its items in order, and what the marks say about it."""

    id: str
    role: str  # "user" | "assistant"
    first_item: int
    created_at: datetime.datetime
    items: list[StoredItem]
    interrupted: bool = False
    failed_calls: frozenset[str] = frozenset()


@dataclass(frozen=True)
class TurnMarks:
    """What to mark for one turn, written with its history (`ConversationStore.finish`): the ids,
    when the user sent the message, whether the answer was stopped, which tool calls failed."""

    ids: TurnIds
    started_at: datetime.datetime
    interrupted: bool = False
    failed_calls: frozenset[str] = frozenset()


async def last_item(connection: AsyncConnection, conversation_id: str) -> int:
    """The row id of the conversation's last stored item (0 when none)."""
    last = await connection.scalar(
        sa.select(sa.func.max(_ITEMS.c.id)).where(_ITEMS.c.session_id == conversation_id)
    )
    return int(last or 0)


async def mark_turn(
    connection: AsyncConnection, owner: str, conversation_id: str, marks: TurnMarks, *, since: int
) -> None:
    """Mark the messages of the turn whose items are the rows after `since`, in the caller's
    transaction (the conversation's claim keeps other writers out).

    The first user item is the user message (id `marks.ids.user`; a fresh id if the thread already
    has that one, as when a client resends a message); the first item after it starts the answer (id
    `marks.ids.assistant`). Nothing stored, nothing marked.
    """
    rows = await _items(connection, conversation_id, after=since)
    user_row = next((row for row in rows if row.item.get("role") == USER), None)
    answer_from = user_row.row if user_row else since
    answer_row = next((row for row in rows if row.row > answer_from and row.item.get("role") != USER), None)
    if user_row is None and answer_row is None:
        return
    taken = set(await connection.scalars(sa.select(M.c.id).where(M.c.conversation_id == conversation_id)))
    ids = marks.ids
    new: list[dict[str, Any]] = []
    if user_row is not None:
        user_id = ids.user if ids.user not in taken else new_message_id()
        new.append(_mark(owner, conversation_id, user_id, USER, user_row.row, marks.started_at))
    if answer_row is not None and ids.assistant not in taken:
        answer_calls = {_call_id(row.item) for row in rows if row.row >= answer_row.row}
        mark = _mark(owner, conversation_id, ids.assistant, ASSISTANT, answer_row.row, utc_now())
        mark["interrupted"] = marks.interrupted
        mark["failed_calls"] = json.dumps(sorted(marks.failed_calls & answer_calls))
        new.append(mark)
    if new:
        await connection.execute(M.insert(), new)


class MessageIndex:
    """Reads the threads of one database's conversations (owner-filtered, RLS on PostgreSQL)."""

    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine

    async def thread(self, owner: str, conversation_id: str) -> list[StoredMessage]:
        """The conversation's messages in order, each with its items.

        Raises:
            RowNotFoundError: no such conversation for this owner (another owner's looks the same).
        """
        async with owner_transaction(self._engine, owner) as connection:
            mine = sa.and_(C.c.id == conversation_id, C.c.owner == owner)
            if not await connection.scalar(sa.select(sa.func.count()).select_from(C).where(mine)):
                raise RowNotFoundError("conversation")
            return await read_thread(connection, owner, conversation_id)


async def read_thread(connection: AsyncConnection, owner: str, conversation_id: str) -> list[StoredMessage]:
    """The thread's messages in order, read on `connection` (the caller's transaction, owner
    presented); an unknown conversation reads as no messages."""
    rows = await _items(connection, conversation_id, after=0)
    marks = await connection.execute(
        sa.select(M).where(M.c.conversation_id == conversation_id, M.c.owner == owner)
    )
    return _messages(rows, {mark.first_item: mark for mark in marks})


def _messages(rows: Sequence[StoredItem], marks: dict[int, Any]) -> list[StoredMessage]:
    """Split `rows` into messages: one starts at each user item, at the first other item after a
    user item, and wherever a mark says one starts."""
    messages: list[StoredMessage] = []
    for row in rows:
        role = USER if row.item.get("role") == USER else ASSISTANT
        current = messages[-1] if messages else None
        if current is None or role == USER or current.role == USER or row.row in marks:
            mark = marks.get(row.row)
            message = StoredMessage(
                id=mark.id if mark is not None else derived_message_id(row.row),
                role=role,
                first_item=row.row,
                created_at=_aware(mark.created_at if mark is not None else row.created_at),
                items=[],
            )
            if mark is not None:
                message.interrupted = bool(mark.interrupted)
                message.failed_calls = frozenset(json.loads(mark.failed_calls or "[]"))
            messages.append(message)
            current = message
        current.items.append(row)
    return messages


async def _items(connection: AsyncConnection, conversation_id: str, *, after: int) -> list[StoredItem]:
    result = await connection.execute(
        sa.select(_ITEMS.c.id, _ITEMS.c.message_data, _ITEMS.c.created_at)
        .where(_ITEMS.c.session_id == conversation_id, _ITEMS.c.id > after)
        .order_by(_ITEMS.c.id)
    )
    items: list[StoredItem] = []
    for row_id, data, created_at in result:
        try:
            item = json.loads(data)
        except (TypeError, ValueError):
            continue  # the SDK skips rows it cannot decode too
        if isinstance(item, dict):
            items.append(StoredItem(row=int(row_id), item=item, created_at=_aware(created_at)))
    return items


def _mark(
    owner: str, conversation_id: str, message_id: str, role: str, first_item: int, at: datetime.datetime
) -> dict[str, Any]:
    return {
        "conversation_id": conversation_id,
        "id": message_id,
        "owner": owner,
        "role": role,
        "first_item": first_item,
        "created_at": at,
        "interrupted": False,
        "failed_calls": "[]",
    }


def _call_id(item: dict[str, Any]) -> str | None:
    call_id = item.get("call_id")
    return call_id if isinstance(call_id, str) else None


def _aware(moment: Any) -> datetime.datetime:
    """A timezone-aware time: the SDK's history stores naive UTC (`CURRENT_TIMESTAMP`); SQLite may
    hand back text."""
    if isinstance(moment, str):
        moment = datetime.datetime.fromisoformat(moment)
    if not isinstance(moment, datetime.datetime):
        return utc_now()
    return moment if moment.tzinfo else moment.replace(tzinfo=datetime.UTC)
