"""The service's view of containment: the level it reports, what it logs once, when it refuses.

The API process never contains itself; it decides, before the first launch, what its tool servers
will get on this machine with this configuration, says so in the start-up log and on `/readyz`, and
with `MCP_SANDBOX=required` refuses to start when any of it is missing.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError

from chatgate.config import Settings
from chatgate.config_errors import ConfigError
from chatgate.sandbox.support import SandboxLevel, kernel_support

logger = logging.getLogger("chatgate.sandbox")

SQLITE_NOTE = (
    "SQLite: every tool server opens the one database file, so containment cannot separate users' rows "
    "there (only the owner filter in code does); use PostgreSQL with DATABASE_TOOLS_URL in production"
)
SHARED_ROLE_PROBLEM = (
    "tool servers connect to PostgreSQL as the service's own role (DATABASE_TOOLS_URL unset or the same "
    "role): code inside one could read conversations and sign any user's identity; give them a role of "
    "their own (chatgate db grant-tools-role)"
)


@dataclass(frozen=True)
class ServiceContainment:
    """What this service's tool servers get."""

    level: SandboxLevel
    problems: tuple[str, ...]  # what keeps the level from `full`
    notes: tuple[str, ...]  # true either way, worth saying (SQLite)
    summary: str


def assess(settings: Settings) -> ServiceContainment:
    """The containment tool servers will get; pure apart from a cached kernel probe.

    Raises:
        ConfigError: `MCP_SANDBOX=required` and something is missing.
    """
    mode = settings.mcp_sandbox
    support = kernel_support()
    problems = list(support.missing) if mode != "off" else []
    notes: list[str] = []
    backend = _backend(settings.resolved_database_url)
    if backend == "sqlite":
        notes.append(SQLITE_NOTE)
    elif backend == "postgresql" and _same_role(
        settings.resolved_database_url, settings.resolved_database_tools_url
    ):
        problems.append(SHARED_ROLE_PROBLEM)
    if mode == "required" and problems:
        raise ConfigError("MCP_SANDBOX=required, but " + "; ".join(problems))
    level: SandboxLevel = "off" if mode == "off" else ("partial" if problems else "full")
    summary = support.describe(mode)
    if mode != "off" and len(problems) > len(support.missing):
        summary += "; " + "; ".join(problems[len(support.missing) :])
    return ServiceContainment(level=level, problems=tuple(problems), notes=tuple(notes), summary=summary)


def log_containment(containment: ServiceContainment) -> None:
    """Say once, at start-up, what tool servers get and what they lack."""
    if containment.level == "full":
        logger.info("%s", containment.summary)
    else:
        logger.warning("%s", containment.summary)
    for note in containment.notes:
        logger.warning("%s", note)


def _backend(url: str) -> str:
    try:
        return make_url(url).get_backend_name()
    except ArgumentError:
        return ""


def _same_role(app_url: str, tools_url: str) -> bool:
    try:
        app, tools = make_url(app_url), make_url(tools_url)
    except ArgumentError:
        return True
    return (app.username, app.host, app.port, app.database) == (
        tools.username,
        tools.host,
        tools.port,
        tools.database,
    )
