"""CHATGATE_CONFIG files that declare the tests' operator MCP server (`support.operator_mcp_server`)."""

from __future__ import annotations

import json
import sys
from pathlib import Path

TESTS_DIR = Path(__file__).resolve().parents[1]

# A one-operation document: `[[apis]] notes` exists only so users can store a `notes` credential.
_NOTES_OPENAPI = {
    "openapi": "3.1.0",
    "info": {"title": "notes", "version": "1"},
    "paths": {"/me": {"get": {"operationId": "me", "responses": {"200": {"description": "ok"}}}}},
}


def toml_string(value: str | Path) -> str:
    return json.dumps(str(value))  # a JSON string is a valid TOML basic string for these values


def notes_server_entry(
    directory: Path, *, name: str = "notes", leaky: bool = False, seen: Path | None = None
) -> str:
    """One `[[mcp_servers]]` entry running the notes server, needing the caller's `notes` credential."""
    env = {
        "PYTHONPATH": str(TESTS_DIR),
        "NOTES_TOKEN": "{credential:notes}",
        "NOTES_USER": "{user.id}",
        "NOTES_DIR": str(directory / f"{name}-data"),
        "NOTES_LEAKY": "1" if leaky else "0",
    }
    if seen is not None:
        env["NOTES_SEEN"] = str(seen)
    lines = [
        "[[mcp_servers]]",
        f"name = {toml_string(name)}",
        f"command = {toml_string(sys.executable)}",
        'args = ["-u", "-m", "support.operator_mcp_server"]',
        'tools = ["token", "*_note", "*_notes"]',
        "timeout_seconds = 60",  # an interpreter start plus the MCP SDK import, on a loaded machine
        "",
        "[mcp_servers.env]",
        *(f"{key} = {toml_string(value)}" for key, value in env.items()),
        "",
    ]
    return "\n".join(lines)


def write_notes_config(directory: Path, *entries: str) -> Path:
    """A config with the `notes` user-credential API and the given `[[mcp_servers]]` entries."""
    (directory / "notes-openapi.json").write_text(json.dumps(_NOTES_OPENAPI))
    head = "\n".join(
        [
            "[[apis]]",
            'name = "notes"',
            'base_url = "https://notes.example.test/v1"',
            'openapi = "notes-openapi.json"',
            'auth = "user"',
            "",
        ]
    )
    path = directory / "chatgate.toml"
    path.write_text(head + "\n".join(entries))
    return path
