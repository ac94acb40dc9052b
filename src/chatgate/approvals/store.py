"""Paused runs and their approvals, per conversation and owner.

Every statement is filtered by owner in code and runs in `owner_transaction`, so on PostgreSQL the
row-level security policies hold as well: another user's approval id behaves exactly like one that
does not exist (`RowNotFoundError`, a 404). Callers hold the conversation's claim (one request at a
time), so answering and resuming never race each other.

An approval's life (`chatgate.approvals.records`): created unanswered with the paused run; answered
once (`approved`, `denied`, or `expired` when answered after its deadline); or, when the user sends a
new message instead, `superseded` (or `expired`). An approved call is marked `ran` just before it is
sent to the tool server, and its output stored when it returns.

The paused run is kept until the run resumed from it ends well (`resumed`: completed, or paused
again): a resumed run that fails (the model, the deadline, the tool server) loses nothing, and the
user retries by sending the same answers again (an answer that repeats the recorded decision of the
current paused run is a retry, not a replay). Execution is **at most once**: a call marked `ran` is
never sent again; on a retry the model is given its stored output instead, or, if the failed attempt
ended before the call returned, told that its outcome is unknown. An answer for any other decided
approval is a replay: `ApprovalAlreadyAnsweredError`, nothing changes.
"""

from __future__ import annotations

import datetime
import json
import secrets
from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from chatgate.approvals.models import PausedRun, ToolApproval
from chatgate.approvals.records import (
    APPROVED,
    DENIED,
    EXPIRED,
    RAN,
    SUPERSEDED,
    Answer,
    Approval,
    PausedTurn,
    PendingCall,
    approval_from_row,
    aware,
)
from chatgate.conversations.models import Conversation
from chatgate.errors import ApprovalAlreadyAnsweredError, ApprovalsIncompleteError
from chatgate.storage.engine import owner_transaction
from chatgate.storage.errors import RowNotFoundError
from chatgate.storage.models import utc_now

P = PausedRun.__table__  # type: ignore[attr-defined]
_CONVERSATIONS = Conversation.__table__  # type: ignore[attr-defined]
A = ToolApproval.__table__  # type: ignore[attr-defined]


def new_approval_id() -> str:
    """An unguessable id (192 random bits): knowing one approval says nothing about another."""
    return f"apr_{secrets.token_urlsafe(24)}"


def has_paused_run() -> sa.ColumnElement[bool]:
    """Whether a `conversations` row has a paused run: a condition the claim returns
    (`ConversationStore.claim_turn(also=)`), so an ordinary message costs no statement of its own."""
    return sa.exists().where(P.c.conversation_id == _CONVERSATIONS.c.id, P.c.owner == _CONVERSATIONS.c.owner)


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
        """Store the paused run (replacing the one it resumed, if any) and one new approval per call;
        returns the approvals in call order."""
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

    async def of_thread(self, owner: str, conversation_id: str) -> tuple[list[Approval], str | None]:
        """Every approval of the conversation, oldest first, and the id of the answer its paused run
        continues in (None: none, or no id stored): how a restored thread shows its calls."""
        async with owner_transaction(self._engine, owner) as connection:
            query = sa.select(A).where(*_of(A, owner, conversation_id)).order_by(A.c.created_at, A.c.id)
            rows = await connection.execute(query)
            paused = sa.select(P.c.message_id).where(*_of(P, owner, conversation_id))
            message_id: str | None = (await connection.execute(paused)).scalar_one_or_none()
            return [approval_from_row(row._mapping) for row in rows], message_id

    async def answer(
        self, owner: str, conversation_id: str, answers: Sequence[Answer], *, complete: bool = False
    ) -> PausedTurn | list[Approval]:
        """Record `answers`; the paused run when nothing is left to answer, else what still waits.

        An answer given after the approval's deadline is recorded as `expired` (a denial), whatever
        it said. An answer repeating the decision recorded for the current paused run (a retry after
        its resumed run failed) changes nothing and is accepted. With `complete`, answers that leave
        some approval waiting are refused and nothing is recorded.

        Raises:
            RowNotFoundError: an id that is not an approval of this owner's conversation.
            ApprovalAlreadyAnsweredError: an approval already answered otherwise, or of a run that
                already ended (nothing is changed).
            ApprovalsIncompleteError: `complete`, and some approval would still wait.
        """
        now = utc_now()
        async with owner_transaction(self._engine, owner, write=True) as connection:
            paused = (
                await connection.execute(
                    sa.select(P.c.state, P.c.message_id, P.c.created_at).where(
                        *_of(P, owner, conversation_id)
                    )
                )
            ).first()
            for answer in answers:
                row = (
                    await connection.execute(
                        sa.select(A).where(A.c.id == answer.id, *_of(A, owner, conversation_id))
                    )
                ).first()
                if row is None:
                    raise RowNotFoundError("approval")
                recorded = approval_from_row(row._mapping)
                if recorded.decision is not None:
                    current = paused is not None and recorded.created_at > aware(paused.created_at)
                    if current and recorded.agrees(answer.approved):
                        continue  # a retry of the same answer after the resumed run failed
                    raise ApprovalAlreadyAnsweredError()
                decision = APPROVED if answer.approved else DENIED
                if recorded.expires_at <= now:
                    decision = EXPIRED  # answered too late: it counts as denied, whatever it said
                await connection.execute(
                    A.update()
                    .where(A.c.id == answer.id, A.c.owner == owner)
                    .values(decision=decision, reason=answer.reason, answered_at=now)
                )
            waiting = await _unanswered(connection, owner, conversation_id)
            still = [approval for approval in waiting if approval.expires_at > now]
            if still and complete:
                raise ApprovalsIncompleteError(len(still))  # rolled back: nothing recorded
            if still:
                return still
            # Whatever is left unanswered has expired: it counts as denied.
            await _decide(connection, owner, waiting, EXPIRED, now)
            if paused is None:
                raise RowNotFoundError("approval")
            return PausedTurn(
                state=paused.state,
                message_id=paused.message_id,
                approvals=await _of_run(connection, owner, conversation_id, aware(paused.created_at)),
            )

    async def started(self, owner: str, conversation_id: str, approval_id: str) -> None:
        """An approved call is about to be sent to the tool server: it never is again (`ran`)."""
        async with owner_transaction(self._engine, owner, write=True) as connection:
            await connection.execute(
                A.update()
                .where(A.c.id == approval_id, *_of(A, owner, conversation_id), A.c.decision == APPROVED)
                .values(decision=RAN)
            )

    async def returned(self, owner: str, conversation_id: str, approval_id: str, output: str) -> None:
        """What a call marked `ran` returned (replayed to the model if its run is retried)."""
        async with owner_transaction(self._engine, owner, write=True) as connection:
            await connection.execute(
                A.update()
                .where(A.c.id == approval_id, *_of(A, owner, conversation_id), A.c.decision == RAN)
                .values(output=output)
            )

    async def not_sent(self, owner: str, conversation_id: str, approval_ids: Sequence[str]) -> None:
        """Calls marked `ran` whose tool server never started (its launch failed): they did not run,
        so a retry may run them."""
        if not approval_ids:
            return
        async with owner_transaction(self._engine, owner, write=True) as connection:
            await connection.execute(
                A.update()
                .where(A.c.id.in_(approval_ids), *_of(A, owner, conversation_id), A.c.decision == RAN)
                .where(A.c.output.is_(None))
                .values(decision=APPROVED)
            )

    async def resumed(self, owner: str, conversation_id: str) -> None:
        """The run resumed from the paused run ended well: the paused run is gone (its approvals stay,
        so a replayed answer is recognised)."""
        async with owner_transaction(self._engine, owner, write=True) as connection:
            await connection.execute(P.delete().where(*_of(P, owner, conversation_id)))

    async def supersede(self, owner: str, conversation_id: str) -> list[Approval]:
        """The user sent a new message instead of (or after a failed run on) answering: every
        unanswered approval is denied (`superseded`, or `expired` past its deadline) and the paused
        run dropped. Returns the paused run's approvals, so the model can be told what became of each
        call ([] when there was no paused run)."""
        now = utc_now()
        async with owner_transaction(self._engine, owner, write=True) as connection:
            paused = (
                await connection.execute(sa.select(P.c.created_at).where(*_of(P, owner, conversation_id)))
            ).first()
            waiting = await _unanswered(connection, owner, conversation_id)
            for approval in waiting:
                decision = SUPERSEDED if approval.expires_at > now else EXPIRED
                await _decide(connection, owner, [approval], decision, now)
            if paused is None:
                return []
            await connection.execute(P.delete().where(*_of(P, owner, conversation_id)))
            return await _of_run(connection, owner, conversation_id, aware(paused.created_at))


async def _unanswered(connection: AsyncConnection, owner: str, conversation_id: str) -> list[Approval]:
    rows = await connection.execute(
        sa.select(A)
        .where(*_of(A, owner, conversation_id), A.c.decision.is_(None))
        .order_by(A.c.created_at, A.c.id)
    )
    return [approval_from_row(row._mapping) for row in rows]


async def _of_run(
    connection: AsyncConnection, owner: str, conversation_id: str, paused_at: datetime.datetime
) -> list[Approval]:
    """The approvals of the paused run stored at `paused_at` (created with it, just after)."""
    rows = await connection.execute(
        sa.select(A)
        .where(*_of(A, owner, conversation_id), A.c.created_at > paused_at)
        .order_by(A.c.created_at, A.c.id)
    )
    return [approval_from_row(row._mapping) for row in rows]


async def _decide(
    connection: AsyncConnection,
    owner: str,
    approvals: Sequence[Approval],
    decision: str,
    now: datetime.datetime,
) -> None:
    for approval in approvals:
        await connection.execute(
            A.update()
            .where(A.c.id == approval.id, A.c.owner == owner)
            .values(decision=decision, answered_at=now)
        )


def _of(table: sa.Table, owner: str, conversation_id: str) -> tuple[sa.ColumnElement[bool], ...]:
    return (table.c.conversation_id == conversation_id, table.c.owner == owner)
