"""The `[[mcp_servers]]` section of `CHATGATE_CONFIG`: existing MCP servers, spawned per chat as the caller.

```toml
[[mcp_servers]]
name = "github"                                   # tools become mcp_github_<tool>
command = "github-mcp-server"                     # on PATH, or a path relative to the config file
args = ["stdio"]
env = { GITHUB_PERSONAL_ACCESS_TOKEN = "{credential:github}" }   # the caller's own stored credential
tools = ["get_*", "search_*"]                     # optional glob allowlist of the server's tool names
timeout_seconds = 30                              # bounds its start and each call
```

`env` values may hold two placeholders, filled per chat: `{credential:API}` (the caller's own credential
for an `[[apis]]` entry with `auth = "user"`) and `{user.id}` (the caller's user id). Everything is
validated at start-up, so a typo fails loudly instead of per chat.
"""

from __future__ import annotations

import os
import re
import shutil
from collections.abc import Collection, Mapping
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from chatgate.tool_config import ToolConfigError, section

NAME_PATTERN = r"^[a-z][a-z0-9_]{0,31}$"
TOOL_PREFIX = "mcp_"
_ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,127}$")
# `{…}` holding only name-like characters is a placeholder; anything else (JSON, say) is literal text.
_PLACEHOLDER = re.compile(r"\{([A-Za-z0-9_.:-]+)\}")
_CREDENTIAL = re.compile(r"^credential:([a-z][a-z0-9_]{0,31})$")
USER_ID_PLACEHOLDER = "user.id"


class McpServerConfig(BaseModel):
    """One operator MCP server (a stdio command)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(pattern=NAME_PATTERN)
    command: str = Field(min_length=1)
    args: tuple[str, ...] = ()
    env: Mapping[str, str] = Field(default_factory=dict)
    tools: tuple[str, ...] | None = None
    timeout_seconds: float = Field(default=30.0, gt=0, le=600)

    @field_validator("env")
    @classmethod
    def _check_env(cls, value: Mapping[str, str]) -> Mapping[str, str]:
        for key, text in value.items():
            if not _ENV_NAME.match(key):
                raise ValueError(f"{key!r} is not an environment variable name")
            for match in _PLACEHOLDER.finditer(text):
                if match.group(1) != USER_ID_PLACEHOLDER and not _CREDENTIAL.match(match.group(1)):
                    raise ValueError(
                        f"{key}: unknown placeholder {match.group(0)}; use {{credential:API}} or {{user.id}}"
                    )
            if "\x00" in text:
                raise ValueError(f"{key}: must not contain NUL")
        return dict(value)

    @field_validator("tools")
    @classmethod
    def _check_tools(cls, value: tuple[str, ...] | None) -> tuple[str, ...] | None:
        if value is not None and (not value or not all(pattern.strip() for pattern in value)):
            raise ValueError("must list at least one tool name or glob (leave it out to allow all)")
        return value

    @property
    def tool_prefix(self) -> str:
        """What every tool of this server is called with: `mcp_<name>_`."""
        return f"{TOOL_PREFIX}{self.name}_"

    @property
    def credential_apis(self) -> tuple[str, ...]:
        """The APIs whose stored credential the caller needs before this server starts for them."""
        names = {
            credential.group(1)
            for text in self.env.values()
            for match in _PLACEHOLDER.finditer(text)
            if (credential := _CREDENTIAL.match(match.group(1)))
        }
        return tuple(sorted(names))

    def environment_for(self, user_id: str, credentials: Mapping[str, str]) -> dict[str, str]:
        """`env` with the placeholders filled for one caller.

        Raises:
            KeyError: a needed credential is missing from `credentials` (check `credential_apis` first).
        """

        def fill(match: re.Match[str]) -> str:
            key = match.group(1)
            if key == USER_ID_PLACEHOLDER:
                return user_id
            credential = _CREDENTIAL.match(key)
            return credentials[credential.group(1)] if credential else match.group(0)

        return {key: _PLACEHOLDER.sub(fill, text) for key, text in self.env.items()}


def load_mcp_server_configs(
    config: dict[str, Any], *, base_dir: Path | None, credential_apis: Collection[str]
) -> list[McpServerConfig]:
    """The validated `[[mcp_servers]]` entries; relative commands resolved against `base_dir`.

    `credential_apis` are the configured APIs with `auth = "user"`: the only names `{credential:…}`
    may use (nobody could store a credential for any other).

    Raises:
        ToolConfigError: an entry is invalid (the message names the entry and the key), or two
            entries share a name.
    """
    servers: list[McpServerConfig] = []
    for index, raw in enumerate(section(config, "mcp_servers")):
        name = raw.get("name")
        label = name if isinstance(name, str) else f"#{index + 1}"
        try:
            server = McpServerConfig.model_validate(raw)
        except ValidationError as exc:
            problems = "; ".join(
                f"{'.'.join(str(p) for p in err['loc']) or 'entry'}: {err['msg']}" for err in exc.errors()
            )
            raise ToolConfigError(f"[[mcp_servers]] {label}: {problems}") from None
        unknown = [name for name in server.credential_apis if name not in credential_apis]
        if unknown:
            raise ToolConfigError(
                f"[[mcp_servers]] {label}: env: {{credential:{unknown[0]}}} names no [[apis]] entry "
                'with auth = "user"'
            )
        servers.append(server.model_copy(update={"command": _resolve_command(server, label, base_dir)}))
    names = [server.name for server in servers]
    duplicates = sorted({name for name in names if names.count(name) > 1})
    if duplicates:
        raise ToolConfigError(f"[[mcp_servers]] names must be unique: {', '.join(duplicates)}")
    return servers


def _resolve_command(server: McpServerConfig, label: str, base_dir: Path | None) -> str:
    """An absolute path to the executable: a bare name is looked up on PATH, a path taken relative to
    the config file. Checked now so a typo is a start-up error, not a failure in every chat."""
    command = server.command
    if os.sep in command or (os.altsep and os.altsep in command):
        path = Path(command)
        if not path.is_absolute() and base_dir is not None:
            path = base_dir / path
        # Absolute, but not resolved: a virtualenv's `bin/python` must stay the symlink it is.
        found = str(path.absolute()) if path.is_file() and os.access(path, os.X_OK) else None
    else:
        found = shutil.which(command)
    if found is None:
        raise ToolConfigError(
            f"[[mcp_servers]] {label}: command: {command!r} is not an executable "
            "(on PATH, or a path relative to the config file)"
        )
    return found
