"""Conversation rows: who owns which conversation, which run is in progress, what each run did.

Every statement is filtered by owner in code and runs in `owner_transaction`, so on PostgreSQL the
row-level security policies hold as well. A conversation id that belongs to someone else behaves
exactly like one that does not exist.
"""

from __future__ import annotations

import datetime
import json
import logging
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from chatgate.conversations.claims import Claimed, ClaimRules
from chatgate.conversations.instance_lease import InstanceLease
from chatgate.conversations.message_index import USER, TurnMarks, last_item, mark_turn
from chatgate.conversations.models import (
    TITLE_MAX_CHARS,
    Conversation,
    ConversationMessage,
    ConversationRun,
)
from chatgate.conversations.sdk_rows import SDK_MESSAGES, SDK_SESSIONS, append_history
from chatgate.errors import ConversationBusyError
from chatgate.storage.engine import owner_transaction
from chatgate.storage.errors import RowNotFoundError
from chatgate.storage.models import utc_now

logger = logging.getLogger(__name__)

C = Conversation.__table__  # type: ignore[attr-defined]
R = ConversationRun.__table__  # type: ignore[attr-defined]
M = ConversationMessage.__table__  # type: ignore[attr-defined]


def title_from(message: str) -> str:
    """A one-line title from the first message."""
    line = " ".join(message.split())
    return line if len(line) <= TITLE_MAX_CHARS else line[: TITLE_MAX_CHARS - 1].rstrip() + "…"


class ConversationStore:
    def __init__(
        self, engine: AsyncEngine, *, stale_after: datetime.timedelta, lease: InstanceLease | None = None
    ) -> None:
        self._engine = engine
        self._claims = ClaimRules(stale_after=stale_after, lease=lease)

    async def claim(
        self,
        owner: str,
        conversation_id: str,
        request_id: str,
        first_message: str,
        *,
        new: bool = False,
        then: Callable[[AsyncConnection], Awaitable[None]] | None = None,
        also: sa.ColumnElement[bool] | None = None,
    ) -> Claimed:
        """Mark `conversation_id` as being answered by `request_id`, creating it if new.

        `new` says the caller generated the id for this call (it cannot exist yet).
        `then` runs in the same transaction once the conversation is claimed (regenerate and edit
        cut the thread there; a new conversation has none to cut): if it raises, the claim (or the
        new conversation) is rolled back with it. `also`, a condition on the claimed row, is returned
        by the claiming UPDATE at no statement of its own (False for a conversation created here).

        A claim left by a run that cannot be running any more (its instance's lease lapsed, or it is
        older than `stale_after`) is taken over, and that run is recorded as interrupted.

        Returns:
            Whether the conversation was created by this call, and `also`.

        Raises:
            chatgate.storage.errors.RowNotFoundError: the id belongs to another owner.
            ConversationBusyError: a run is in progress.
            Whatever `then` raises.
        """
        now = utc_now()
        claim = self._claims.values(request_id, now)
        row = {
            "id": conversation_id,
            "owner": owner,
            "title": title_from(first_message),
            "created_at": now,
            "updated_at": now,
            **claim,
        }
        async with owner_transaction(self._engine, owner, write=True) as connection:
            if new:
                # An id the caller just made (a uuid4): one INSERT, no look-up, no savepoint.
                await connection.execute(C.insert().values(**row))
                return Claimed(created=True)
            mine = sa.and_(C.c.id == conversation_id, C.c.owner == owner)
            flag = also if also is not None else sa.false()
            # The usual case, one statement: nothing is running.
            update = C.update().where(mine, C.c.active_request_id.is_(None)).values(**claim)
            claimed = (await connection.execute(update.returning(flag))).first()
            if claimed is not None or await self._claims.take_over(connection, owner, conversation_id, claim):
                if then is not None:
                    await then(connection)
                found = (
                    claimed[0]
                    if claimed is not None
                    else await connection.scalar(sa.select(flag).where(mine))
                )
                return Claimed(created=False, also=bool(found))
            try:
                async with connection.begin_nested():
                    await connection.execute(C.insert().values(**row))
            except IntegrityError:
                # Taken meanwhile: by a concurrent first message of this owner (busy), or it is another
                # owner's id (not found, exactly as if it did not exist).
                if await connection.scalar(sa.select(sa.func.count()).select_from(C).where(mine)):
                    raise ConversationBusyError() from None
                raise RowNotFoundError("conversation") from None
            if then is not None:
                await then(connection)  # a new conversation has no messages: a replacement is a 404
            return Claimed(created=True)

    def _columns(self) -> list[Any]:
        running = sa.case((self._claims.free(utc_now()), False), else_=True).label("running")
        return [C.c.id, C.c.title, C.c.created_at, C.c.updated_at, running]

    async def finish(
        self,
        owner: str,
        conversation_id: str,
        request_id: str,
        run: ConversationRun,
        history: Sequence[str] = (),
        marks: TurnMarks | None = None,
    ) -> None:
        """Release the claim of `request_id`, record its run and append `history` to the conversation.

        `history` is the run's items as the SDK session stores them (JSON rows, oldest first; see
        `ConversationSession.take_held`): written here, in the same transaction, so a run's messages,
        its record and the release are all stored or none is. `marks` (the turn's message ids) are
        written with them: the turn is the user's message (already stored when the SDK wrote the
        run's input, else `history[0]`) and everything appended after it. A run whose claim was
        taken over (`chatgate.conversations.claims`) stores nothing: the taker recorded it.
        """
        async with owner_transaction(self._engine, owner, write=True) as connection:
            released = await connection.execute(
                C.update()
                .where(C.c.id == conversation_id, C.c.owner == owner, C.c.active_request_id == request_id)
                .values(active_request_id=None, active_since=None, active_instance=None, updated_at=utc_now())
            )
            if released.rowcount == 0:
                # The claim was taken over (this instance's lease lapsed: cut off from the database, or
                # stalled) and the taker recorded this run as interrupted. Its history stays unwritten:
                # it would interleave with the run that holds the conversation now.
                logger.warning(
                    "request %s lost its conversation's claim: its history is not stored", request_id
                )
                return
            before = await last_item(connection, conversation_id) if marks is not None else 0
            if history:
                await append_history(connection, conversation_id, history)
            if marks is not None:
                # The SDK wrote the run's input (row `before`) unless the history starts with it.
                input_held = bool(history) and json.loads(history[0]).get("role") == USER
                await mark_turn(
                    connection, owner, conversation_id, marks, since=before if input_held else before - 1
                )
            await connection.execute(R.insert().values(**run.model_dump()))

    async def page(self, owner: str, *, limit: int, offset: int) -> tuple[list[dict[str, Any]], int]:
        """The owner's conversations, most recently active first, and how many there are.

        Each is `{"id": str, "title": str | None, "created_at", "updated_at": datetime, "running": bool}`.
        """
        async with owner_transaction(self._engine, owner) as connection:
            total = await connection.scalar(
                sa.select(sa.func.count()).select_from(C).where(C.c.owner == owner)
            )
            rows = await connection.execute(
                sa.select(*self._columns())
                .where(C.c.owner == owner)
                .order_by(C.c.updated_at.desc(), C.c.id)
                .limit(limit)
                .offset(offset)
            )
            return [_conversation(row._mapping) for row in rows], int(total or 0)

    async def get(self, owner: str, conversation_id: str) -> tuple[dict[str, Any], list[dict[str, Any]]]:
        """The conversation and its runs, oldest run first.

        The conversation is shaped as in `page`; each run is `{"request_id": str, "started_at",
        "finished_at": datetime | None, "outcome": str | None, "timings_ms": {"launch", "model", "tools",
        "teardown": int | None}, "usage": {"requests", "input_tokens", "output_tokens",
        "total_tokens": int}}`.

        Raises:
            chatgate.storage.errors.RowNotFoundError: no such conversation for this owner.
        """
        async with owner_transaction(self._engine, owner) as connection:
            row = (
                await connection.execute(
                    sa.select(*self._columns()).where(C.c.id == conversation_id, C.c.owner == owner)
                )
            ).first()
            if row is None:
                raise RowNotFoundError("conversation")
            runs = await connection.execute(
                sa.select(R)
                .where(R.c.conversation_id == conversation_id, R.c.owner == owner)
                .order_by(R.c.started_at)
            )
            return _conversation(row._mapping), [_run(run._mapping) for run in runs]

    async def delete(self, owner: str, conversation_id: str) -> None:
        """Delete the conversation, its runs, its messages and their ids.

        Raises:
            chatgate.storage.errors.RowNotFoundError: no such conversation for this owner.
            ConversationBusyError: a run is in progress.
        """
        async with owner_transaction(self._engine, owner, write=True) as connection:
            mine = sa.and_(C.c.id == conversation_id, C.c.owner == owner)
            free = (await connection.execute(sa.select(self._claims.free(utc_now())).where(mine))).first()
            if free is None:
                raise RowNotFoundError("conversation")
            if not free[0]:
                raise ConversationBusyError()
            await connection.execute(
                R.delete().where(R.c.conversation_id == conversation_id, R.c.owner == owner)
            )
            await connection.execute(
                M.delete().where(M.c.conversation_id == conversation_id, M.c.owner == owner)
            )
            await connection.execute(C.delete().where(mine))
            await connection.execute(
                SDK_MESSAGES.delete().where(SDK_MESSAGES.c.session_id == conversation_id)
            )
            await connection.execute(
                SDK_SESSIONS.delete().where(SDK_SESSIONS.c.session_id == conversation_id)
            )


def _conversation(row: Any) -> dict[str, Any]:
    return {
        "id": row["id"],
        "title": row["title"],
        "created_at": row["created_at"],
        "updated_at": row["updated_at"],
        "running": bool(row["running"]),
    }


def _run(row: Any) -> dict[str, Any]:
    return {
        "request_id": row["request_id"],
        "started_at": row["started_at"],
        "finished_at": row["finished_at"],
        "outcome": row["outcome"],
        "timings_ms": {
            "launch": row["launch_ms"],
            "model": row["model_ms"],
            "tools": row["tools_ms"],
            "teardown": row["teardown_ms"],
        },
        "usage": {
            "requests": row["requests"],
            "input_tokens": row["input_tokens"],
            "output_tokens": row["output_tokens"],
            "total_tokens": row["total_tokens"],
        },
    }
