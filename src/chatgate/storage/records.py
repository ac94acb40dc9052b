"""The records service: JSON documents in named collections, one owner per store.

Every statement filters by the bound owner here in code; on PostgreSQL the row-level security
policies filter again (see `engine.owner_transaction`). Another owner's id and an unknown id are the
same "not found", so nothing here reveals whether someone else's record exists.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine

from chatgate.storage import documents
from chatgate.storage.engine import owner_transaction
from chatgate.storage.errors import RowNotFoundError
from chatgate.storage.json_query import field_equals, field_value
from chatgate.storage.models import Record, utc_now

MAX_COLLECTIONS_LISTED = 200
_METADATA_ORDER = ("created_at", "updated_at")

records = Record.__table__  # type: ignore[attr-defined]
_columns = records.c


def _item(row: Mapping[Any, Any]) -> dict[str, Any]:
    return {
        "id": str(row["id"]),
        "collection": row["collection"],
        "data": row["data"],
        "created_at": documents.jsonable(row["created_at"]),
        "updated_at": documents.jsonable(row["updated_at"]),
    }


class RecordStore:
    """CRUD over one owner's records. Methods raise `chatgate.storage.errors.StorageError` subclasses only.

    A record is returned as `{"id": str (UUID), "collection": str, "data": dict (the JSON document),
    "created_at": str, "updated_at": str (ISO 8601)}`.
    """

    def __init__(self, engine: AsyncEngine, owner: str) -> None:
        self._engine = engine
        self._owner = owner
        self._dialect = engine.dialect.name

    def _mine(self) -> sa.ColumnElement[bool]:
        condition: sa.ColumnElement[bool] = _columns.owner == self._owner
        return condition

    async def collections(self) -> dict[str, Any]:
        """Collection names with their record counts, alphabetically.

        Returns `{"collections": [{"name": str, "count": int}], "has_more": bool}`.
        """
        query = (
            sa.select(_columns.collection, sa.func.count().label("count"))
            .where(self._mine())
            .group_by(_columns.collection)
            .order_by(_columns.collection)
            .limit(MAX_COLLECTIONS_LISTED + 1)
        )
        async with owner_transaction(self._engine, self._owner) as connection:
            rows = (await connection.execute(query)).all()
        listed = [{"name": row.collection, "count": row.count} for row in rows[:MAX_COLLECTIONS_LISTED]]
        return {"collections": listed, "has_more": len(rows) > MAX_COLLECTIONS_LISTED}

    async def list(
        self,
        collection: str,
        *,
        where: dict[str, Any] | None = None,
        order_by: str | None = None,
        limit: int = documents.DEFAULT_LIMIT,
        offset: int = 0,
    ) -> dict[str, Any]:
        """One page of a collection, with the total matching count and whether more follow.

        Returns `{"items": [record], "total": int, "limit": int, "offset": int, "has_more": bool}`.

        Raises:
            chatgate.storage.errors.InvalidInputError: a bad collection name, filter, order or page.
        """
        documents.check_collection(collection)
        filters = documents.check_filters(where)
        documents.check_page(limit, offset)
        field, descending = documents.parse_order(order_by, default="created_at")

        conditions = [self._mine(), _columns.collection == collection]
        conditions += [
            field_equals(_columns.data, key, value, self._dialect) for key, value in filters.items()
        ]
        key = (
            _columns[field] if field in _METADATA_ORDER else field_value(_columns.data, field, self._dialect)
        )
        ordering = [key.desc() if descending else key.asc()]
        # Ties (same timestamp, same field value) break on id, so pages never overlap or skip.
        ordering += [_columns.created_at.asc(), _columns.id.asc()]

        page = sa.select(records).where(*conditions).order_by(*ordering).limit(limit).offset(offset)
        total = sa.select(sa.func.count()).select_from(records).where(*conditions)
        async with owner_transaction(self._engine, self._owner) as connection:
            rows = (await connection.execute(page)).all()
            count = (await connection.execute(total)).scalar_one()
        return {
            "items": [_item(row._mapping) for row in rows],
            "total": count,
            "limit": limit,
            "offset": offset,
            "has_more": offset + len(rows) < count,
        }

    async def get(self, record_id: str) -> dict[str, Any]:
        """The record `record_id`.

        Raises:
            chatgate.storage.errors.InvalidInputError: `record_id` is not a UUID.
            chatgate.storage.errors.RowNotFoundError: no such record for this owner.
        """
        key = documents.parse_uuid(record_id)
        async with owner_transaction(self._engine, self._owner) as connection:
            row = (
                await connection.execute(sa.select(records).where(self._mine(), _columns.id == key))
            ).first()
        if row is None:
            raise RowNotFoundError()
        return _item(row._mapping)

    async def create(self, collection: str, data: dict[str, Any]) -> dict[str, Any]:
        """Store `data` as a new record in `collection`; returns the record.

        Raises:
            chatgate.storage.errors.InvalidInputError: a bad collection name or document.
        """
        documents.check_collection(collection)
        data = documents.check_document(data)
        now = utc_now()
        values = {
            "id": uuid.uuid4(),
            "owner": self._owner,
            "collection": collection,
            "data": data,
            "created_at": now,
            "updated_at": now,
        }
        async with owner_transaction(self._engine, self._owner, write=True) as connection:
            await connection.execute(sa.insert(records).values(**values))
        return _item(values)

    async def update(self, record_id: str, patch: dict[str, Any]) -> dict[str, Any]:
        """Apply a JSON merge patch (RFC 7386) to the record's data; the whole change or nothing.

        Returns the updated record.

        Raises:
            chatgate.storage.errors.InvalidInputError: a bad id, patch or resulting document.
            chatgate.storage.errors.RowNotFoundError: no such record for this owner.
        """
        key = documents.parse_uuid(record_id)
        patch = documents.check_document(patch, what="patch")
        async with owner_transaction(self._engine, self._owner, write=True) as connection:
            row = (
                await connection.execute(
                    sa.select(records).where(self._mine(), _columns.id == key).with_for_update()
                )
            ).first()
            if row is None:
                raise RowNotFoundError()
            merged = documents.check_document(documents.merge_patch(row.data, patch))
            now = utc_now()
            await connection.execute(
                sa.update(records).where(self._mine(), _columns.id == key).values(data=merged, updated_at=now)
            )
        return _item({**row._mapping, "data": merged, "updated_at": now})

    async def delete(self, record_id: str) -> dict[str, Any]:
        """Delete the record `record_id`; returns `{"deleted": str (its id)}`.

        Raises:
            chatgate.storage.errors.InvalidInputError: `record_id` is not a UUID.
            chatgate.storage.errors.RowNotFoundError: no such record for this owner.
        """
        key = documents.parse_uuid(record_id)
        async with owner_transaction(self._engine, self._owner, write=True) as connection:
            result = await connection.execute(sa.delete(records).where(self._mine(), _columns.id == key))
        if result.rowcount != 1:
            raise RowNotFoundError()
        return {"deleted": str(key)}
