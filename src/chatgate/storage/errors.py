"""Errors of the storage layer, each with a message safe to show a user or a model.

    StorageError
    ├── InvalidInputError   the request is malformed (bad name, bad id, oversize document, …)
    ├── RowNotFoundError       no such row *for this owner* (another owner's row looks exactly the same)
    └── DatabaseUnavailableError   the database failed; driver text stays in the logs

Driver and SQLAlchemy exceptions are translated where they enter (`engine.translate_errors`), so
callers branch on these types and never forward SQL or driver text.
"""

from __future__ import annotations


class StorageError(Exception):
    """Base class; `str(error)` is a curated message."""


class InvalidInputError(StorageError):
    """The input cannot be stored or used as asked."""


class RowNotFoundError(StorageError):
    """No row with that id belongs to the bound owner."""

    def __init__(self, what: str = "record") -> None:
        super().__init__(f"{what} not found")


class DatabaseUnavailableError(StorageError):
    """The database could not complete the operation (nothing was changed)."""

    def __init__(self) -> None:
        super().__init__("the database could not complete the request; nothing was changed, try again")
