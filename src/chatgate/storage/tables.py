"""Declared tables: operator SQLModel classes with an owner column, served per owner.

Declared in `CHATGATE_CONFIG`:

    [[tables]]
    name = "contacts"                       # tool prefix: contacts_list, contacts_get, …
    model = "mypackage.models:Contact"      # a SQLModel class with table=True
    owner_column = "owner"                  # a string column holding the user id
    writable = ["name", "email", "notes"]   # the fields tools may set
    item = "contact"                        # optional: the noun used in tool descriptions

The built-in `tasks` table is served unless an entry named "tasks" replaces it (or says
`enabled = false`). Operator tables are created by the operator, who should give them the same
row-level security policy as ours on PostgreSQL (see README).
"""

from __future__ import annotations

import importlib
import re
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlmodel import SQLModel

from chatgate.tool_config import ToolConfigError, section

TABLE_NAME_PATTERN = re.compile(r"[a-z][a-z0-9_]{0,39}")
RESERVED_PREFIXES = frozenset({"records", "files", "api", "whoami"})
# Columns the service maintains itself; never writable, never filterable by the owner.
TIMESTAMP_COLUMNS = ("created_at", "updated_at")


@dataclass(frozen=True)
class TableSpec:
    """One declared table, validated."""

    name: str
    model: type[SQLModel]
    owner_column: str
    writable: tuple[str, ...]
    item: str

    @property
    def table(self) -> sa.Table:
        return self.model.__table__  # type: ignore[attr-defined, no-any-return]

    @property
    def primary_key(self) -> str:
        return str(next(iter(self.table.primary_key.columns)).name)

    @property
    def readable(self) -> tuple[str, ...]:
        """Columns a tool returns and may filter on: everything but the owner."""
        return tuple(str(column.name) for column in self.table.columns if column.name != self.owner_column)


def builtin_tasks() -> TableSpec:
    from chatgate.storage.models import Task

    return TableSpec(
        name="tasks",
        model=Task,
        owner_column="owner",
        writable=("title", "notes", "done", "due_date", "priority"),
        item="task",
    )


def load_table_specs(config: dict[str, Any]) -> list[TableSpec]:
    """The tables to serve: the built-in `tasks` plus every `[[tables]]` entry.

    Raises:
        ToolConfigError: an entry is malformed, its model cannot be imported, or it is unsafe to serve.
    """
    specs: dict[str, TableSpec] = {"tasks": builtin_tasks()}
    for index, entry in enumerate(section(config, "tables")):
        name = entry.get("name")
        where = f"[[tables]] entry {index + 1}" + (f" ({name})" if isinstance(name, str) else "")
        if not isinstance(name, str) or not TABLE_NAME_PATTERN.fullmatch(name) or name in RESERVED_PREFIXES:
            raise ToolConfigError(
                f"{where}: name must be a lowercase identifier (not {sorted(RESERVED_PREFIXES)})"
            )
        if entry.get("enabled", True) is False:
            specs.pop(name, None)
            continue
        if name in specs and name != "tasks":
            raise ToolConfigError(f"{where}: the name {name} is declared twice")
        specs[name] = _spec_from_entry(name, entry, where)
    return list(specs.values())


def _spec_from_entry(name: str, entry: dict[str, Any], where: str) -> TableSpec:
    known = {"name", "model", "owner_column", "writable", "item", "enabled"}
    if unknown := sorted(set(entry) - known):
        raise ToolConfigError(f"{where}: unknown keys {unknown}")
    model = _import_model(entry.get("model"), where)
    owner = entry.get("owner_column", "owner")
    table: sa.Table = model.__table__  # type: ignore[attr-defined]
    if not isinstance(owner, str) or owner not in table.columns:
        raise ToolConfigError(f"{where}: owner_column {owner!r} is not a column of {model.__name__}")
    if not _holds_strings(table.columns[owner]):
        raise ToolConfigError(f"{where}: owner_column {owner!r} must be a string column")
    if len(table.primary_key.columns) != 1:
        raise ToolConfigError(f"{where}: {model.__name__} must have exactly one primary key column")
    primary = str(next(iter(table.primary_key.columns)).name)
    writable = entry.get("writable")
    if (
        not isinstance(writable, list)
        or not writable
        or not all(isinstance(field, str) for field in writable)
    ):
        raise ToolConfigError(f"{where}: writable must be a non-empty list of field names")
    for field in writable:
        if field not in model.model_fields or field not in table.columns:
            raise ToolConfigError(f"{where}: writable field {field!r} is not a column of {model.__name__}")
        if field in {owner, primary, *TIMESTAMP_COLUMNS}:
            raise ToolConfigError(f"{where}: {field!r} is generated or the owner; it cannot be writable")
    item = entry.get("item", name.removesuffix("s") or name)
    if not isinstance(item, str) or not item.strip():
        raise ToolConfigError(f"{where}: item must be a short noun")
    return TableSpec(name=name, model=model, owner_column=owner, writable=tuple(writable), item=item.strip())


def _holds_strings(column: sa.Column[Any]) -> bool:
    column_type = column.type
    # SQLModel's AutoString is a TypeDecorator over String; look through decorators.
    if isinstance(column_type, sa.TypeDecorator):
        column_type = column_type.impl_instance
    return isinstance(column_type, sa.String)


def _import_model(path: object, where: str) -> type[SQLModel]:
    if not isinstance(path, str) or not path:
        raise ToolConfigError(f"{where}: model must be 'package.module:ClassName'")
    module_name, _, attribute = path.partition(":") if ":" in path else path.rpartition(".")
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise ToolConfigError(f"{where}: cannot import module {module_name!r}: {exc}") from exc
    model = getattr(module, attribute, None)
    if not (isinstance(model, type) and issubclass(model, SQLModel) and hasattr(model, "__table__")):
        raise ToolConfigError(f"{where}: {path!r} is not a SQLModel class with table=True")
    return model
