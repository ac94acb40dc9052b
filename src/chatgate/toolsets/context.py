"""What a toolset tool receives: `ToolContext`, the bound user and that user's resources, nothing else.

Every handle here is already bound by the tool server: the database transaction carries the user as
its owner (and as `app.user_id` for row-level security on PostgreSQL), the file space is the user's
own, and HTTP reaches only the operator's configured APIs with that user's credential. No method
takes a user id, so nothing a tool is asked to do can point it at another user.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any, Literal

import anyio.to_thread
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlmodel.ext.asyncio.session import AsyncSession

from chatgate.files import FileSpace
from chatgate.files.search import SearchScope
from chatgate.files.space import ReadUnit, WriteMode
from chatgate.http_apis.client import ApiClient
from chatgate.http_apis.config import ApiConfig
from chatgate.http_apis.responses import ApiResponse
from chatgate.storage.engine import is_postgres, owner_transaction
from chatgate.toolsets.definition import ToolError

_READ_ONLY = text("SET TRANSACTION READ ONLY")
# Reports a call's progress: `(done, total, message)`.
ProgressReporter = Callable[[float, float | None, str | None], Awaitable[None]]


class _Discard(Exception):  # not an error: ends a read's transaction with a rollback
    pass


@dataclass(frozen=True)
class ToolUser:
    """The user the tool server is bound to: `id` (the verified token's subject) and the profile
    `claims` the service passes on (`email`, `name`, when the token carries them)."""

    id: str
    claims: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class BoundResources:
    """What the tool server opened for its bound user (built by `chatgate.mcp_server.tools.toolsets`)."""

    engine: Callable[[], AsyncEngine | None]
    files: FileSpace | None
    api_client: ApiClient | None
    apis: Mapping[str, ApiConfig]
    # The credential for one API in this session; raises a model-readable error when missing.
    secret_for: Callable[[ApiConfig], str | None]


class ToolFiles:
    """The bound user's file space (`chatgate.files.FileSpace`), with its path checks, no-follow
    walking, atomic writes and quotas; blocking I/O runs off the event loop. Results are the same
    dictionaries the `files_*` tools return; failures raise `chatgate.files.FileSpaceError`, whose
    message is safe to show the model (the tool server passes it on if the tool does not catch it)."""

    def __init__(self, space: FileSpace) -> None:
        self._space = space

    async def list(
        self, path: str = ".", *, recursive: bool = False, limit: int | None = None
    ) -> dict[str, Any]:
        """A folder's entries: `{"path", "entries": [{"name", "type", "size"?, "modified"?}], "truncated"?}`
        (`chatgate.files.FileSpace.list`)."""
        return await self._run(self._space.list, path, recursive=recursive, limit=limit)

    async def read(
        self, path: str, *, offset: int = 0, limit: int | None = None, unit: ReadUnit = "lines"
    ) -> dict[str, Any]:
        """A file's text: `{"path", "content", "unit", "offset", "size", "lines"?, "truncated"?, …}`, or a
        binary file's description (`chatgate.files.FileSpace.read`)."""
        return await self._run(self._space.read, path, offset=offset, limit=limit, unit=unit)

    async def search(
        self,
        query: str,
        path: str = ".",
        *,
        kind: Literal["substring", "glob"] = "substring",
        scope: SearchScope = "all",
        limit: int | None = None,
    ) -> dict[str, Any]:
        """Matching names and lines: `{"query", "path", "matches": [{"path", "type"} | {"path", "line",
        "text"}], "truncated"?}` (`chatgate.files.FileSpace.search`)."""
        return await self._run(self._space.search, query, path, kind=kind, scope=scope, limit=limit)

    async def write(self, path: str, content: str, *, mode: WriteMode = "create") -> dict[str, Any]:
        """Write atomically: `{"path", "size": bytes, "created": bool}` (`chatgate.files.FileSpace.write`)."""
        return await self._run(self._space.write, path, content, mode=mode)

    async def delete(self, path: str) -> dict[str, Any]:
        """Delete a file or empty folder: `{"deleted": path, "type"}` (`chatgate.files.FileSpace.delete`)."""
        return await self._run(self._space.delete, path)

    async def move(self, source: str, destination: str) -> dict[str, Any]:
        """Move or rename: `{"moved": source, "to": destination}` (`chatgate.files.FileSpace.move`)."""
        return await self._run(self._space.move, source, destination)

    async def usage(self) -> dict[str, int]:
        result: dict[str, int] = await anyio.to_thread.run_sync(self._space.usage)
        return result

    async def _run(
        self, operation: Callable[..., dict[str, Any]], *args: Any, **kwargs: Any
    ) -> dict[str, Any]:
        result: dict[str, Any] = await anyio.to_thread.run_sync(functools.partial(operation, *args, **kwargs))
        return result


class ToolHttp:
    """One configured API (`[[apis]]`), reachable only at its base URL: paths are relative to it,
    redirects stay on it, private addresses are refused unless the API allows them, responses are
    size-capped, and the credential (the operator's, or the bound user's own for `auth = "user"`)
    is added here, never by the tool. Failures raise `chatgate.http_apis.errors.ApiCallError`, whose
    message is safe to show the model."""

    def __init__(self, client: ApiClient, api: ApiConfig, *, user_id: str, secret: str | None) -> None:
        self._client = client
        self._api = api
        self._user_id = user_id
        self._secret = secret

    @property
    def name(self) -> str:
        return self._api.name

    async def request(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, Any] | None = None,
        json: Any = None,
        headers: Mapping[str, str] | None = None,
    ) -> ApiResponse:
        """Send `method` to `path` under the API's base URL; `.body` is parsed JSON, text, or a
        description of a binary answer. 4xx/5xx raise `UpstreamStatusError` (with `.status`)."""
        return await self._client.request(
            self._api,
            method,
            path,
            params=params,
            json_body=json,
            headers=headers,
            user_id=self._user_id,
            secret=self._secret,
        )

    async def get(self, path: str, *, params: Mapping[str, Any] | None = None) -> ApiResponse:
        return await self.request("GET", path, params=params)

    async def post(
        self, path: str, *, json: Any = None, params: Mapping[str, Any] | None = None
    ) -> ApiResponse:
        return await self.request("POST", path, json=json, params=params)

    async def put(self, path: str, *, json: Any = None) -> ApiResponse:
        return await self.request("PUT", path, json=json)

    async def patch(self, path: str, *, json: Any = None) -> ApiResponse:
        return await self.request("PATCH", path, json=json)

    async def delete(self, path: str) -> ApiResponse:
        return await self.request("DELETE", path)


class ToolContext:
    """The bound user and their resources, for one call of one toolset tool.

    Attributes:
        user: who the tool acts for (`user.id`, `user.claims`).
        log: a logger for this tool (the tool server's stderr; never the model).
    """

    def __init__(
        self,
        *,
        user: ToolUser,
        tool: str,
        read_only: bool,
        resources: BoundResources,
        log: logging.Logger | None = None,
        progress: ProgressReporter | None = None,
    ) -> None:
        self.user = user
        self.tool = tool
        self.log = log or logging.getLogger(f"chatgate.toolsets.{tool}")
        self._read_only = read_only
        self._resources = resources
        self._progress = progress
        # The engine a `db()` block used, so the call can be audited on it afterwards.
        self.engine_used: AsyncEngine | None = None

    @asynccontextmanager
    async def db(self, *, write: bool | None = None) -> AsyncIterator[AsyncSession]:
        """`async with ctx.db() as session:` one transaction acting for the bound user.

        A SQLModel `AsyncSession`: committed when the block ends, rolled back if it raises. On
        PostgreSQL the user is set as `app.user_id` for the row-level security policies. A read
        (`write=False`, the default of a read-only tool) is never committed, and on PostgreSQL is
        `READ ONLY`, so a write fails. Filter by `ctx.user.id` in your queries too: on SQLite
        nothing else does.

        Args:
            write: open a write transaction; default True unless the tool is `read_only`.

        Raises:
            chatgate.toolkit.ToolError: no database is configured.
            chatgate.storage.StorageError: the database failed (a message safe to show the model).
        """
        engine = self._resources.engine()
        if engine is None:
            raise ToolError("the database is not configured for this service")
        writes = not self._read_only if write is None else write
        if writes and self._read_only:
            raise RuntimeError(f"{self.tool} is declared read_only; it cannot open a write transaction")
        self.engine_used = engine
        try:
            async with owner_transaction(engine, self.user.id, write=writes) as connection:
                if not writes and is_postgres(engine):
                    await connection.execute(_READ_ONLY)  # a write fails, whatever the code does
                session = AsyncSession(bind=connection, expire_on_commit=False)
                try:
                    yield session
                    await session.flush()
                finally:
                    await session.close()
                if not writes:
                    raise _Discard  # a read never commits: on SQLite nothing else stops a stray write
        except _Discard:
            pass

    async def report_progress(
        self, done: float, total: float | None = None, message: str | None = None
    ) -> None:
        """Tell the user how far a long call is (`done` of `total`, e.g. 3 of 10, and a short message).

        Sent as an MCP progress notification; a chat frontend draws it as a progress bar. Does
        nothing when the caller asked for no progress.
        """
        if self._progress is not None:
            await self._progress(done, total, message)

    @property
    def files(self) -> ToolFiles:
        """The bound user's file space.

        Raises:
            chatgate.toolkit.ToolError: no files root is configured.
        """
        if self._resources.files is None:
            raise ToolError("file storage is not configured for this service")
        return ToolFiles(self._resources.files)

    def http(self, api: str) -> ToolHttp:
        """A client for the `[[apis]]` entry named `api`.

        Raises:
            LookupError: no such API is configured (an operator mistake: the model is not told why).
            chatgate.toolkit.ToolError: the API needs a credential this session does not have (e.g.
                the user has not connected it), with what the user can do about it.
        """
        config = self._resources.apis.get(api)
        if config is None or self._resources.api_client is None:
            raise LookupError(f"no API named {api!r} is configured in [[apis]]")
        secret = self._resources.secret_for(config)
        return ToolHttp(self._resources.api_client, config, user_id=self.user.id, secret=secret)
