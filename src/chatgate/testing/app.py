"""A live chatgate service for tests: the operator's configuration, a temporary database and files root,
a scripted model, and ways in — HTTP as a user, or tool calls straight through a bound tool server.
"""

from __future__ import annotations

import base64
import os
import time
from collections.abc import Coroutine, Iterator, Mapping
from contextlib import AbstractAsyncContextManager, contextmanager
from pathlib import Path
from typing import Any, TypeVar

import httpx
import jwt

from chatgate.config import Settings
from chatgate.testing.model import ScriptedModelServer
from chatgate.testing.server import BackgroundServer
from chatgate.testing.tool_session import ToolResult, ToolSession, open_tool_session

T = TypeVar("T")

# Generous: a tool call may start an operator MCP server (a full interpreter) on a loaded machine.
CALL_TIMEOUT_SECONDS = 120.0


def mint_token(secret: str, user: str, *, ttl_seconds: int = 3600, **claims: Any) -> str:
    """An HS256 token for `user` (its `sub`), signed with `secret`, valid for `ttl_seconds`."""
    now = int(time.time())
    return jwt.encode(
        {"iat": now, "exp": now + ttl_seconds, **claims, "sub": user}, secret, algorithm="HS256"
    )


def new_encryption_key() -> str:
    """A fresh `CHATGATE_ENCRYPTION_KEY` (32 random bytes, url-safe base64)."""
    return base64.urlsafe_b64encode(os.urandom(32)).decode()


def service_settings(
    state_dir: Path,
    *,
    config_file: Path | None,
    model_base_url: str,
    jwt_secret: str,
    overrides: Mapping[str, Any] | None = None,
) -> Settings:
    """Settings for a test service: everything local and temporary, whatever the environment says.

    `overrides` (setting names as in the environment, e.g. `MCP_LAUNCHER`, `DATABASE_URL`) win, except
    for auth and the model: tokens are always signed with `jwt_secret`, and the model is always the
    scripted one (no test ever reaches a real model).
    """
    values: dict[str, Any] = {
        "CHATGATE_ENV": "dev",
        "CHATGATE_STATE_DIR": state_dir,
        "FILES_ROOT": state_dir / "files",
        "DATABASE_URL": None,  # the embedded SQLite file in the state directory
        "CHATGATE_CONFIG": config_file,
        "CHATGATE_ENCRYPTION_KEY": new_encryption_key(),
        # Isolation tests send many chats per user at once: per-user limits, shared state and
        # listeners of a deployment stay out of them unless a test asks.
        "RATE_LIMIT_CHATS_PER_MINUTE": 0,
        "MAX_CONCURRENT_CHATS_PER_USER": 0,
        "REDIS_URL": None,
        "METRICS_PORT": None,
        "OTEL_EXPORTER_OTLP_ENDPOINT": None,
        **(overrides or {}),
        "JWT_SECRET": jwt_secret,
        "JWKS_URL": None,
        "BETTER_AUTH_URL": None,
        "JWT_ISSUER": None,
        "JWT_AUDIENCE": None,
        "OPENAI_BASE_URL": model_base_url,
        "OPENAI_API_KEY": "scripted-model",
        "OPENAI_API": "chat_completions",
        "OPENAI_TRACING": False,
    }
    return Settings(_env_file=None, **values)


class ChatgateApp:
    """A running service. Users are plain ids: tokens are minted for any of them."""

    def __init__(
        self, server: BackgroundServer, app: Any, settings: Settings, model: ScriptedModelServer
    ) -> None:
        self.url = server.url
        self.settings = settings
        self.model = model
        self._server = server
        self._app = app
        assert settings.jwt_secret is not None
        self._secret = settings.jwt_secret.get_secret_value()

    def token_for(self, user: str, **claims: Any) -> str:
        """A valid bearer token for `user` (extra claims such as `name` and `email` are included)."""
        return mint_token(self._secret, user, **claims)

    def headers(self, user: str, **claims: Any) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token_for(user, **claims)}"}

    def chat(self, user: str, message: str = "go", *, conversation: str | None = None) -> dict[str, Any]:
        """`POST /api/agents/chat` as `user`; the JSON answer.

        Raises:
            AssertionError: the service did not answer 200 (the message carries its error body).
        """
        body: dict[str, Any] = {"message": message, "stream": False}
        if conversation is not None:
            body["conversation"] = conversation
        response = httpx.post(
            f"{self.url}/api/agents/chat", json=body, headers=self.headers(user), timeout=CALL_TIMEOUT_SECONDS
        )
        if response.status_code != 200:
            raise AssertionError(f"chat as {user!r} answered {response.status_code}: {response.text}")
        answer: dict[str, Any] = response.json()
        return answer

    def tools(self, user: str) -> list[dict[str, Any]]:
        """`GET /api/agents/tools` as `user`: name, description, input_schema and annotations of each tool."""
        response = httpx.get(
            f"{self.url}/api/agents/tools", headers=self.headers(user), timeout=CALL_TIMEOUT_SECONDS
        )
        if response.status_code != 200:
            raise AssertionError(f"tool listing as {user!r} answered {response.status_code}: {response.text}")
        tools: list[dict[str, Any]] = response.json()["tools"]
        return tools

    def connect_credential(self, user: str, api: str, token: str) -> None:
        """Store `user`'s credential for the `[[apis]]` entry `api` (`PUT /api/credentials/{api}`)."""
        response = httpx.put(
            f"{self.url}/api/credentials/{api}", json={"token": token}, headers=self.headers(user), timeout=30
        )
        if response.status_code != 204:
            raise AssertionError(
                f"storing {user!r}'s {api} credential answered {response.status_code}: {response.text}"
            )

    def call_tool(self, user: str, name: str, /, **arguments: Any) -> ToolResult:
        """One tool call through a real tool server bound to `user` (and the operator MCP servers `user`
        gets), as the agent would make it, without a model.

        Raises:
            ToolNotFoundError: `user` has no tool of that name.
        """
        (result,) = self.call_tools(user, [(name, arguments)])
        return result

    def call_tools(
        self, user: str, calls: list[tuple[str, dict[str, Any]]], *, tolerate_failures: bool = False
    ) -> list[ToolResult]:
        """Several calls, in order, through one set of tool servers bound to `user` (one chat's worth)."""

        async def call_all() -> list[ToolResult]:
            async with self.tool_session(user) as session:
                return [await session.call(n, a, tolerate_failures=tolerate_failures) for n, a in calls]

        return self.run(call_all(), timeout=CALL_TIMEOUT_SECONDS * max(1, len(calls)))

    def tool_session(self, user: str) -> AbstractAsyncContextManager[ToolSession]:
        """`async with app.tool_session(user) as session:`, inside a coroutine given to `run`."""
        return open_tool_session(self._app.state.services.chat, user)

    def run(self, coroutine: Coroutine[Any, Any, T], *, timeout: float = CALL_TIMEOUT_SECONDS) -> T:
        """Run `coroutine` on the service's event loop (where its tool servers live); its result.

        Raises:
            TimeoutError: it did not finish within `timeout` seconds (it is cancelled).
        """
        return self._server.run(coroutine, timeout=timeout)


@contextmanager
def running_app(
    state_dir: Path,
    *,
    config_file: Path | None,
    model: ScriptedModelServer,
    jwt_secret: str,
    overrides: Mapping[str, Any] | None = None,
) -> Iterator[ChatgateApp]:
    """Start a service on a free port with a fresh database (and the config's declared tables), stop it
    after the block."""
    from chatgate.main import create_app  # here: the plugin loads without the whole app

    settings = service_settings(
        state_dir,
        config_file=config_file,
        model_base_url=model.base_url,
        jwt_secret=jwt_secret,
        overrides=overrides,
    )
    prepare_database(settings)
    app = create_app(settings)
    with BackgroundServer(app) as server:
        yield ChatgateApp(server, app, settings, model)


def prepare_database(settings: Settings) -> None:
    """Migrate the database; on the embedded SQLite default also create the config's declared tables
    (on PostgreSQL the operator creates and secures their own tables)."""
    import asyncio

    from chatgate.storage.engine import create_engine
    from chatgate.storage.migrate import upgrade_database
    from chatgate.storage.tables import load_table_specs
    from chatgate.tool_config import load_tool_config
    from chatgate.toolsets.loader import add_import_paths, toolset_entries

    async def prepare() -> None:
        url = settings.resolved_database_url
        await upgrade_database(url)
        if settings.database_url is not None:
            return
        config = load_tool_config(settings.config_file)
        config_dir = settings.config_file.parent if settings.config_file else None
        add_import_paths(toolset_entries(config, base_dir=config_dir))  # the models may live there
        specs = load_table_specs(config)
        engine = create_engine(url)
        try:
            async with engine.begin() as connection:
                for spec in specs:
                    await connection.run_sync(spec.table.create, checkfirst=True)
        finally:
            await engine.dispose()

    asyncio.run(prepare())
