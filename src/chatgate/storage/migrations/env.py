"""Alembic environment: migrations run on a connection handed over by `chatgate.storage.migrate`.

There is no `alembic.ini` and no logging set-up here: the service owns both, and `chatgate db upgrade`
is the entry point. Running `alembic` by hand is not supported.
"""

from __future__ import annotations

from alembic import context

from chatgate.storage.migrate import VERSION_TABLE

connection = context.config.attributes.get("connection")
if connection is None:  # pragma: no cover - only reachable by running the alembic CLI directly
    raise RuntimeError("run migrations with `chatgate db upgrade`, not the alembic command")

context.configure(connection=connection, target_metadata=None, version_table=VERSION_TABLE)
with context.begin_transaction():
    context.run_migrations()
