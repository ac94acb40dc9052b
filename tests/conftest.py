"""Shared fixtures: a token maker, a live app on a free port, a scripted OpenAI-compatible server.

No test reaches a real model: `_refuse_real_models` fails any OpenAI client pointed off loopback, and
the process environment is scrubbed of model and auth variables before anything reads it. The helpers
these fixtures use, and tests import, live in `tests/support/` (`settings`, `tokens`, `live_app`).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from typing import Any
from urllib.parse import urlsplit

import openai
import pytest

from support.live_app import LIVE_APP_LAUNCHERS, LiveApp, start_live_app
from support.openai_wire import ScriptedOpenAI
from support.processes import tool_server_children, wait_until
from support.servers import ThreadedServer
from support.settings import SCRUBBED_ENV
from support.tokens import mint

_LOOPBACK = {"127.0.0.1", "localhost", "::1"}


@pytest.fixture(scope="session", autouse=True)
def _refuse_real_models() -> Iterator[None]:
    with pytest.MonkeyPatch.context() as patch:
        for name in SCRUBBED_ENV:
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


@pytest.fixture
def token() -> Callable[..., str]:
    """`token("bob", email=…)`: a valid HS256 token for the test secret."""
    return mint


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
