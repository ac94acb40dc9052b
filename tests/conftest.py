"""Shared fixtures: settings, tokens, a live app on a free port, a scripted OpenAI-compatible server.

No test reaches a real model: `_refuse_real_models` fails any OpenAI client pointed off loopback, and
the process environment is scrubbed of model and auth variables before anything reads it.
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import jwt
import openai
import pytest

from chatgate.config import Settings
from chatgate.main import create_app
from support.models import SwitchableModel
from support.openai_wire import ScriptedOpenAI
from support.processes import tool_server_children, wait_until
from support.servers import ThreadedServer

TEST_JWT_SECRET = "chatgate-test-secret-" + "s" * 40

_SCRUBBED_ENV = (
    "OPENAI_API_KEY",
    "OPENAI_BASE_URL",
    "OPENAI_API",
    "AGENT_MODEL",
    "JWT_SECRET",
    "JWKS_URL",
    "BETTER_AUTH_URL",
    "JWT_ISSUER",
    "JWT_AUDIENCE",
    "DATABASE_URL",
    "FILES_ROOT",
    "BASE_DATA_PATH",
    "CHATGATE_STATE_DIR",
    "CHATGATE_CONFIG",
    "CHATGATE_ENCRYPTION_KEY",
    "MCP_LAUNCHER",
    "CHATGATE_ENV",
    "MAX_CONCURRENT_SESSIONS",
    "CORS_ORIGINS",
    "OPENAI_TRACING",
    "REDIS_URL",
    "RATE_LIMIT_CHATS_PER_MINUTE",
    "MAX_CONCURRENT_CHATS_PER_USER",
    "RATE_LIMIT_FAIL_CLOSED",
    "METRICS_ENABLED",
    "METRICS_PORT",
    "METRICS_TOKEN",
    "OTEL_EXPORTER_OTLP_ENDPOINT",
    "SHUTDOWN_GRACE_SECONDS",
    "CHATGATE_PLAYGROUND",
)
# Tests send many chats per user quickly: the per-user limits are raised far out of the way unless a
# test sets them (tests/test_rate_limits.py does).
RAISED_LIMITS = {"RATE_LIMIT_CHATS_PER_MINUTE": 100_000, "MAX_CONCURRENT_CHATS_PER_USER": 10_000}
_LOOPBACK = {"127.0.0.1", "localhost", "::1"}


@pytest.fixture(scope="session", autouse=True)
def _refuse_real_models() -> Iterator[None]:
    with pytest.MonkeyPatch.context() as patch:
        for name in _SCRUBBED_ENV:
            patch.delenv(name, raising=False)
        original = openai.AsyncOpenAI.__init__

        def guarded(self: openai.AsyncOpenAI, *args: Any, **kwargs: Any) -> None:
            base_url = kwargs.get("base_url") or "https://api.openai.com/v1"
            host = urlsplit(str(base_url)).hostname
            if host not in _LOOPBACK:
                pytest.fail(f"a test tried to build a client for a real model endpoint ({host})")
            original(self, *args, **kwargs)

        patch.setattr(openai.AsyncOpenAI, "__init__", guarded)
        yield


def make_settings(state_dir: Path, **env: Any) -> Settings:
    """Settings for a test: its own state directory, the test secret, no `.env` file."""
    values: dict[str, Any] = {"CHATGATE_STATE_DIR": state_dir, "JWT_SECRET": TEST_JWT_SECRET, **RAISED_LIMITS}
    values.update(env)
    return Settings(_env_file=None, **values)  # type: ignore[call-arg]


def mint(user: str | None = "alice", *, secret: str = TEST_JWT_SECRET, ttl: int = 3600, **claims: Any) -> str:
    now = int(time.time())
    payload: dict[str, Any] = {"iat": now, "exp": now + ttl, **claims}
    if user is not None:
        payload.setdefault("sub", user)
    return jwt.encode(payload, secret, algorithm="HS256")


@pytest.fixture
def token() -> Callable[..., str]:
    """`token("bob", email=…)`: a valid HS256 token for the test secret."""
    return mint


def auth(user: str = "alice", **claims: Any) -> dict[str, str]:
    return {"Authorization": f"Bearer {mint(user, **claims)}"}


@dataclass
class LiveApp:
    url: str
    model: SwitchableModel
    settings: Settings


def stream_chat(
    app: LiveApp, message: str = "hi", *, user: str = "alice"
) -> AbstractContextManager[httpx.Response]:
    """`with stream_chat(app, …) as response:` — a streamed chat, read as it arrives."""
    return httpx.stream(
        "POST",
        f"{app.url}/api/agents/chat",
        json={"message": message, "stream": True},
        headers=auth(user),
        timeout=60,
    )


def start_live_app(state_dir: Path, **env: Any) -> tuple[ThreadedServer, LiveApp]:
    model = SwitchableModel()
    settings = make_settings(state_dir, **env)
    server = ThreadedServer(create_app(settings, model_provider=model))
    return server, LiveApp(url=server.url, model=model, settings=settings)


# Every end-to-end test runs against each launcher: isolation, cleanup and errors must be identical.
LIVE_APP_LAUNCHERS = ["exec", "fork"] if sys.platform.startswith("linux") else ["exec"]


@pytest.fixture(scope="module", params=LIVE_APP_LAUNCHERS)
def launcher_name(request: pytest.FixtureRequest) -> str:
    """For modules with their own live app: run it once per launcher, so both pass the same tests."""
    return str(request.param)


@pytest.fixture(scope="module", params=LIVE_APP_LAUNCHERS)
def live_app(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveApp]:
    """One real app per test module and launcher: uvicorn on a free port, a scripted model."""
    server, app = start_live_app(tmp_path_factory.mktemp("live-app"), MCP_LAUNCHER=request.param)
    with server:
        yield app


@pytest.fixture(scope="module")
def scripted_openai() -> Iterator[ScriptedOpenAI]:
    """A scripted OpenAI-compatible Chat Completions server on loopback."""
    wire = ScriptedOpenAI()
    with ThreadedServer(wire.app) as server:
        wire.base_url = f"{server.url}/v1"
        yield wire


@pytest.fixture(autouse=True)
def _no_leftover_tool_servers() -> Iterator[None]:
    """Every test must end with its tool servers gone; a leftover fails that test, not the ones after it."""
    yield
    if wait_until(lambda: not tool_server_children(), timeout=60):  # a ceiling, not a speed
        return
    leftovers = tool_server_children()
    for child in leftovers:
        child.kill()
    pytest.fail(f"tool server process(es) outlived the test: {[child.pid for child in leftovers]}")


@pytest.fixture(autouse=True)
def _no_stray_environment() -> Iterator[None]:
    # A test that leaks model or auth variables into os.environ would change every later test.
    yield
    leaked = [name for name in ("OPENAI_API_KEY", "JWT_SECRET") if name in os.environ]
    assert not leaked, f"test leaked environment variables: {leaked}"
