"""Is the service database at the schema this version needs? Settled at start-up, not per failure.

A database below the newest migration is a state the service can see at start-up, so it is said
then, and said the same way afterwards: never as a transient "try again".

- SQLite (any `DATABASE_URL`, and the embedded default) is migrated at start-up.
- PostgreSQL is migrated at start-up only with `CHATGATE_AUTO_MIGRATE=true`; otherwise its revision
  is read. Below head: one start-up log line naming `chatgate db upgrade`, `/readyz` and every API
  request answer 503 `schema_out_of_date`, until an operator upgrades it; that is noticed without a
  restart (the revision is re-read at most every `recheck_seconds` while it is behind).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable

from sqlalchemy.engine import make_url

from chatgate.config_errors import ConfigError
from chatgate.errors import SchemaOutOfDateError
from chatgate.storage.migrate import current_revision, head_revision, upgrade_database

logger = logging.getLogger(__name__)

UPGRADE_HINT = "run `chatgate db upgrade` as the schema owner (or set CHATGATE_AUTO_MIGRATE=true)"
# Reading the revision must not hold up start-up (or a request) on a database that does not answer.
READ_TIMEOUT_SECONDS = 5.0


def is_sqlite_url(url: str) -> bool:
    return make_url(url).get_backend_name() == "sqlite"


class SchemaGate:
    """Says whether the database at `url` is at the head revision; see the module docstring."""

    def __init__(
        self, url: str, *, recheck_seconds: float = 5.0, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self._url = url
        self._recheck_seconds = recheck_seconds
        self._clock = clock
        self._head = head_revision()
        self._current = False
        self._problem: str | None = None  # why the schema is not usable, when known
        self._checked_at: float | None = None
        self._read_failure: str | None = None
        self._lock = asyncio.Lock()

    @property
    def current(self) -> bool:
        """True once the database is known to be at the head revision."""
        return self._current

    async def prepare(self, *, migrate: bool) -> None:
        """At start-up: migrate (SQLite always, PostgreSQL when asked), else read the revision.

        Raises:
            ConfigError: migrating was needed and failed (one line naming DATABASE_URL).
        """
        if migrate or is_sqlite_url(self._url):
            try:
                await upgrade_database(self._url)
            except Exception as exc:
                raise ConfigError(
                    f"DATABASE_URL: the database could not be migrated at start-up ({type(exc).__name__}); "
                    "check that it is reachable and writable by this user, or migrate it with "
                    "`chatgate db upgrade`"
                ) from None
            self._current = True
            logger.info("database schema at %s", self._head, extra={"fields": {"event": "schema_current"}})
            return
        await self._check(at_start=True)

    async def ensure_current(self) -> None:
        """Return when the schema is usable (or cannot be read: then the query itself will say).

        Raises:
            SchemaOutOfDateError: the database is known to be at another revision than the head.
        """
        if self._current:
            return
        async with self._lock:
            due = self._checked_at is None or self._clock() - self._checked_at >= self._recheck_seconds
            if not self._current and due:
                await self._check(at_start=False)
        if self._problem is not None:
            raise SchemaOutOfDateError(
                f"The service database is not ready for this version: {self._problem}. An operator must "
                f"{UPGRADE_HINT}."
            )

    async def _check(self, *, at_start: bool) -> None:
        self._checked_at = self._clock()
        try:
            async with asyncio.timeout(READ_TIMEOUT_SECONDS):
                revision = await current_revision(self._url)
        except Exception as exc:
            # Unreachable or not readable by this role right now: the queries will say what is wrong.
            # Logged once per kind of failure, not on every re-check.
            failure = type(exc).__name__
            if failure != self._read_failure:
                self._read_failure = failure
                logger.warning(
                    "database schema revision could not be read (%s); checked again on use",
                    failure,
                    extra={"fields": {"event": "schema_unreadable"}},
                )
            return
        self._read_failure = None
        if revision == self._head:
            self._current, self._problem = True, None
            if not at_start:
                logger.info(
                    "database schema now at %s", revision, extra={"fields": {"event": "schema_current"}}
                )
            return
        self._problem = (
            "it has no chatgate schema yet"
            if revision is None
            else f"its schema is at revision {revision}, this version needs {self._head}"
        )
        if at_start:
            logger.error(
                "database schema out of date: %s; %s",
                self._problem,
                UPGRADE_HINT,
                extra={"fields": {"event": "schema_out_of_date", "revision": revision, "head": self._head}},
            )
