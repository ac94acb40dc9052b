"""This instance's lease on the conversations it is answering, so a dead instance's claims lapse fast.

A conversation claimed for a run (`ConversationStore.claim`) names the instance running it
(`conversations.active_instance`). Each instance keeps one row in `instance_leases` and renews it
every `lease / 3` seconds while it runs:

    instance A: renew ─ renew ─ renew ─ ✝ (SIGKILL, node lost, cut off from the database)
    instance B:                          … lease seconds without a renewal … → A's claims are free:
                                         the next message takes the conversation over and records
                                         A's run as interrupted (`ConversationStore.claim`)

One renewal per instance, not per claim: a thousand chats waiting on a slow model cost no more
than one. Times are the database's clock on PostgreSQL, so clock skew between hosts can neither
expire a live lease nor keep a dead one; SQLite serves one host, whose clock it uses.

Why not PostgreSQL advisory locks held per run: a session-level lock pins one server connection
per running chat (hundreds of idle connections) and is not available through a transaction-mode
pooler (PgBouncer), which the connection budget relies on (docs/deploy.md). Why not the claim's age
alone: a run may legitimately last up to CHAT_TIMEOUT_SECONDS, so a dead instance's claim would block
its conversation that long; the age is kept as a last resort (a claim with no instance, or a run
that outlived its deadline).

An instance that cannot renew (its database unreachable) may see its claims taken over while its
runs go on; `ConversationStore.finish` then writes none of their history (the claim it holds is
checked in the transaction that would write it), so two runs never interleave in one conversation.
"""

from __future__ import annotations

import asyncio
import datetime
import logging
import os
import socket
import time
import uuid

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine

from chatgate.storage.engine import is_postgres, service_transaction
from chatgate.storage.errors import StorageError
from chatgate.storage.models import utc_now

logger = logging.getLogger(__name__)

LEASES = sa.table(
    "instance_leases",
    sa.column("id", sa.String),
    sa.column("started_at", sa.DateTime(timezone=True)),
    sa.column("renewed_at", sa.DateTime(timezone=True)),
)
# A failing renewal is logged at most this often (the database may be down for a while).
_WARN_EVERY_SECONDS = 60.0


def new_instance_id() -> str:
    """An id no other instance has, readable by an operator: `<host>-<pid>-<random>`."""
    return f"{socket.gethostname()[:80]}-{os.getpid()}-{uuid.uuid4().hex[:12]}"


class InstanceLease:
    """One instance's lease: `try_renew()` at start-up, before the first chat, then `keep()` as a
    background task; `release()` on a clean stop. `alive(column)` is the SQL test the conversation
    store applies to a claim's instance."""

    def __init__(self, engine: AsyncEngine, *, lease_seconds: float, instance_id: str | None = None) -> None:
        self.id = instance_id or new_instance_id()
        self.lease = datetime.timedelta(seconds=lease_seconds)
        self.renew_every = lease_seconds / 3  # two renewals may fail before the lease lapses
        self._engine = engine
        self._postgres = is_postgres(engine)
        self._last_warning = float("-inf")

    def now(self) -> sa.ColumnElement[datetime.datetime]:
        """Now, by the database's clock on PostgreSQL (one clock for every instance)."""
        if self._postgres:
            return sa.func.now()
        return sa.literal(utc_now(), sa.DateTime(timezone=True))

    def alive(self, instance: sa.ColumnElement[str | None]) -> sa.ColumnElement[bool]:
        """Whether the instance named by `instance` (a column of the enclosing query) renewed its
        lease within the last `lease` seconds."""
        if self._postgres:
            cutoff: sa.ColumnElement[datetime.datetime] = sa.func.now() - self.lease
        else:
            cutoff = sa.literal(utc_now() - self.lease, sa.DateTime(timezone=True))
        return sa.exists().where(LEASES.c.id == instance, LEASES.c.renewed_at >= cutoff)

    async def renew(self) -> None:
        """Renew this instance's lease (registering it the first time, or after it was pruned).

        Raises:
            DatabaseUnavailableError: the database failed.
        """
        async with service_transaction(self._engine) as connection:
            now = self.now()
            renewed = await connection.execute(
                LEASES.update().where(LEASES.c.id == self.id).values(renewed_at=now)
            )
            if renewed.rowcount == 0:
                await connection.execute(LEASES.insert().values(id=self.id, started_at=now, renewed_at=now))

    async def keep(self) -> None:
        """Renew every `renew_every` seconds until cancelled (after a first `try_renew()`)."""
        while True:
            await asyncio.sleep(self.renew_every)
            await self.try_renew()

    async def try_renew(self) -> None:
        """`renew()`; a failure is logged (at most once a minute) and left to the next turn: the
        lease allows two renewals in a row to fail."""
        try:
            await self.renew()
        except StorageError as exc:
            if time.monotonic() - self._last_warning >= _WARN_EVERY_SECONDS:
                self._last_warning = time.monotonic()
                logger.warning("could not renew this instance's lease: %s", exc)

    async def release(self) -> None:
        """Drop this instance's lease (a clean stop) and leases that lapsed long ago (instances that
        died: their claims are free either way). A failure is logged: the lease lapses on its own."""
        try:
            async with service_transaction(self._engine) as connection:
                if self._postgres:
                    long_ago: sa.ColumnElement[datetime.datetime] = sa.func.now() - self.lease * 10
                else:
                    long_ago = sa.literal(utc_now() - self.lease * 10, sa.DateTime(timezone=True))
                await connection.execute(
                    LEASES.delete().where(sa.or_(LEASES.c.id == self.id, LEASES.c.renewed_at < long_ago))
                )
        except StorageError as exc:
            logger.warning("could not release this instance's lease: %s", exc)
