"""Paused runs and their approvals, per conversation and owner.

Every statement is filtered by owner in code and runs in `owner_transaction`, so on PostgreSQL the
row-level security policies hold as well: another user's approval id behaves exactly like one that
does not exist (`RowNotFoundError`, a 404). Callers hold the conversation's claim (one request at a
time), so answering and resuming never race each other.

An approval's life: created unanswered with the paused run; answered once (`approved`, `denied`, or
`expired` when answered after its deadline); or, when the user sends a new message instead,
`superseded` (or `expired`). A second answer is a replay: `ApprovalAlreadyAnsweredError`, nothing
changes. When no approval of the paused run is left unanswered, the paused run is taken (deleted)
and handed back for resuming.
"""

from __future__ import annotations

import dataclasses
import datetime
import json
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from chatgate.approvals.models import PausedRun, ToolApproval
from chatgate.errors import ApprovalAlreadyAnsweredError
from chatgate.storage.engine import owner_transaction
from chatgate.storage.errors import RowNotFoundError
from chatgate.storage.models import utc_now

P = PausedRun.__table__  # type: ignore[attr-defined]
A = ToolApproval.__table__  # type: ignore[attr-defined]

APPROVED, DENIED, EXPIRED, SUPERSEDED = "approved", "denied", "expired", "superseded"


@dataclass(frozen=True)
class PendingCall:
    """A tool call the paused run waits on: its call id, tool name and arguments (JSON text)."""

    tool_call_id: str
    tool: str
    arguments: str


@dataclass(frozen=True)
class Approval:
    """One stored approval; `decision` is None while it waits for the user."""

    id: str
    tool_call_id: str
    tool: str
    arguments: str
    created_at: datetime.datetime
    expires_at: datetime.datetime
    decision: str | None = None
    reason: str | None = None

    def as_public(self) -> dict[str, Any]:
        """`{id, tool, arguments}` (the arguments parsed), plus its call id and deadline."""
        return {
            "id": self.id,
            "tool": self.tool,
            "arguments": _parsed(self.arguments),
            "tool_call_id": self.tool_call_id,
            "expires_at": self.expires_at,
        }


@dataclass(frozen=True)
class Answer:
    """The user's answer to one approval."""

    id: str
    approved: bool
    reason: str | None = None


@dataclass(frozen=True)
class PausedTurn:
    """A paused run whose approvals are all decided: the SDK state to resume and the decisions."""

    state: dict[str, Any]
    message_id: str | None
    approvals: list[Approval]

    def tool_names(self) -> dict[str, str]:
        """Tool name by call id, for the calls this run stopped at."""
        return {approval.tool_call_id: approval.tool for approval in self.approvals}


def new_approval_id() -> str:
    """An unguessable id (192 random bits): knowing one approval says nothing about another."""
    return f"apr_{secrets.token_urlsafe(24)}"


class ApprovalStore:
    def __init__(self, engine: AsyncEngine, *, ttl: datetime.timedelta) -> None:
        self._engine = engine
        self._ttl = ttl

    async def pause(
        self,
        owner: str,
        conversation_id: str,
        *,
        state: dict[str, Any],
        calls: Sequence[PendingCall],
        message_id: str | None,
    ) -> list[Approval]:
        """Store the paused run and one new approval per call; returns the approvals in call order."""
        now = utc_now()
        expires = now + self._ttl
        # One microsecond apart: listed in the order the model made the calls.
        approvals = [
            Approval(new_approval_id(), call.tool_call_id, call.tool, call.arguments, at, expires)
            for index, call in enumerate(calls)
            if (at := now + datetime.timedelta(microseconds=index + 1))
        ]
        async with owner_transaction(self._engine, owner, write=True) as connection:
            await connection.execute(P.delete().where(*_of(P, owner, conversation_id)))
            await connection.execute(
                P.insert().values(
                    conversation_id=conversation_id,
                    owner=owner,
                    state=json.dumps(state, separators=(",", ":")),
                    message_id=message_id,
                    created_at=now,
                    expires_at=expires,
                )
            )
            for approval in approvals:
                await connection.execute(
                    A.insert().values(
                        id=approval.id,
                        conversation_id=conversation_id,
                        owner=owner,
                        tool_call_id=approval.tool_call_id,
                        tool=approval.tool,
                        arguments=approval.arguments,
                        created_at=approval.created_at,
                        expires_at=expires,
                    )
                )
        return approvals

    async def pending(self, owner: str, conversation_id: str) -> list[Approval]:
        """The approvals still waiting for the user (unanswered, not expired), oldest first."""
        async with owner_transaction(self._engine, owner) as connection:
            rows = await _unanswered(connection, owner, conversation_id)
        now = utc_now()
        return [approval for approval in rows if approval.expires_at > now]

    async def paused_message_id(self, owner: str, conversation_id: str) -> str | None:
        """The id of the answer the paused run continues in (None: no paused run, or no id stored)."""
        async with owner_transaction(self._engine, owner) as connection:
            query = sa.select(P.c.message_id).where(*_of(P, owner, conversation_id))
            message_id: str | None = (await connection.execute(query)).scalar_one_or_none()
        return message_id

    async def answer(
        self, owner: str, conversation_id: str, answers: Sequence[Answer]
    ) -> PausedTurn | list[Approval]:
        """Record `answers`; the paused run when nothing is left to answer, else what still waits.

        An answer given after the approval's deadline is recorded as `expired` (a denial), whatever
        it said.

        Raises:
            RowNotFoundError: an id that is not an approval of this owner's conversation.
            ApprovalAlreadyAnsweredError: an approval already answered (nothing is changed).
        """
        now = utc_now()
        async with owner_transaction(self._engine, owner, write=True) as connection:
            for answer in answers:
                row = (
                    await connection.execute(
                        sa.select(A.c.decision, A.c.expires_at).where(
                            A.c.id == answer.id, *_of(A, owner, conversation_id)
                        )
                    )
                ).first()
                if row is None:
                    raise RowNotFoundError("approval")
                if row.decision is not None:
                    raise ApprovalAlreadyAnsweredError()
                decision = APPROVED if answer.approved else DENIED
                if _aware(row.expires_at) <= now:
                    decision = EXPIRED  # answered too late: it counts as denied, whatever it said
                await connection.execute(
                    A.update()
                    .where(A.c.id == answer.id, A.c.owner == owner)
                    .values(decision=decision, reason=answer.reason, answered_at=now)
                )
            return await self._take_when_decided(connection, owner, conversation_id, now)

    async def supersede(self, owner: str, conversation_id: str) -> list[Approval]:
        """The user sent a new message instead of answering: every unanswered approval is denied
        (`superseded`, or `expired` past its deadline) and the paused run dropped. Returns them."""
        async with owner_transaction(self._engine, owner) as connection:
            if not await _unanswered(connection, owner, conversation_id):
                return []  # the common case: a read, no write transaction
        now = utc_now()
        async with owner_transaction(self._engine, owner, write=True) as connection:
            waiting = await _unanswered(connection, owner, conversation_id)
            decided = []
            for approval in waiting:
                decision = SUPERSEDED if _aware(approval.expires_at) > now else EXPIRED
                await connection.execute(
                    A.update()
                    .where(A.c.id == approval.id, A.c.owner == owner)
                    .values(decision=decision, answered_at=now)
                )
                decided.append(dataclasses.replace(approval, decision=decision, reason=None))
            await connection.execute(P.delete().where(*_of(P, owner, conversation_id)))
        return decided

    async def _take_when_decided(
        self, connection: AsyncConnection, owner: str, conversation_id: str, now: datetime.datetime
    ) -> PausedTurn | list[Approval]:
        waiting = await _unanswered(connection, owner, conversation_id)
        if any(_aware(approval.expires_at) > now for approval in waiting):
            return waiting
        # Whatever is left unanswered has expired: it counts as denied.
        for approval in waiting:
            await connection.execute(
                A.update()
                .where(A.c.id == approval.id, A.c.owner == owner)
                .values(decision=EXPIRED, answered_at=now)
            )
        paused = (
            await connection.execute(
                sa.select(P.c.state, P.c.message_id, P.c.created_at).where(*_of(P, owner, conversation_id))
            )
        ).first()
        if paused is None:
            raise RowNotFoundError("approval")
        await connection.execute(P.delete().where(*_of(P, owner, conversation_id)))
        decided = await connection.execute(
            sa.select(A)
            .where(*_of(A, owner, conversation_id), A.c.created_at > paused.created_at)
            .order_by(A.c.created_at, A.c.id)
        )
        return PausedTurn(
            state=json.loads(paused.state),
            message_id=paused.message_id,
            approvals=[_approval(row._mapping) for row in decided],
        )


async def _unanswered(connection: AsyncConnection, owner: str, conversation_id: str) -> list[Approval]:
    rows = await connection.execute(
        sa.select(A)
        .where(*_of(A, owner, conversation_id), A.c.decision.is_(None))
        .order_by(A.c.created_at, A.c.id)
    )
    return [_approval(row._mapping) for row in rows]


def _of(table: sa.Table, owner: str, conversation_id: str) -> tuple[sa.ColumnElement[bool], ...]:
    return (table.c.conversation_id == conversation_id, table.c.owner == owner)


def _approval(row: Any) -> Approval:
    return Approval(
        id=row["id"],
        tool_call_id=row["tool_call_id"],
        tool=row["tool"],
        arguments=row["arguments"],
        created_at=_aware(row["created_at"]),
        expires_at=_aware(row["expires_at"]),
        decision=row["decision"],
        reason=row["reason"],
    )


def _aware(moment: datetime.datetime) -> datetime.datetime:
    # SQLite hands timestamps back without their zone; they were stored in UTC.
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=datetime.UTC)


def _parsed(arguments: str) -> Any:
    try:
        return json.loads(arguments) if arguments else {}
    except json.JSONDecodeError:
        return {"_raw": arguments}
