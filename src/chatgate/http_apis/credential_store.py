"""Per-user API credentials in the service database, sealed (see `crypto`).

One row per (owner, API). The table holds only sealed values: reading the database, a backup or a
replica yields no usable token, and a row moved to another user does not open (associated data).
Every query runs in `owner_transaction`, so on PostgreSQL the row-level security policy of
migration 0003 holds as well as the `owner` filter in each statement.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import DateTime, delete, select
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlmodel import Field, SQLModel

from chatgate.http_apis.crypto import CredentialCipher, DecryptionError
from chatgate.storage.engine import owner_transaction

logger = logging.getLogger(__name__)

TABLE_NAME = "api_credentials"


class ApiCredential(SQLModel, table=True):
    """A user's sealed credential for one configured API (created by migration 0003)."""

    __tablename__ = TABLE_NAME

    owner: str = Field(primary_key=True, max_length=1024)
    api_name: str = Field(primary_key=True, max_length=32)
    sealed: str = Field(max_length=16384)
    key_id: str = Field(max_length=16)
    created_at: datetime = Field(sa_type=DateTime(timezone=True))
    updated_at: datetime = Field(sa_type=DateTime(timezone=True))


_TABLE = ApiCredential.__table__  # type: ignore[attr-defined]


@dataclass(frozen=True)
class ConnectedApi:
    api_name: str
    updated_at: datetime


class CredentialStore:
    """Stores and opens one user's credentials; every query is keyed on that user.

    Database failures raise `chatgate.storage.DatabaseUnavailableError` (driver text stays in the log).
    """

    def __init__(self, engine: AsyncEngine, cipher: CredentialCipher) -> None:
        self._engine = engine
        self._cipher = cipher

    async def put(self, owner: str, api_name: str, secret: str) -> None:
        """Store (or replace) `owner`'s credential for `api_name`."""
        now = datetime.now(UTC)
        sealed = self._cipher.seal(secret, user_id=owner, api_name=api_name)
        mine = (_TABLE.c.owner == owner) & (_TABLE.c.api_name == api_name)
        async with owner_transaction(self._engine, owner, write=True) as connection:
            existing = await connection.execute(select(_TABLE.c.created_at).where(mine))
            created = existing.scalar_one_or_none() or now
            await connection.execute(delete(_TABLE).where(mine))
            await connection.execute(
                _TABLE.insert().values(
                    owner=owner,
                    api_name=api_name,
                    sealed=sealed,
                    key_id=self._cipher.primary_key_id,
                    created_at=created,
                    updated_at=now,
                )
            )

    async def delete(self, owner: str, api_name: str) -> bool:
        """Remove the credential; False when there was none."""
        async with owner_transaction(self._engine, owner, write=True) as connection:
            result = await connection.execute(
                delete(_TABLE).where(_TABLE.c.owner == owner, _TABLE.c.api_name == api_name)
            )
        return bool(result.rowcount)

    async def connected(self, owner: str) -> list[ConnectedApi]:
        """Which APIs `owner` has a credential for (never the credentials)."""
        async with owner_transaction(self._engine, owner) as connection:
            rows = await connection.execute(
                select(_TABLE.c.api_name, _TABLE.c.updated_at)
                .where(_TABLE.c.owner == owner)
                .order_by(_TABLE.c.api_name)
            )
            return [ConnectedApi(api_name=row.api_name, updated_at=row.updated_at) for row in rows]

    async def open_for(self, owner: str, api_names: tuple[str, ...]) -> dict[str, str]:
        """`owner`'s own credentials for `api_names`, decrypted; unreadable ones are left out.

        A credential sealed with an older key is re-sealed with the current one (lazy rotation).
        """
        if not api_names:
            return {}
        async with owner_transaction(self._engine, owner) as connection:
            rows = (
                await connection.execute(
                    select(_TABLE.c.api_name, _TABLE.c.sealed).where(
                        _TABLE.c.owner == owner, _TABLE.c.api_name.in_(api_names)
                    )
                )
            ).all()
        opened: dict[str, str] = {}
        for row in rows:
            try:
                opened[row.api_name] = self._cipher.open(row.sealed, user_id=owner, api_name=row.api_name)
            except DecryptionError:
                # Logged without the user id or the value; the user is asked to connect again.
                logger.warning("a stored credential for api %s does not open; ignoring it", row.api_name)
                continue
            if self._cipher.needs_rotation(row.sealed):
                await self.put(owner, row.api_name, opened[row.api_name])
        return opened
