"""Settings resolution, start-up refusals, and the `chatgate` command."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import jwt
import pytest

from chatgate.auth.dev_secret import DEV_ISSUER
from chatgate.cli import main
from chatgate.config import Settings
from chatgate.config_errors import ConfigError
from chatgate.main import create_app
from support.servers import free_port


def settings(tmp_path: Path, **env: object) -> Settings:
    return Settings(_env_file=None, CHATGATE_STATE_DIR=tmp_path, **env)  # type: ignore[call-arg]


def test_production_refuses_to_start_without_auth(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="refusing to start unauthenticated"):
        create_app(settings(tmp_path, CHATGATE_ENV="production"))


def test_production_refuses_a_short_hs256_secret(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="at least 32 bytes"):
        create_app(settings(tmp_path, CHATGATE_ENV="production", JWT_SECRET="short"))


def test_production_accepts_a_long_secret_or_jwks(tmp_path: Path) -> None:
    settings(tmp_path, CHATGATE_ENV="production", JWT_SECRET="x" * 32).check_servable()
    settings(tmp_path, CHATGATE_ENV="production", JWKS_URL="https://idp.example/jwks").check_servable()


def test_better_auth_url_derives_jwks_issuer_and_audience(tmp_path: Path) -> None:
    resolved = settings(tmp_path, BETTER_AUTH_URL="https://app.example.test/")
    assert resolved.jwks_url == "https://app.example.test/api/auth/jwks"
    assert resolved.jwt_issuer == resolved.jwt_audience == "https://app.example.test"
    explicit = settings(tmp_path, BETTER_AUTH_URL="https://a.test", JWT_AUDIENCE="mobile")
    assert explicit.jwt_audience == "mobile"


def test_files_root_alias_and_defaults(tmp_path: Path) -> None:
    assert settings(tmp_path).resolved_files_root == (tmp_path / "files").resolve()
    assert (
        settings(tmp_path, BASE_DATA_PATH=tmp_path / "data").resolved_files_root
        == (tmp_path / "data").resolve()
    )
    assert settings(tmp_path).resolved_database_url.startswith("sqlite+aiosqlite:///")


def test_blank_values_mean_unset(tmp_path: Path) -> None:
    resolved = settings(
        tmp_path, JWT_SECRET="", OPENAI_BASE_URL=" ", CORS_ORIGINS="https://a.test, https://b.test"
    )
    assert resolved.jwt_secret is None and resolved.openai_base_url is None
    assert resolved.cors_origins == ["https://a.test", "https://b.test"]


def test_env_file_is_honored(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / ".env").write_text("AGENT_MODEL=from-dotenv\nMAX_CONCURRENT_SESSIONS=7\n")
    monkeypatch.chdir(tmp_path)
    resolved = Settings()
    assert resolved.agent_model == "from-dotenv" and resolved.max_concurrent_sessions == 7


def test_token_command_mints_a_dev_token_that_verifies(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("CHATGATE_STATE_DIR", str(tmp_path))
    monkeypatch.chdir(tmp_path)
    from chatgate.config import get_settings

    get_settings.cache_clear()
    try:
        assert main(["token", "--user", "alice", "--ttl", "120", "--email", "a@example.test"]) == 0
    finally:
        get_settings.cache_clear()
    token = capsys.readouterr().out.strip()
    secret = (tmp_path / "dev-jwt-secret").read_text().strip()
    claims = jwt.decode(token, secret, algorithms=["HS256"], issuer=DEV_ISSUER)
    assert claims["sub"] == "alice" and claims["email"] == "a@example.test"
    assert claims["exp"] - claims["iat"] == 120


def test_token_command_rejects_bad_ttl(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["token", "--user", "alice", "--ttl", "0"]) == 2
    assert "--ttl" in capsys.readouterr().err


def test_cli_help_lists_commands() -> None:
    completed = subprocess.run(
        [sys.executable, "-m", "chatgate", "--help"],
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
        env={**os.environ, "CHATGATE_STATE_DIR": "/nonexistent-not-touched"},
    )
    assert "serve" in completed.stdout and "token" in completed.stdout


def test_serve_prints_a_curl_that_works(tmp_path: Path) -> None:
    """What `make run` does: serve on embedded defaults and print a ready-to-paste curl with a dev token."""
    port = free_port()
    env = {key: value for key, value in os.environ.items() if key not in ("JWT_SECRET", "OPENAI_API_KEY")}
    env["CHATGATE_STATE_DIR"] = str(tmp_path / "state")
    with subprocess.Popen(
        [sys.executable, "-m", "chatgate", "serve", "--port", str(port), "--print-curl"],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
        env=env,
        cwd=tmp_path,
    ) as server:
        try:
            assert server.stdout is not None
            lines = []
            for line in server.stdout:
                lines.append(line)
                if "/api/agents/chat" in line:
                    break
            curl = next(line for line in lines if "/api/agents/tools" in line)
            token = re.search(r"Bearer ([A-Za-z0-9_.-]+)", curl)
            assert token is not None
            url = f"http://127.0.0.1:{port}/api/agents/tools"
            deadline = time.monotonic() + 120  # a ceiling for start-up on a loaded machine
            while True:
                try:
                    response = httpx.get(
                        url, headers={"Authorization": f"Bearer {token.group(1)}"}, timeout=60
                    )
                    break
                except httpx.ConnectError:
                    if time.monotonic() > deadline:
                        raise
                    time.sleep(0.05)
            assert response.status_code == 200, response.text
            assert "whoami" in {tool["name"] for tool in response.json()["tools"]}
            # ... and the playground's address, where a newcomer can chat.
            playground = next(line for line in lines if line.startswith("Playground:"))
            assert f"http://127.0.0.1:{port}/ " in playground
            page = httpx.get(f"http://127.0.0.1:{port}/", timeout=60)
            assert page.status_code == 200 and "chatgate playground" in page.text
        finally:
            server.send_signal(signal.SIGINT)
            server.wait(timeout=20)
    assert (tmp_path / "state" / "dev-jwt-secret").exists()


def test_env_example_loads_as_the_defaults(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """`.env.example` copied to `.env` must parse, and mean the same as no configuration at all."""
    example = Path(__file__).parent.parent / ".env.example"
    (tmp_path / ".env").write_text(example.read_text())
    monkeypatch.chdir(tmp_path)
    from_example = Settings()
    monkeypatch.chdir(tmp_path / "..")
    defaults = Settings(_env_file=None)  # type: ignore[call-arg]
    assert from_example.model_dump() == defaults.model_dump()
    lines = example.read_text().splitlines()
    documented = {line.split("=", 1)[0] for line in lines if "=" in line and not line.startswith("#")}
    aliases = set()
    for field in Settings.model_fields.values():
        alias = field.validation_alias
        aliases.update(alias.choices[:1] if hasattr(alias, "choices") else [alias])  # type: ignore[list-item]
    assert documented == {str(a) for a in aliases}


def test_dev_secret_is_agreed_under_concurrent_first_use(tmp_path: Path) -> None:
    from concurrent.futures import ThreadPoolExecutor

    from chatgate.auth.dev_secret import load_or_create_dev_secret

    with ThreadPoolExecutor(8) as pool:
        secrets = set(pool.map(lambda _: load_or_create_dev_secret(tmp_path), range(32)))
    assert len(secrets) == 1
    assert (tmp_path / "dev-jwt-secret").stat().st_mode & 0o777 == 0o600
    assert [p.name for p in tmp_path.iterdir()] == ["dev-jwt-secret"]  # no temporary files left
