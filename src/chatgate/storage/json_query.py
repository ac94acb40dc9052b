"""SQL expressions over top-level fields of a JSON column, for SQLite and PostgreSQL.

Both backends compare with JSON types intact: the string "1" does not match the number 1, and
`true` does not match 1 (SQLite's `json_extract` alone would conflate them). Field names are
validated identifiers and still travel as bind parameters.
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import JSONB

from chatgate.storage.documents import Scalar


def field_equals(
    column: sa.ColumnElement[Any], field: str, value: Scalar, dialect: str
) -> sa.ColumnElement[bool]:
    """`column[field] == value`; a null value matches an explicit null or a missing field."""
    if dialect == "postgresql":
        doc = sa.type_coerce(column, JSONB)
        if value is None:
            return sa.func.coalesce(sa.func.jsonb_typeof(doc[field]), "null") == "null"
        # Containment uses the GIN index on records.data.
        return doc.contains({field: value})
    path = sa.bindparam(None, f"$.{field}", type_=sa.String)
    kind = sa.func.json_type(column, path)
    if value is None:
        return sa.func.coalesce(kind, "null") == "null"
    if isinstance(value, bool):
        return kind == ("true" if value else "false")
    extracted = sa.func.json_extract(column, path)
    if isinstance(value, int | float):
        return sa.and_(kind.in_(["integer", "real"]), extracted == value)
    return sa.and_(kind == "text", extracted == value)


def field_value(column: sa.ColumnElement[Any], field: str, dialect: str) -> sa.ColumnElement[Any]:
    """An orderable expression for `column[field]`."""
    if dialect == "postgresql":
        return sa.type_coerce(column, JSONB)[field]
    return sa.func.json_extract(column, sa.bindparam(None, f"$.{field}", type_=sa.String))
