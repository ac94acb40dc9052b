"""Start-up through a real `chatgate serve`: every database is usable or says why, and every
configuration error is one line on stderr with exit status 2."""

from __future__ import annotations

import asyncio
import json
import logging
import sys
from pathlib import Path

import httpx
import pytest
import uvicorn

from chatgate.cli import main
from chatgate.config import get_settings
from chatgate.storage import current_revision, upgrade_database
from chatgate.storage.migrate import head_revision
from support.live_app import start_live_app
from support.models import answer
from support.openai_wire import ScriptedOpenAI, WireReply
from support.postgres import fresh_postgres_database
from support.processes import wait_until
from support.serving import run_to_exit, serve_env, serving
from support.tokens import TEST_JWT_SECRET, auth

# --- item 1: every SQLite database is migrated; PostgreSQL below head says so ------------------


def test_an_explicit_sqlite_url_on_a_fresh_directory_is_migrated(
    tmp_path: Path, scripted_openai: ScriptedOpenAI
) -> None:
    """The issue's input, as a user runs it: `chatgate serve` with DATABASE_URL on a fresh directory."""
    database = tmp_path / "fresh" / "db.sqlite3"
    scripted_openai.script = lambda _messages: WireReply(text="migrated and answering")
    env = serve_env(
        tmp_path / "state",
        DATABASE_URL=f"sqlite+aiosqlite:///{database}",
        JWT_SECRET=TEST_JWT_SECRET,
        OPENAI_BASE_URL=scripted_openai.base_url,
        OPENAI_API_KEY="test-key",
    )
    with serving(env, tmp_path) as served:
        ready = httpx.get(f"{served.url}/readyz", timeout=60)
        chat = httpx.post(f"{served.url}/api/agents/chat", json={"message": "hi"}, headers=auth(), timeout=60)
        listed = httpx.get(f"{served.url}/api/agents/conversations", headers=auth(), timeout=30)
    assert ready.status_code == 200, ready.text
    assert chat.status_code == 200, chat.text
    assert chat.json()["response"] == "migrated and answering"
    assert listed.status_code == 200 and listed.json()["total"] == 1
    assert asyncio.run(current_revision(f"sqlite:///{database}")) == head_revision()


def test_a_plain_sqlite_url_is_migrated_too(tmp_path: Path) -> None:
    database = tmp_path / "fresh" / "db.sqlite3"
    server, app = start_live_app(tmp_path / "state", DATABASE_URL=f"sqlite:///{database}")
    app.model.policy = answer("plain sqlite works")
    with server:
        chat = httpx.post(f"{app.url}/api/agents/chat", json={"message": "hi"}, headers=auth(), timeout=60)
    assert chat.status_code == 200, chat.text
    assert chat.json()["response"] == "plain sqlite works"


class _Records(logging.Handler):
    """Keeps the records of one logger (a logger-level handler survives the app's logging set-up)."""

    def __init__(self, name: str) -> None:
        super().__init__()
        self.records: list[logging.LogRecord] = []
        self._logger = logging.getLogger(name)

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)

    def __enter__(self) -> _Records:
        self._logger.addHandler(self)
        return self

    def __exit__(self, *_: object) -> None:
        self._logger.removeHandler(self)


@pytest.mark.postgres
def test_postgres_below_head_says_so_until_upgraded(tmp_path: Path) -> None:
    with fresh_postgres_database() as url, _Records("chatgate.schema_gate") as logged:
        server, app = start_live_app(tmp_path, DATABASE_URL=url)
        app.model.policy = answer("upgraded")
        with server:
            ready = httpx.get(f"{app.url}/readyz", timeout=60)
            chat = httpx.post(
                f"{app.url}/api/agents/chat", json={"message": "hi"}, headers=auth(), timeout=60
            )
            # The operator upgrades while it runs: the service notices without a restart.
            asyncio.run(upgrade_database(url))
            assert wait_until(lambda: httpx.get(f"{app.url}/readyz", timeout=60).status_code == 200, 60)
            after = httpx.post(
                f"{app.url}/api/agents/chat", json={"message": "hi"}, headers=auth(), timeout=60
            )
    for response in (ready, chat):
        assert response.status_code == 503, response.text
        assert response.json()["error"]["code"] == "schema_out_of_date"
        assert "chatgate db upgrade" in response.json()["error"]["message"]
        assert "try again" not in response.text.lower()
        assert "retry-after" not in response.headers
    out_of_date = [r for r in logged.records if r.fields.get("event") == "schema_out_of_date"]  # type: ignore[attr-defined]
    assert len(out_of_date) == 1 and "chatgate db upgrade" in out_of_date[0].getMessage()
    assert after.status_code == 200, after.text
    assert after.json()["response"] == "upgraded"


@pytest.mark.postgres
def test_postgres_is_migrated_at_start_up_when_asked(tmp_path: Path) -> None:
    with fresh_postgres_database() as url:
        server, app = start_live_app(tmp_path, DATABASE_URL=url, CHATGATE_AUTO_MIGRATE=True)
        with server:
            ready = httpx.get(f"{app.url}/readyz", timeout=60)
            listed = httpx.get(f"{app.url}/api/agents/conversations", headers=auth(), timeout=30)
        revision = asyncio.run(current_revision(url))
    assert ready.status_code == 200, ready.text
    assert listed.status_code == 200, listed.text
    assert revision == head_revision()


# --- item 2: configuration errors are one line and exit status 2 -------------------------------

SWAGGER_2 = {"swagger": "2.0", "info": {"title": "pets", "version": "1"}, "paths": {}}


def _openapi(paths: dict[str, object]) -> dict[str, object]:
    return {"openapi": "3.0.3", "info": {"title": "pets", "version": "1"}, "paths": paths}


def _get(operation_id: str) -> dict[str, object]:
    return {"get": {"operationId": operation_id, "responses": {"200": {"description": "ok"}}}}


def _apis_config(tmp_path: Path, document: dict[str, object], extra: str = "") -> dict[str, str]:
    (tmp_path / "doc.json").write_text(json.dumps(document))
    config = tmp_path / "chatgate.toml"
    config.write_text(
        f'[[apis]]\nname = "pets"\nbase_url = "https://pets.example.test"\nopenapi = "doc.json"\n{extra}'
    )
    return {"CHATGATE_CONFIG": str(config)}


def _config_file(tmp_path: Path, text: str) -> dict[str, str]:
    config = tmp_path / "chatgate.toml"
    config.write_text(text)
    return {"CHATGATE_CONFIG": str(config)}


# The inputs, each through a real `chatgate serve`.
DOCUMENT_ERRORS = {
    "swagger 2.0 document": lambda p: _apis_config(p, SWAGGER_2),
    "operationIds colliding after sanitising": lambda p: _apis_config(
        p, _openapi({"/a": _get("get.pet"), "/b": _get("get/pet")})
    ),
    "allowlisted tool name over 64 characters": lambda p: _apis_config(
        p, _openapi({"/a": _get("x" * 70)}), extra=f'operations = ["{"x" * 70}"]\n'
    ),
}


@pytest.mark.parametrize("case", sorted(DOCUMENT_ERRORS))
def test_api_document_errors_are_one_line_and_exit_status_2(tmp_path: Path, case: str) -> None:
    completed = run_to_exit(serve_env(tmp_path / "state", **DOCUMENT_ERRORS[case](tmp_path)), tmp_path)
    assert completed.returncode == 2, completed.stderr
    lines = completed.stderr.splitlines()
    assert len(lines) == 1, completed.stderr
    assert lines[0].startswith("chatgate: CHATGATE_CONFIG") and "[[apis]] pets" in lines[0]
    assert "Traceback" not in completed.stderr


# Every other kind of configuration error, through the same CLI entry point in-process (an
# interpreter start per case would cost the suite ~10 s each on a loaded machine).
CONFIG_ERRORS = {
    "config file missing": (lambda p: {"CHATGATE_CONFIG": str(p / "nope.toml")}, "CHATGATE_CONFIG"),
    "config file not TOML": (lambda p: _config_file(p, "[[apis]\nname ="), "CHATGATE_CONFIG"),
    "declared table model missing": (
        lambda p: _config_file(
            p, '[[tables]]\nname = "contacts"\nmodel = "no_such_module:Contact"\nowner_column = "owner"\n'
        ),
        "CHATGATE_CONFIG",
    ),
    "setting of the wrong type": (lambda p: {"MAX_CONCURRENT_SESSIONS": "many"}, "MAX_CONCURRENT_SESSIONS"),
    "JWKS_URL not a URL": (lambda p: {"JWKS_URL": "auth.example.test/jwks"}, "JWKS_URL"),
    "production without auth": (lambda p: {"CHATGATE_ENV": "production"}, "CHATGATE_ENV"),
    "unsupported database": (lambda p: {"DATABASE_URL": "mysql://nobody@127.0.0.1/x"}, "DATABASE_URL"),
}


@pytest.mark.parametrize("case", sorted(CONFIG_ERRORS))
def test_configuration_errors_are_one_line_and_exit_status_2(
    tmp_path: Path, case: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    make_env, setting = CONFIG_ERRORS[case]
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("CHATGATE_STATE_DIR", str(tmp_path / "state"))
    for name, value in make_env(tmp_path).items():
        monkeypatch.setenv(name, value)
    # Accepting the configuration is the failure: never start serving from inside the test.
    monkeypatch.setattr(uvicorn.Server, "run", lambda *_, **__: pytest.fail("the configuration was accepted"))
    get_settings.cache_clear()
    handlers = logging.getLogger().handlers[:]  # the app's logging set-up would keep capsys's stream
    try:
        status = main(["serve", "--port", "0"])
    finally:
        get_settings.cache_clear()
        logging.getLogger().handlers[:] = handlers
    err = capsys.readouterr().err
    assert status == 2, err
    lines = err.splitlines()
    assert len(lines) == 1 and lines[0].startswith("chatgate: ") and setting in lines[0], err
    assert "Traceback" not in err


def test_uvicorn_entry_point_reports_configuration_errors_the_same_way(tmp_path: Path) -> None:
    env = serve_env(tmp_path / "state", **_apis_config(tmp_path, SWAGGER_2))
    command = [sys.executable, "-m", "uvicorn", "chatgate.main:app", "--port", "0"]
    completed = run_to_exit(env, tmp_path, command)
    assert completed.returncode == 2, completed.stderr
    lines = completed.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("chatgate: CHATGATE_CONFIG"), completed.stderr


def test_a_database_that_cannot_be_migrated_at_start_up_is_one_clear_line(tmp_path: Path) -> None:
    """Found during start-up (not while building the app): still no traceback, still status 2."""
    blocker = tmp_path / "not-a-directory"
    blocker.write_text("a file where the database directory should be")
    env = serve_env(tmp_path / "state", DATABASE_URL=f"sqlite:///{blocker}/db.sqlite3")
    completed = run_to_exit(env, tmp_path)
    assert completed.returncode == 2, completed.stderr
    assert "Traceback" not in completed.stderr
    reported = [line for line in completed.stderr.splitlines() if "chatgate: DATABASE_URL" in line]
    assert len(reported) == 1 and "could not be migrated" in reported[0]
