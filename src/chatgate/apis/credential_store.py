"""Per-user API credentials in the service database, sealed (see `crypto`).

One row per (user, API). The table holds only sealed values: reading the database, a backup or a
replica yields no usable token, and a row moved to another user does not open (associated data).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import DateTime, delete, select
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlmodel import Field, SQLModel

from chatgate.apis.crypto import CredentialCipher, DecryptionError

logger = logging.getLogger(__name__)

TABLE_NAME = "api_credentials"


class ApiCredential(SQLModel, table=True):
    """A user's sealed credential for one configured API."""

    __tablename__ = TABLE_NAME

    user_id: str = Field(primary_key=True, max_length=1024)
    api_name: str = Field(primary_key=True, max_length=32)
    sealed: str = Field(max_length=16384)
    key_id: str = Field(max_length=16)
    created_at: datetime = Field(sa_type=DateTime(timezone=True))
    updated_at: datetime = Field(sa_type=DateTime(timezone=True))


@dataclass(frozen=True)
class ConnectedApi:
    api_name: str
    updated_at: datetime


class CredentialStore:
    """Stores and opens one user's credentials; every query is keyed on that user."""

    def __init__(self, engine: AsyncEngine, cipher: CredentialCipher) -> None:
        self._engine = engine
        self._cipher = cipher

    async def create_table(self) -> None:
        """Create the table if it is missing (tests and the embedded SQLite default)."""
        async with self._engine.begin() as connection:
            await connection.run_sync(SQLModel.metadata.create_all, tables=[ApiCredential.__table__])  # type: ignore[attr-defined]

    async def put(self, user_id: str, api_name: str, secret: str) -> None:
        """Store (or replace) `user_id`'s credential for `api_name`."""
        now = datetime.now(UTC)
        sealed = self._cipher.seal(secret, user_id=user_id, api_name=api_name)
        table = ApiCredential.__table__  # type: ignore[attr-defined]
        async with self._engine.begin() as connection:
            existing = await connection.execute(
                select(table.c.created_at).where(table.c.user_id == user_id, table.c.api_name == api_name)
            )
            created = existing.scalar_one_or_none() or now
            await connection.execute(
                delete(table).where(table.c.user_id == user_id, table.c.api_name == api_name)
            )
            await connection.execute(
                table.insert().values(
                    user_id=user_id,
                    api_name=api_name,
                    sealed=sealed,
                    key_id=self._cipher.primary_key_id,
                    created_at=created,
                    updated_at=now,
                )
            )

    async def delete(self, user_id: str, api_name: str) -> bool:
        """Remove the credential; False when there was none."""
        table = ApiCredential.__table__  # type: ignore[attr-defined]
        async with self._engine.begin() as connection:
            result = await connection.execute(
                delete(table).where(table.c.user_id == user_id, table.c.api_name == api_name)
            )
        return bool(result.rowcount)

    async def connected(self, user_id: str) -> list[ConnectedApi]:
        """Which APIs `user_id` has a credential for (never the credentials)."""
        table = ApiCredential.__table__  # type: ignore[attr-defined]
        async with self._engine.connect() as connection:
            rows = await connection.execute(
                select(table.c.api_name, table.c.updated_at)
                .where(table.c.user_id == user_id)
                .order_by(table.c.api_name)
            )
            return [ConnectedApi(api_name=row.api_name, updated_at=row.updated_at) for row in rows]

    async def open_for(self, user_id: str, api_names: tuple[str, ...]) -> dict[str, str]:
        """`user_id`'s own credentials for `api_names`, decrypted; unreadable ones are left out.

        A credential sealed with an older key is re-sealed with the current one (lazy rotation).
        """
        if not api_names:
            return {}
        table = ApiCredential.__table__  # type: ignore[attr-defined]
        async with self._engine.connect() as connection:
            rows = (
                await connection.execute(
                    select(table.c.api_name, table.c.sealed).where(
                        table.c.user_id == user_id, table.c.api_name.in_(api_names)
                    )
                )
            ).all()
        opened: dict[str, str] = {}
        for row in rows:
            try:
                opened[row.api_name] = self._cipher.open(row.sealed, user_id=user_id, api_name=row.api_name)
            except DecryptionError:
                # Logged without the user id or the value; the user is asked to connect again.
                logger.warning("a stored credential for api %s does not open; ignoring it", row.api_name)
                continue
            if self._cipher.needs_rotation(row.sealed):
                await self.put(user_id, row.api_name, opened[row.api_name])
        return opened
