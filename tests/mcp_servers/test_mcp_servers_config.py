"""`[[mcp_servers]]` validation: every mistake is a start-up error naming the entry and the key."""

from __future__ import annotations

import sys
import tomllib
from pathlib import Path
from typing import Any

import pytest

from chatgate.config_errors import ConfigError
from chatgate.main import create_app
from chatgate.mcp_servers import load_mcp_server_configs
from chatgate.mcp_servers.config import McpServerConfig
from chatgate.tool_config import ToolConfigError
from support.operator_mcp import write_notes_config
from support.settings import make_settings


def load(text: str, base_dir: Path | None = None, credential_apis: tuple[str, ...] = ("github",)) -> Any:
    return load_mcp_server_configs(tomllib.loads(text), base_dir=base_dir, credential_apis=credential_apis)


GOOD = f"""
[[mcp_servers]]
name = "github"
command = {sys.executable!r}
args = ["-m", "server"]
env = {{ TOKEN = "{{credential:github}}", WHO = "user {{user.id}}", JSON = '{{"a": 1}}' }}
tools = ["get_*"]
"""


def test_a_good_entry_loads_with_its_credentials_and_prefix() -> None:
    (server,) = load(GOOD)
    assert server.name == "github" and server.tool_prefix == "mcp_github_"
    assert server.credential_apis == ("github",)
    assert server.timeout_seconds == 30
    env = server.environment_for("alice", {"github": "gh-alice", "other": "never"})
    assert env == {"TOKEN": "gh-alice", "WHO": "user alice", "JSON": '{"a": 1}'}


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('[[mcp_servers]]\nname = "gh"\n', "[[mcp_servers]] gh: command: Field required"),
        (
            '[[mcp_servers]]\nname = "GitHub"\ncommand = "python3"\n',
            "[[mcp_servers]] GitHub: name: String should",
        ),
        ('[[mcp_servers]]\ncommand = "python3"\n', "[[mcp_servers]] #1: name: Field required"),
        (
            '[[mcp_servers]]\nname = "gh"\ncommand = ""\n',
            "[[mcp_servers]] gh: command: String should have at",
        ),
        (
            '[[mcp_servers]]\nname = "gh"\ncommand = "python3"\ncolour = "red"\n',
            "[[mcp_servers]] gh: colour: Extra inputs are not permitted",
        ),
        (
            '[[mcp_servers]]\nname = "gh"\ncommand = "python3"\nenv = { T = "{credential:gitlab}" }\n',
            '[[mcp_servers]] gh: env: {credential:gitlab} names no [[apis]] entry with auth = "user"',
        ),
        (
            '[[mcp_servers]]\nname = "gh"\ncommand = "python3"\nenv = { T = "{credentials:github}" }\n',
            "[[mcp_servers]] gh: env: Value error, T: unknown placeholder {credentials:github}",
        ),
        (
            '[[mcp_servers]]\nname = "gh"\ncommand = "python3"\nenv = { "A-B" = "x" }\n',
            "[[mcp_servers]] gh: env: Value error, 'A-B' is not an environment variable name",
        ),
        (
            '[[mcp_servers]]\nname = "gh"\ncommand = "python3"\ntools = []\n',
            "[[mcp_servers]] gh: tools: Value error, must list at least one tool name",
        ),
        (
            '[[mcp_servers]]\nname = "gh"\ncommand = "python3"\ntimeout_seconds = 0\n',
            "[[mcp_servers]] gh: timeout_seconds: Input should be greater than 0",
        ),
        (
            '[[mcp_servers]]\nname = "gh"\ncommand = "no-such-mcp-server-here"\n',
            "[[mcp_servers]] gh: command: 'no-such-mcp-server-here' is not an executable",
        ),
        (
            '[[mcp_servers]]\nname = "gh"\ncommand = "python3"\n' * 2,
            "[[mcp_servers]] names must be unique: gh",
        ),
        ('mcp_servers = "github"\n', "[[mcp_servers]] in CHATGATE_CONFIG must be an array of tables"),
    ],
)
def test_mistakes_are_named(text: str, message: str) -> None:
    with pytest.raises(ToolConfigError) as caught:
        load(text)
    assert str(caught.value).startswith(message), str(caught.value)


def test_a_relative_command_is_found_next_to_the_config(tmp_path: Path) -> None:
    script = tmp_path / "bin" / "my-server"
    script.parent.mkdir()
    script.write_text("#!/bin/sh\n")
    text = '[[mcp_servers]]\nname = "mine"\ncommand = "bin/my-server"\n'
    with pytest.raises(ToolConfigError, match="is not an executable"):
        load(text, base_dir=tmp_path)  # there, but not executable
    script.chmod(0o755)
    (server,) = load(text, base_dir=tmp_path)
    assert server.command == str(script)


def test_user_id_and_credential_placeholders_only_fill_what_the_entry_names() -> None:
    server = McpServerConfig(name="x", command="x", env={"A": "{credential:one}", "B": "{user.id}/{user.id}"})
    assert server.credential_apis == ("one",)
    assert server.environment_for("u", {"one": "1", "two": "2"}) == {"A": "1", "B": "u/u"}


def test_start_up_refuses_a_bad_entry(tmp_path: Path) -> None:
    config = write_notes_config(
        tmp_path, '[[mcp_servers]]\nname = "gh"\ncommand = "python3"\nenv = { T = "{credential:github}" }\n'
    )
    with pytest.raises(ConfigError, match=r"\[\[mcp_servers\]\] gh: env: \{credential:github\}"):
        create_app(make_settings(tmp_path, CHATGATE_CONFIG=config))
