"""`chatgate db …`: schema migrations and the PostgreSQL roles of the service and its tool servers.

Wired into the main CLI with one line, `add_db_commands(subparsers)`; each sub-command sets
`args.handler`, which returns the process exit code.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from typing import Any

from chatgate.storage.engine import DatabaseConfigError
from chatgate.storage.errors import StorageError


def add_db_commands(subparsers: Any) -> None:
    """Add the `db` command group to an `argparse` sub-parser collection."""
    db = subparsers.add_parser("db", help="manage the database schema")
    commands = db.add_subparsers(dest="db_command", required=True, metavar="COMMAND")
    url_help = "database URL (default: DATABASE_URL, else the embedded SQLite file in CHATGATE_STATE_DIR)"

    upgrade = commands.add_parser("upgrade", help="apply migrations up to the newest schema")
    upgrade.add_argument("--url", help=url_help)
    upgrade.add_argument("--revision", default="head", help="target revision (default: head)")
    upgrade.set_defaults(handler=handle_db_command)

    current = commands.add_parser("current", help="print the schema revision of the database")
    current.add_argument("--url", help=url_help)
    current.set_defaults(handler=handle_db_command)

    grant = commands.add_parser(
        "grant-app-role",
        help="PostgreSQL: grant an existing plain login role what the service needs (as the schema owner)",
    )
    grant.add_argument("role", help="the role the service connects as (not owner, superuser or BYPASSRLS)")
    grant.add_argument("--url", help=url_help)
    grant.set_defaults(handler=handle_db_command)

    tools = commands.add_parser(
        "grant-tools-role",
        help="PostgreSQL: grant an existing plain login role what tool servers need (as the schema owner)",
    )
    tools.add_argument(
        "role", help="the role tool servers connect as (DATABASE_TOOLS_URL): its own, not the service's"
    )
    tools.add_argument("--url", help=url_help)
    tools.set_defaults(handler=handle_db_command)


def handle_db_command(args: argparse.Namespace) -> int:
    """Run one `db` sub-command; returns the exit code."""
    from chatgate.config import get_settings
    from chatgate.storage import migrate

    url = args.url or get_settings().resolved_database_url
    try:
        if args.db_command == "upgrade":
            asyncio.run(migrate.upgrade_database(url, args.revision))
            revision = asyncio.run(migrate.current_revision(url))
            sys.stdout.write(f"database at revision {revision}\n")
        elif args.db_command == "current":
            revision = asyncio.run(migrate.current_revision(url))
            sys.stdout.write(f"{revision or 'not migrated'}\n")
        elif args.db_command == "grant-app-role":
            asyncio.run(migrate.grant_app_role(url, args.role))
            sys.stdout.write(f"granted {args.role} access to the chatgate tables\n")
        elif args.db_command == "grant-tools-role":
            asyncio.run(migrate.grant_tools_role(url, args.role))
            sys.stdout.write(f"granted {args.role} access to the tool tables (records, tasks, audit_log)\n")
        else:  # pragma: no cover - argparse rejects unknown commands
            return 2
    except (DatabaseConfigError, ValueError, StorageError) as exc:
        sys.stderr.write(f"chatgate db {args.db_command}: {exc}\n")
        return 1
    except Exception as exc:  # driver errors: say what failed without a traceback
        sys.stderr.write(f"chatgate db {args.db_command}: {type(exc).__name__}: {exc}\n")
        return 1
    return 0


def main(argv: list[str] | None = None) -> int:
    """Stand-alone entry (`python -m chatgate.storage.cli db upgrade`), until the main CLI wires it."""
    parser = argparse.ArgumentParser(prog="chatgate")
    add_db_commands(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(argv)
    return int(args.handler(args))


if __name__ == "__main__":
    raise SystemExit(main())
