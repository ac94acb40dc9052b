"""The pytest plugin of `chatgate.testing`: entry point `pytest11` named `chatgate` (off: `-p no:chatgate`).

Fixtures, all named so they cannot clash with a project's own:

- `chatgate_config` (module): the `CHATGATE_CONFIG` under test — the `chatgate_config` ini option, else
  the environment variable, else none; override the fixture to choose per module.
- `chatgate_env` (module): extra settings for the service (`{"MCP_LAUNCHER": "exec"}`); override it.
- `chatgate_app` (module): the live service (`ChatgateApp`) on a free port, with a temporary database
  and files root and the scripted model.
- `scripted_model` (function): the scripted model (`ScriptedModelServer`), reset around the test.
- `token_for` (function): `token_for(user, **claims)`, a valid token for any user id.
- `call_tool` (function): `call_tool(user, name, **arguments)`, one call through a server bound to `user`.

This module imports nothing heavy at load time: a project's other tests do not pay for it.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from chatgate.testing.app import ChatgateApp
    from chatgate.testing.model import ScriptedModelServer
    from chatgate.testing.tool_session import ToolResult

INI_CONFIG = "chatgate_config"


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addini(
        INI_CONFIG, "CHATGATE_CONFIG for the chatgate_app fixture (relative to the ini file)", type="paths"
    )


@pytest.fixture(scope="session")
def _chatgate_jwt_secret() -> str:
    return secrets.token_urlsafe(48)


@pytest.fixture(scope="module")
def chatgate_config(request: pytest.FixtureRequest) -> Path | None:
    """The configuration under test: the `chatgate_config` ini option, else `CHATGATE_CONFIG`, else none."""
    configured = request.config.getini(INI_CONFIG)
    if configured:
        return Path(configured[0])
    from_environment = os.environ.get("CHATGATE_CONFIG", "").strip()
    return Path(from_environment).resolve() if from_environment else None


@pytest.fixture(scope="module")
def chatgate_env() -> dict[str, Any]:
    """Extra settings for `chatgate_app`, by environment-variable name (none by default)."""
    return {}


@pytest.fixture(scope="session")
def chatgate_model_server() -> Iterator[ScriptedModelServer]:
    """The scripted model's server, shared by the session (`scripted_model` resets it per test)."""
    from chatgate.testing.model import ScriptedModelServer
    from chatgate.testing.server import BackgroundServer

    model = ScriptedModelServer()
    with BackgroundServer(model.app) as server:
        model.base_url = f"{server.url}/v1"
        yield model


@pytest.fixture
def scripted_model(chatgate_model_server: ScriptedModelServer) -> Iterator[ScriptedModelServer]:
    """Script the model's tool calls and answers for this test (`steps`, `respond_with`); read `requests`."""
    chatgate_model_server.reset()
    yield chatgate_model_server
    chatgate_model_server.reset()


@pytest.fixture(scope="module")
def chatgate_app(
    chatgate_config: Path | None,
    chatgate_env: dict[str, Any],
    chatgate_model_server: ScriptedModelServer,
    tmp_path_factory: pytest.TempPathFactory,
    _chatgate_jwt_secret: str,
) -> Iterator[ChatgateApp]:
    """A live service with the configuration under test, on a free port, for this module."""
    from chatgate.testing.app import running_app

    with running_app(
        tmp_path_factory.mktemp("chatgate-app"),
        config_file=chatgate_config,
        model=chatgate_model_server,
        jwt_secret=_chatgate_jwt_secret,
        overrides=chatgate_env,
    ) as app:
        yield app


@pytest.fixture
def token_for(_chatgate_jwt_secret: str) -> Callable[..., str]:
    """`token_for(user, **claims)`: a bearer token `chatgate_app` accepts for `user`."""
    from chatgate.testing.app import mint_token

    def token(user: str, **claims: Any) -> str:
        return mint_token(_chatgate_jwt_secret, user, **claims)

    return token


@pytest.fixture
def call_tool(chatgate_app: ChatgateApp) -> Callable[..., ToolResult]:
    """`call_tool(user, name, **arguments)`: one call through a real tool server bound to `user`, no model."""
    return chatgate_app.call_tool
