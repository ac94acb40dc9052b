"""The per-request MCP child: in memory, and as a real process (identity, stdout hygiene, lifecycle)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import psutil
import pytest
from mcp import Client

from chatgate.auth.principal import Principal
from chatgate.config import Settings
from chatgate.launcher.environment import child_environment
from chatgate.launcher.exec import ExecLauncher
from chatgate.mcp_server.server import build_server
from chatgate.mcp_server.settings import BoundIdentity, ChildSettings, IdentityMissingError
from support.processes import tool_server_children, wait_until
from support.settings import make_settings


def child_settings(user: str = "alice", **claims: str) -> ChildSettings:
    return ChildSettings(identity=BoundIdentity(user_id=user, claims=claims))


async def test_whoami_in_memory_returns_bound_identity() -> None:
    async with Client(build_server(child_settings("alice", email="a@example.test"))) as client:
        result = await client.call_tool("whoami", {})
    assert not result.is_error
    assert result.structured_content == {"user_id": "alice", "email": "a@example.test"}


async def test_undeclared_arguments_are_a_tool_error() -> None:
    async with Client(build_server(child_settings("alice"))) as client:
        result = await client.call_tool("whoami", {"user_id": "bob"})
    assert result.is_error
    text = result.content[0].text  # type: ignore[union-attr]
    assert "unknown argument(s) user_id" in text and "bob" not in text


async def test_schemas_forbid_additional_properties() -> None:
    async with Client(build_server(child_settings())) as client:
        tools = (await client.list_tools()).tools
    assert tools and all(tool.input_schema.get("additionalProperties") is False for tool in tools)
    whoami = next(tool for tool in tools if tool.name == "whoami")
    assert whoami.annotations is not None and whoami.annotations.read_only_hint is True


@pytest.mark.parametrize(
    "environ",
    [
        {},
        {"CHATGATE_USER_ID": ""},
        {"CHATGATE_USER_ID": "a" * 2000},
        {"CHATGATE_USER_ID": "alice", "CHATGATE_USER_CLAIMS": "[1]"},
    ],
)
def test_settings_refuse_missing_or_bad_identity(environ: dict[str, str]) -> None:
    with pytest.raises(IdentityMissingError):
        ChildSettings.from_environ(environ)


def test_only_allowlisted_claims_survive() -> None:
    settings = ChildSettings.from_environ(
        {
            "CHATGATE_USER_ID": "alice",
            "CHATGATE_USER_CLAIMS": json.dumps({"email": "e", "role": "admin", "name": 3}),
        }
    )
    assert dict(settings.identity.claims) == {"email": "e"}


def _run_child(env: dict[str, str], stdin: bytes = b"") -> subprocess.CompletedProcess[bytes]:
    base = {key: os.environ[key] for key in ("PATH", "HOME") if key in os.environ}
    return subprocess.run(
        [sys.executable, "-m", "chatgate.mcp_server"],
        input=stdin,
        env={**base, **env},
        capture_output=True,
        timeout=30,
        check=False,
    )


def test_child_refuses_to_start_without_identity() -> None:
    completed = _run_child({})
    assert completed.returncode == 2
    assert completed.stdout == b""  # nothing on the protocol channel
    assert b"CHATGATE_USER_ID" in completed.stderr


def test_child_exits_promptly_on_stdin_eof() -> None:
    started = time.monotonic()
    completed = _run_child({"CHATGATE_USER_ID": "alice"}, stdin=b"")
    assert completed.returncode == 0
    assert completed.stdout == b""
    assert time.monotonic() - started < 10  # interpreter start dominates; no hang waiting on input


def test_child_environment_is_an_allowlist(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "sk-should-never-leak")
    monkeypatch.setenv("JWT_SECRET", "jwt-should-never-leak-" + "x" * 20)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "aws-should-never-leak")
    settings = Settings(_env_file=None, CHATGATE_STATE_DIR=tmp_path)  # type: ignore[call-arg]
    env = child_environment(settings, Principal("alice", {"email": "a@x", "role": "admin"}), request_id="r1")
    assert env["CHATGATE_USER_ID"] == "alice"
    assert json.loads(env["CHATGATE_USER_CLAIMS"]) == {"email": "a@x"}
    leaked = {key for key, value in env.items() if "never-leak" in value}
    assert not leaked
    assert not {"OPENAI_API_KEY", "JWT_SECRET", "AWS_SECRET_ACCESS_KEY"} & set(env)


async def test_real_child_process_has_no_secrets_in_its_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "sk-should-never-leak")
    monkeypatch.setenv("JWT_SECRET", "jwt-should-never-leak-" + "x" * 20)
    settings = make_settings(tmp_path)
    async with ExecLauncher(settings).launch(Principal("alice"), request_id="env-check") as server:
        (child,) = tool_server_children()
        environ = child.environ()
        result = await server.call_tool("whoami", {})
    assert result.structured_content == {"user_id": "alice"}
    assert environ["CHATGATE_USER_ID"] == "alice"
    assert "OPENAI_API_KEY" not in environ and "JWT_SECRET" not in environ
    assert not any("never-leak" in value for value in environ.values())


def test_child_dies_when_its_parent_is_killed(tmp_path: Path) -> None:
    """A parent killed with SIGKILL (no cleanup at all) must not leave its tool server running."""
    script = textwrap.dedent(
        f"""
        import asyncio, sys
        from chatgate.config import Settings
        from chatgate.launcher.exec import ExecLauncher
        from chatgate.auth.principal import Principal

        async def main():
            settings = Settings(_env_file=None, CHATGATE_STATE_DIR={str(tmp_path)!r})
            async with ExecLauncher(settings).launch(Principal("orphan"), request_id="orphan"):
                sys.stdout.write("ready\\n"); sys.stdout.flush()
                await asyncio.sleep(60)

        asyncio.run(main())
        """
    )
    parent = subprocess.Popen(
        [sys.executable, "-c", script], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL
    )
    try:
        assert parent.stdout is not None
        assert parent.stdout.readline() == b"ready\n"
        children = psutil.Process(parent.pid).children(recursive=True)
        assert children, "the launcher should have a live child"
        parent.send_signal(signal.SIGKILL)
        parent.wait(timeout=60)
        assert wait_until(lambda: not any(_alive(child) for child in children), timeout=60)
    finally:
        if parent.poll() is None:
            parent.kill()
            parent.wait(timeout=10)
        if parent.stdout is not None:
            parent.stdout.close()


def _alive(process: psutil.Process) -> bool:
    try:
        return process.is_running() and process.status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False
