"""The handoff to the tool server: only API variables are added, and only the caller's credentials."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from apis.upstream import Upstream, new_key, write_config
from chatgate import spawn as child
from chatgate.auth.principal import Principal
from chatgate.config import Settings
from chatgate.http_apis.catalog import ApiCatalog, CompiledApi
from chatgate.http_apis.config import ApiConfig
from chatgate.http_apis.credential_store import CredentialStore
from chatgate.http_apis.crypto import CredentialCipher
from chatgate.http_apis.parent import ApiService
from chatgate.launcher.environment import child_environment
from chatgate.storage import DatabaseUnavailableError, create_engine, upgrade_database


def test_additions_cannot_overwrite_the_identity(tmp_path: Path) -> None:
    settings = Settings(_env_file=None, CHATGATE_STATE_DIR=tmp_path)  # type: ignore[call-arg]
    additions = {child.ENV_USER_ID: "mallory", "OPENAI_API_KEY": "sk-x", child.ENV_API_USER_CREDENTIALS: "{}"}
    env = child_environment(settings, Principal("alice"), request_id="r1", extra_env=additions)
    assert env[child.ENV_USER_ID] == "alice"
    assert "OPENAI_API_KEY" not in env
    assert env[child.ENV_API_USER_CREDENTIALS] == "{}"
    # Without them nothing is added.
    assert child.ENV_API_USER_CREDENTIALS not in child_environment(
        settings, Principal("alice"), request_id="r2"
    )


async def test_child_environment_carries_only_the_callers_credentials(
    tmp_path: Path, upstream: Upstream, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SVC_HANDOFF", "svc-secret")
    monkeypatch.setenv("UNRELATED_SECRET", "must-not-travel")
    common = {"base_url": upstream.base_url, "openapi": upstream.openapi_url, "allow_private": True}
    config = write_config(
        tmp_path / "c.toml",
        [
            {**common, "name": "mine", "operations": ["whoami"], "auth": "user"},
            {
                **common,
                "name": "svc",
                "operations": ["whoami"],
                "auth": "service",
                "secret_env": "SVC_HANDOFF",
            },
        ],
    )
    settings = Settings(  # type: ignore[call-arg]
        _env_file=None, CHATGATE_STATE_DIR=tmp_path, CHATGATE_CONFIG=config, CHATGATE_ENCRYPTION_KEY=new_key()
    )
    await upgrade_database(settings.resolved_database_url)
    engine = create_engine(settings.resolved_database_url)
    try:
        service = ApiService.from_settings(settings, engine)
        await service.connect(Principal("alice"), "mine", "alice-token")
        await service.connect(Principal("bob"), "mine", "bob-token")
        alice = await service.api_environment(Principal("alice"))
        carol = await service.api_environment(Principal("carol"))
    finally:
        await engine.dispose()
    assert json.loads(alice[child.ENV_API_USER_CREDENTIALS]) == {"mine": "alice-token"}
    assert json.loads(carol[child.ENV_API_USER_CREDENTIALS]) == {}
    assert json.loads(alice[child.ENV_API_SERVICE_SECRETS]) == {"svc": "svc-secret"}
    assert child.ENV_APIS_CATALOG not in alice  # not secret: every child's environment carries it
    spawned = child_environment(settings, Principal("alice"), request_id="r")
    assert Path(spawned[child.ENV_APIS_CATALOG]) == settings.apis_catalog_path
    flat = json.dumps(alice) + json.dumps(carol)
    assert "bob-token" not in flat and "must-not-travel" not in flat
    assert "bob-token" not in json.dumps(carol) and "alice-token" not in json.dumps(carol)


@pytest.fixture
async def tableless(tmp_path: Path) -> AsyncIterator[ApiService]:
    """An API service whose database lacks the table: every credential query fails."""
    engine = create_engine(f"sqlite+aiosqlite:///{tmp_path / 'empty.db'}")
    api = ApiConfig(name="mine", base_url="https://x.test", openapi="x.json", auth="user")
    try:
        yield ApiService(
            ApiCatalog(apis=(CompiledApi(config=api, operations=()),)),
            store=CredentialStore(engine, CredentialCipher.from_setting(new_key())),
        )
    finally:
        await engine.dispose()


async def test_an_unreachable_store_does_not_fail_the_launch(tableless: ApiService) -> None:
    env = await tableless.api_environment(Principal("alice"))
    assert child.ENV_API_USER_CREDENTIALS not in env  # the tool then says credentials are unavailable


async def test_credential_routes_report_an_unreachable_database(tableless: ApiService) -> None:
    # The app's error handler renders this as 503 database_unavailable.
    with pytest.raises(DatabaseUnavailableError):
        await tableless.connect(Principal("alice"), "mine", "token")
    with pytest.raises(DatabaseUnavailableError):
        await tableless.connections(Principal("alice"))


def test_a_stale_catalog_is_removed_when_no_api_is_configured(tmp_path: Path) -> None:
    settings = Settings(  # type: ignore[call-arg]
        _env_file=None, CHATGATE_STATE_DIR=tmp_path, CHATGATE_CONFIG=write_config(tmp_path / "c.toml", [])
    )
    settings.apis_catalog_path.write_text("{}", encoding="utf-8")
    ApiService.from_settings(settings, create_engine(f"sqlite+aiosqlite:///{tmp_path / 'x.db'}"))
    assert not settings.apis_catalog_path.exists()
    assert child.ENV_APIS_CATALOG not in child_environment(settings, Principal("alice"), request_id="r")
