"""Create the CRM's tables (chatgate migrates only its own): `python -m crm.schema --url URL`.

On PostgreSQL, pass `--app-role` (the role chatgate connects as) to get the same protection as
chatgate's own tables: row-level security keyed on `app.user_id`, forced, and the grants.
"""

from __future__ import annotations

import argparse
import asyncio

import sqlalchemy as sa

from chatgate.storage import create_engine
from crm.models import Contact, Interaction

TABLES = (Contact.__table__, Interaction.__table__)  # type: ignore[attr-defined]


def rls_statements(table: str, app_role: str) -> list[str]:
    return [
        f"ALTER TABLE {table} ENABLE ROW LEVEL SECURITY",
        f"ALTER TABLE {table} FORCE ROW LEVEL SECURITY",
        f"DROP POLICY IF EXISTS {table}_owner ON {table}",
        f"CREATE POLICY {table}_owner ON {table} "
        "USING (owner = current_setting('app.user_id', true)) "
        "WITH CHECK (owner = current_setting('app.user_id', true))",
        f'GRANT SELECT, INSERT, UPDATE, DELETE ON {table} TO "{app_role}"',
    ]


async def create_tables(url: str, *, app_role: str | None = None) -> None:
    engine = create_engine(url)  # chatgate's: SQLite in WAL mode, its folder created
    try:
        async with engine.begin() as connection:
            for table in TABLES:
                await connection.run_sync(table.create, checkfirst=True)
            if app_role is not None and engine.dialect.name == "postgresql":
                for table in TABLES:
                    for statement in rls_statements(table.name, app_role):
                        await connection.execute(sa.text(statement))
    finally:
        await engine.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m crm.schema", description=__doc__)
    parser.add_argument("--url", required=True, help="the database URL (the schema owner's, on PostgreSQL)")
    parser.add_argument("--app-role", help="PostgreSQL: the role chatgate connects as")
    args = parser.parse_args()
    asyncio.run(create_tables(args.url, app_role=args.app_role))


if __name__ == "__main__":
    main()
