"""When a conversation's claim still blocks it, and taking over a claim whose run cannot be running.

A claim (`conversations.active_request_id`, `active_since`, `active_instance`) marks the one run in
progress. It stops blocking when it is released (`ConversationStore.finish`), when the instance it
names stopped renewing its lease (`chatgate.conversations.instance_lease`: killed, lost, cut off),
or, as a last resort, when it is older than the run's deadline allows (`stale_after`). The next
message then takes the conversation over and records the dead run as interrupted, since the
instance that ran it never will.
"""

from __future__ import annotations

import datetime
import logging
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from chatgate.conversations.instance_lease import InstanceLease
from chatgate.conversations.models import INTERRUPTED, Conversation, ConversationRun
from chatgate.errors import ConversationBusyError

logger = logging.getLogger(__name__)

C = Conversation.__table__  # type: ignore[attr-defined]
R = ConversationRun.__table__  # type: ignore[attr-defined]


@dataclass(frozen=True)
class Claimed:
    """A claimed conversation (`ConversationStore.claim`): whether the claim created it, and the
    claim's `also` condition on its row."""

    created: bool
    also: bool = False


class ClaimRules:
    """`stale_after`: a claim older than this is dead whatever its instance says (a run outlives
    its deadline by no more). `lease`: this instance's, named in the claims it makes; without one,
    claims name no instance and only age frees them (tests, tools that build a bare store)."""

    def __init__(self, *, stale_after: datetime.timedelta, lease: InstanceLease | None) -> None:
        self._stale_after = stale_after
        self._lease = lease

    def values(self, request_id: str, now: datetime.datetime) -> dict[str, Any]:
        """The columns of a claim by `request_id` made by this instance at `now`."""
        instance = self._lease.id if self._lease is not None else None
        return {"active_request_id": request_id, "active_since": now, "active_instance": instance}

    def free(self, now: datetime.datetime) -> sa.ColumnElement[bool]:
        """No run in progress: never claimed, released, claimed by an instance whose lease lapsed, or
        claimed so long ago that the run is past its deadline."""
        free = [C.c.active_request_id.is_(None), C.c.active_since < now - self._stale_after]
        if self._lease is not None:
            instance = C.c.active_instance
            # This instance's own claims are live whatever its lease row says (not renewed yet, or a
            # renewal failed): it is running.
            lapsed = sa.and_(instance.is_not(None), instance != self._lease.id, ~self._lease.alive(instance))
            free.append(lapsed)
        return sa.or_(*free)

    async def take_over(
        self, connection: AsyncConnection, owner: str, conversation_id: str, claim: dict[str, Any]
    ) -> bool:
        """In the caller's (owner's) transaction: claim the conversation with `claim` if its claim is
        dead, recording that run as interrupted. False when the owner has no such conversation.

        Raises:
            ConversationBusyError: the claim is a live run's.
        """
        mine = sa.and_(C.c.id == conversation_id, C.c.owner == owner)
        # The row stays locked to the end of the transaction (on SQLite the write transaction is the
        # lock): two messages cannot both take one dead claim over.
        prior = (
            await connection.execute(
                sa.select(
                    C.c.active_request_id,
                    C.c.active_since,
                    C.c.active_instance,
                    self.free(claim["active_since"]),
                )
                .where(mine)
                .with_for_update(of=C)
            )
        ).first()
        if prior is None:
            return False
        held_by, since, instance, free = prior
        if not free:
            raise ConversationBusyError()
        await connection.execute(C.update().where(mine).values(**claim))
        if held_by is not None:
            logger.warning(
                "request %s (instance %s) left its conversation claimed (its instance's lease lapsed, "
                "or it outlived its deadline): taken over, its run recorded as interrupted",
                held_by,
                instance,
            )
            record = ConversationRun(
                conversation_id=conversation_id,
                owner=owner,
                request_id=held_by,
                started_at=since or claim["active_since"],
                finished_at=claim["active_since"],
                outcome=INTERRUPTED,
            )
            await connection.execute(R.insert().values(**record.model_dump()))
        return True
