"""The operator's configuration file (`CHATGATE_CONFIG`, TOML).

One file, one section per extension point (`[agent]`, `[[tables]]`, `[[apis]]`, `[[toolsets]]`, …).
This module only reads the file; each part validates its own section, so a mistake is reported
where it is understood.
"""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any

# Every top-level key the file may hold; anything else is a typo that would silently do nothing.
SECTIONS = ("agent", "agents", "tables", "apis", "toolsets", "mcp_servers")


class ToolConfigError(ValueError):
    """The configuration file is missing, unreadable or malformed (reported at start-up)."""


def load_tool_config(path: Path | None) -> dict[str, Any]:
    """The parsed file, or an empty mapping when no file is configured.

    Raises:
        ToolConfigError: the file is configured but cannot be read or parsed.
    """
    if path is None:
        return {}
    try:
        with path.open("rb") as handle:
            return tomllib.load(handle)
    except FileNotFoundError as exc:
        raise ToolConfigError(f"CHATGATE_CONFIG points at {path}, which does not exist") from exc
    except OSError as exc:
        raise ToolConfigError(f"CHATGATE_CONFIG file {path} cannot be read: {exc.strerror}") from exc
    except tomllib.TOMLDecodeError as exc:
        raise ToolConfigError(f"CHATGATE_CONFIG file {path} is not valid TOML: {exc}") from exc


def section(config: dict[str, Any], name: str) -> list[dict[str, Any]]:
    """An array-of-tables section (`[[name]]`), empty when absent.

    Raises:
        ToolConfigError: the section exists but is not an array of tables.
    """
    value = config.get(name, [])
    if not isinstance(value, list) or not all(isinstance(item, dict) for item in value):
        raise ToolConfigError(f"[[{name}]] in CHATGATE_CONFIG must be an array of tables")
    return value


def check_sections(config: dict[str, Any]) -> None:
    """Refuse top-level keys no part of the service reads (`[agnet]`, `[[toolset]]`, …).

    Raises:
        ToolConfigError: naming the unknown keys and the known ones.
    """
    if unknown := sorted(set(config) - set(SECTIONS)):
        raise ToolConfigError(
            f"CHATGATE_CONFIG: unknown key {', '.join(map(repr, unknown))} (known: {', '.join(SECTIONS)})"
        )
