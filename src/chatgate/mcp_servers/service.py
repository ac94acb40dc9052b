"""The API process's side of operator MCP servers: which run for a caller, with what, and their teardown.

Each chat (and each `GET /api/agents/tools`) spawns every configured server the caller may use: a full
process start per chat, paid on the request path. The process gets an allowlisted environment — the
MCP SDK's basics (`HOME`, `PATH`, `USER`, …), locale and temp variables, and the entry's own `env` with
the caller's placeholders filled — never the model key, the JWT secret, chatgate's identity or
database variables, or another user's credential. A caller without every credential an entry needs
does not get that server (a debug log line says so). A server that fails to start is left out of that
chat with a warning; the chat goes on with the other tools.

Spawn and teardown are the launcher's (`ToolProcess`, `launcher.session`): the process runs in its own
session; teardown closes its pipes, then terminates and kills its process group after a short grace,
shielded from cancellation and bounded in time, whatever point of starting or serving was cut short.
"""

from __future__ import annotations

import logging
import os
from collections.abc import AsyncIterator, Awaitable, Callable, Collection, Mapping
from contextlib import AsyncExitStack, asynccontextmanager
from pathlib import Path

from agents.mcp import MCPServer as AgentsMCPServer
from agents.mcp.server import RequireApprovalSetting
from mcp.client.stdio import get_default_environment

from chatgate.auth.principal import Principal
from chatgate.launcher import ToolServerStartError
from chatgate.launcher.process import ToolProcess
from chatgate.launcher.session import close_session, connect_within
from chatgate.mcp_servers.config import McpServerConfig, load_mcp_server_configs
from chatgate.mcp_servers.server import OperatorMCPServer
from chatgate.tool_config import load_tool_config

logger = logging.getLogger(__name__)

# The caller's own decrypted credentials for the named APIs (missing ones left out).
CredentialSource = Callable[[Principal, Collection[str]], Awaitable[Mapping[str, str]]]

# Beyond the MCP SDK's own defaults (HOME, LOGNAME, PATH, SHELL, TERM, USER): locale, time zone, temp.
_INHERITED_VARIABLES = ("LANG", "LC_ALL", "TZ", "TMPDIR")


class OperatorMcpServers:
    """The configured `[[mcp_servers]]`, opened per caller."""

    def __init__(self, configs: list[McpServerConfig], *, credentials: CredentialSource, cwd: Path) -> None:
        self.configs = configs
        self._credentials = credentials
        self._cwd = str(cwd)

    @classmethod
    def from_config_file(
        cls, config_file: Path | None, *, credential_apis: Collection[str], credentials: CredentialSource
    ) -> OperatorMcpServers | None:
        """The servers `config_file` declares, or None when it declares none.

        Servers run in the config file's directory. Raises `ToolConfigError` (start-up refuses).
        """
        base_dir = config_file.resolve().parent if config_file is not None else None
        configs = load_mcp_server_configs(
            load_tool_config(config_file), base_dir=base_dir, credential_apis=credential_apis
        )
        if not configs or base_dir is None:
            return None
        return cls(configs, credentials=credentials, cwd=base_dir)

    @asynccontextmanager
    async def open(
        self,
        principal: Principal,
        *,
        serves: Callable[[str], bool] | None = None,
        require_approval: RequireApprovalSetting = None,
    ) -> AsyncIterator[list[AgentsMCPServer]]:
        """Connected servers for `principal` (those it may use and that started), torn down on exit.

        `serves(name)` says whether any agent may use a prefixed tool; others are hidden and refused.
        `require_approval` says which calls wait for the user (the SDK's MCP approval policy).

        Servers start one after another in this task: the SDK's stdio client must be closed by the
        task that opened it.
        """
        needed = sorted({name for config in self.configs for name in config.credential_apis})
        credentials = await self._credentials(principal, needed) if needed else {}
        async with AsyncExitStack() as stack:
            servers: list[AgentsMCPServer] = []
            for config in self.configs:
                missing = [name for name in config.credential_apis if name not in credentials]
                if missing:
                    logger.debug(
                        "mcp server %s not started for user %s: no stored %s credential",
                        config.name,
                        principal.user_hash,
                        ", ".join(missing),
                    )
                    continue
                env = get_default_environment() | self._environment(config, principal, credentials)
                try:
                    process = ToolProcess.spawn([config.command, *config.args], env=env, cwd=self._cwd)
                except OSError as exc:
                    logger.warning("mcp server %s could not be spawned (%s)", config.name, type(exc).__name__)
                    continue
                # No await between the spawn and this `try`: every way out below tears it down.
                server = OperatorMCPServer(
                    config, process=process, serves=serves, require_approval=require_approval
                )
                try:
                    await connect_within(server, config.timeout_seconds)
                except ToolServerStartError:
                    await close_session(server)
                    logger.warning("mcp server %s did not start; this chat goes on without it", config.name)
                    continue
                except BaseException:  # cancelled while starting: leave nothing running
                    await close_session(server)
                    raise
                stack.push_async_callback(close_session, server)
                servers.append(server)
            yield servers

    @staticmethod
    def _environment(
        config: McpServerConfig, principal: Principal, credentials: Mapping[str, str]
    ) -> dict[str, str]:
        env = {name: os.environ[name] for name in _INHERITED_VARIABLES if name in os.environ}
        env.update(config.environment_for(principal.user_id, credentials))
        return env
