"""Owner-scoped CRUD over a declared table, with input models derived from the SQLModel class.

The derived models are the tools' input schemas too: create takes the writable fields (required
where the model requires them), update takes any subset of them, list filters on equality.
The owner column, the primary key and the timestamps are never input.
"""

from __future__ import annotations

import datetime
import functools
import uuid
from dataclasses import dataclass
from typing import Annotated, Any

import sqlalchemy as sa
from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, ValidationError, create_model
from sqlalchemy.ext.asyncio import AsyncEngine

from chatgate.storage import documents
from chatgate.storage.engine import owner_transaction
from chatgate.storage.errors import InvalidInputError, RowNotFoundError
from chatgate.storage.tables import TIMESTAMP_COLUMNS, TableSpec
from chatgate.surrogates import without_lone_surrogates

_FILTERABLE_TYPES = (str, int, float, bool, datetime.date, uuid.UUID)


@dataclass(frozen=True)
class TableSchemas:
    """Pydantic models for one table's inputs."""

    create: type[BaseModel]
    patch: type[BaseModel]
    where: type[BaseModel]
    key: TypeAdapter[Any]
    key_annotation: Any
    order_fields: tuple[str, ...]


def _constraints(spec: TableSpec, name: str) -> tuple[Any, list[Any], str]:
    info = spec.model.model_fields[name]
    # Keep pydantic/annotated-types constraints (max_length, ge, …); drop SQLModel's column metadata.
    kept = [meta for meta in info.metadata if not type(meta).__module__.startswith("sqlmodel")]
    description = info.description or f"The {name.replace('_', ' ')} of the {spec.item}."
    return info.annotation, kept, description


def _filter_annotation(annotation: Any) -> Any | None:
    """The scalar type of a column for an equality filter, or None when it cannot be filtered."""
    candidates = [arg for arg in getattr(annotation, "__args__", (annotation,)) if arg is not type(None)]
    if (
        len(candidates) == 1
        and isinstance(candidates[0], type)
        and issubclass(candidates[0], _FILTERABLE_TYPES)
    ):
        return candidates[0]
    if annotation.__class__.__name__ == "_LiteralGenericAlias" or str(annotation).startswith(
        "typing.Literal"
    ):
        return annotation
    return None


@functools.cache
def schemas_for(spec: TableSpec) -> TableSchemas:
    """The input models of `spec` (built once per table)."""
    model_name = "".join(part.capitalize() for part in spec.name.split("_"))
    strict = ConfigDict(extra="forbid")
    create_fields: dict[str, Any] = {}
    patch_fields: dict[str, Any] = {}
    for name in spec.writable:
        annotation, kept, description = _constraints(spec, name)
        info = spec.model.model_fields[name]
        typed = Annotated[annotation, *kept] if kept else annotation
        if info.is_required():
            create_fields[name] = (typed, Field(description=description))
        elif info.default_factory is not None:
            create_fields[name] = (
                typed,
                Field(default_factory=info.default_factory, description=description),
            )
        else:
            create_fields[name] = (typed, Field(default=info.default, description=description))
        # Omitted means "unchanged"; an explicit null is accepted only where the column is nullable.
        patch_fields[name] = (typed, Field(default=None, description=description))

    where_fields: dict[str, Any] = {}
    for name in spec.readable:
        if name == spec.primary_key or name in TIMESTAMP_COLUMNS or name not in spec.model.model_fields:
            continue
        scalar = _filter_annotation(spec.model.model_fields[name].annotation)
        label = name.replace("_", " ")
        if scalar is not None:
            where_fields[name] = (
                scalar | None,
                Field(
                    default=None,
                    description=f"Only {spec.item}s whose {label} equals this; null matches no value.",
                ),
            )

    key_annotation = spec.model.model_fields[spec.primary_key].annotation
    return TableSchemas(
        create=create_model(f"{model_name}Create", __config__=strict, **create_fields),
        patch=create_model(f"{model_name}Changes", __config__=strict, **patch_fields),
        where=create_model(f"{model_name}Filter", __config__=strict, **where_fields),
        key=TypeAdapter(key_annotation if key_annotation is not None else Any),
        key_annotation=key_annotation,
        order_fields=spec.readable,
    )


def _invalid(exc: ValidationError, what: str) -> InvalidInputError:
    problems = "; ".join(
        f"{'.'.join(str(part) for part in error['loc']) or what}: {error['msg']}"
        for error in exc.errors()[:5]
    )
    return InvalidInputError(f"invalid {what}: {problems}")


class TableStore:
    """CRUD over one owner's rows of one declared table.

    A row is returned as `{column: JSON value}` for the table's readable columns. Every method raises
    `chatgate.storage.errors.StorageError` subclasses only: `InvalidInputError` for bad arguments,
    `RowNotFoundError` when the owner has no such row, `DatabaseUnavailableError`.
    """

    def __init__(self, engine: AsyncEngine, spec: TableSpec, owner: str) -> None:
        self._engine = engine
        self._spec = spec
        self._owner = owner
        self._table = spec.table
        self._schemas = schemas_for(spec)

    def _mine(self) -> sa.ColumnElement[bool]:
        return self._table.c[self._spec.owner_column] == self._owner

    def _key(self, value: object) -> Any:
        try:
            return self._schemas.key.validate_python(value)
        except ValidationError:
            raise InvalidInputError(
                f"id must be a {self._spec.item} id as returned by a previous call"
            ) from None

    def _item(self, row: sa.Row[Any]) -> dict[str, Any]:
        mapping = row._mapping
        return {name: documents.jsonable(mapping[name]) for name in self._spec.readable}

    async def list(
        self,
        where: dict[str, Any] | None = None,
        *,
        order_by: str | None = None,
        limit: int = documents.DEFAULT_LIMIT,
        offset: int = 0,
    ) -> dict[str, Any]:
        """One page of rows matching `where` (column equality).

        Returns `{"items": [row], "total": int, "limit": int, "offset": int, "has_more": bool}`.
        """
        documents.check_page(limit, offset)
        try:
            filters = self._schemas.where.model_validate(where or {})
        except ValidationError as exc:
            raise _invalid(exc, "filter") from None
        columns = self._table.c
        conditions = [self._mine()]
        for name in filters.model_fields_set:
            value = getattr(filters, name)
            conditions.append(columns[name].is_(None) if value is None else columns[name] == value)
        default_order = "created_at" if "created_at" in columns else self._spec.primary_key
        field, descending = documents.parse_order(order_by, default=default_order)
        if field not in self._schemas.order_fields:
            raise InvalidInputError(f"order_by must be one of {', '.join(self._schemas.order_fields)}")
        ordering = [columns[field].desc() if descending else columns[field].asc()]
        ordering.append(columns[self._spec.primary_key].asc())

        page = sa.select(self._table).where(*conditions).order_by(*ordering).limit(limit).offset(offset)
        total = sa.select(sa.func.count()).select_from(self._table).where(*conditions)
        async with owner_transaction(self._engine, self._owner) as connection:
            rows = (await connection.execute(page)).all()
            count = (await connection.execute(total)).scalar_one()
        return {
            "items": [self._item(row) for row in rows],
            "total": count,
            "limit": limit,
            "offset": offset,
            "has_more": offset + len(rows) < count,
        }

    async def get(self, key: object) -> dict[str, Any]:
        """The row with primary key `key`."""
        query = sa.select(self._table).where(
            self._mine(), self._table.c[self._spec.primary_key] == self._key(key)
        )
        async with owner_transaction(self._engine, self._owner) as connection:
            row = (await connection.execute(query)).first()
        if row is None:
            raise RowNotFoundError(self._spec.item)
        return self._item(row)

    async def create(self, values: dict[str, Any]) -> dict[str, Any]:
        """Insert a row of the writable `values`, owned by this owner; returns the row as stored."""
        try:
            # Lone surrogates become U+FFFD before validation, as wherever text enters
            # (`chatgate.surrogates`).
            checked = self._schemas.create.model_validate(without_lone_surrogates(values)).model_dump()
        except ValidationError as exc:
            raise _invalid(exc, self._spec.item) from None
        _check_text(checked)
        # The model's own defaults and factories (id, timestamps, …) fill everything not written.
        instance = self._spec.model(**checked, **{self._spec.owner_column: self._owner})
        row_values = {
            column.name: getattr(instance, str(column.name), None) for column in self._table.columns
        }
        row_values = {name: value for name, value in row_values.items() if value is not None}
        row_values[self._spec.owner_column] = self._owner
        statement = sa.insert(self._table).values(**row_values).returning(*self._table.columns)
        async with owner_transaction(self._engine, self._owner, write=True) as connection:
            row = (await connection.execute(statement)).one()
        return self._item(row)

    async def update(self, key: object, changes: dict[str, Any]) -> dict[str, Any]:
        """Set the writable columns in `changes` on the row `key`; returns the updated row."""
        primary = self._key(key)
        try:
            patch = self._schemas.patch.model_validate(without_lone_surrogates(changes))
        except ValidationError as exc:
            raise _invalid(exc, "changes") from None
        updates = {name: getattr(patch, name) for name in patch.model_fields_set}
        if not updates:
            raise InvalidInputError(f"changes must set at least one of: {', '.join(self._spec.writable)}")
        for name, value in updates.items():
            if value is None and not self._table.c[name].nullable:
                raise InvalidInputError(f"{name} cannot be null")
        _check_text(updates)
        if "updated_at" in self._table.c:
            updates["updated_at"] = datetime.datetime.now(datetime.UTC)
        statement = (
            sa.update(self._table)
            .where(self._mine(), self._table.c[self._spec.primary_key] == primary)
            .values(**updates)
            .returning(*self._table.columns)
        )
        async with owner_transaction(self._engine, self._owner, write=True) as connection:
            row = (await connection.execute(statement)).first()
        if row is None:
            raise RowNotFoundError(self._spec.item)
        return self._item(row)

    async def delete(self, key: object) -> dict[str, Any]:
        """Delete the row `key`; returns `{"deleted": its primary key (JSON value)}`."""
        primary = self._key(key)
        statement = sa.delete(self._table).where(
            self._mine(), self._table.c[self._spec.primary_key] == primary
        )
        async with owner_transaction(self._engine, self._owner, write=True) as connection:
            result = await connection.execute(statement)
        if result.rowcount != 1:
            raise RowNotFoundError(self._spec.item)
        return {"deleted": documents.jsonable(primary)}


def _check_text(values: dict[str, Any]) -> None:
    for name, value in values.items():
        if isinstance(value, str) and "\x00" in value:
            raise InvalidInputError(f"{name} contains a NUL character")
