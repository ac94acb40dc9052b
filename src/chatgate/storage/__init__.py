"""Storage: SQL engines, migrations and the owner-scoped services behind the database tools.

Nothing here knows about MCP; tools translate these services' `StorageError`s into messages.
"""

from chatgate.storage.engine import DatabaseConfigError, create_engine, normalize_url, owner_transaction
from chatgate.storage.errors import (
    DatabaseUnavailableError,
    InvalidInputError,
    RowNotFoundError,
    StorageError,
)
from chatgate.storage.migrate import (
    current_revision,
    grant_app_role,
    grant_tools_role,
    rls_bypassed,
    upgrade_database,
)
from chatgate.storage.records import RecordStore
from chatgate.storage.table_store import TableStore
from chatgate.storage.tables import TableSpec, load_table_specs

__all__ = [
    "DatabaseConfigError",
    "DatabaseUnavailableError",
    "InvalidInputError",
    "RowNotFoundError",
    "RecordStore",
    "StorageError",
    "TableSpec",
    "TableStore",
    "create_engine",
    "current_revision",
    "grant_app_role",
    "grant_tools_role",
    "load_table_specs",
    "normalize_url",
    "owner_transaction",
    "rls_bypassed",
    "upgrade_database",
]
