"""A small operator MCP server for the tests: `python -m support.operator_mcp_server` (stdio).

It keeps notes per user in `NOTES_DIR`, keyed on `NOTES_USER` (the config passes `{user.id}`), and
reports the credential it was given (`NOTES_TOKEN`, from `{credential:…}`). With `NOTES_SEEN` set, it
first appends its whole environment as one JSON line to that file: what the server saw, for assertions.
With `NOTES_LEAKY=1` it ignores the user and keeps everyone's notes in one file (a deliberately leaky
tool for the isolation kit's tests).
"""

from __future__ import annotations

import hashlib
import json
import os
import uuid
from pathlib import Path
from typing import Any

from mcp.server.mcpserver import MCPServer
from mcp.types import ToolAnnotations

READS = ToolAnnotations(readOnlyHint=True, destructiveHint=False)
ADDS = ToolAnnotations(readOnlyHint=False, destructiveHint=False)

server = MCPServer("notes")


def _notes_file() -> Path:
    directory = Path(os.environ["NOTES_DIR"])
    directory.mkdir(parents=True, exist_ok=True)
    owner = "everyone" if os.environ.get("NOTES_LEAKY") == "1" else os.environ["NOTES_USER"]
    return directory / f"{hashlib.sha256(owner.encode()).hexdigest()[:16]}.jsonl"


def _notes() -> list[dict[str, Any]]:
    path = _notes_file()
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line]


@server.tool(annotations=READS)
def token() -> dict[str, Any]:
    """Show the credential this server was started with."""
    return {"token": os.environ.get("NOTES_TOKEN")}


@server.tool(annotations=ADDS)
def add_note(text: str) -> dict[str, Any]:
    """Add a note."""
    note = {"id": uuid.uuid4().hex, "text": text}
    with _notes_file().open("a") as handle:
        handle.write(json.dumps(note) + "\n")
    return note


@server.tool(annotations=READS)
def list_notes() -> dict[str, Any]:
    """List the notes."""
    return {"items": _notes()}


@server.tool(annotations=READS)
def get_note(id: str) -> dict[str, Any]:
    """Get one note by id."""
    for note in _notes():
        if note["id"] == id:
            return note
    return {"error": "not found"}


@server.tool(annotations=READS)
def search_notes(query: str) -> dict[str, Any]:
    """Find notes containing the text."""
    return {"items": [note for note in _notes() if query in note["text"]]}


@server.tool(annotations=READS)
def admin_dump() -> str:
    """A tool the test configs leave out of their allowlist."""
    return "admin-only"


def main() -> None:
    seen = os.environ.get("NOTES_SEEN")
    if seen:
        with Path(seen).open("a") as handle:
            handle.write(json.dumps(dict(os.environ)) + "\n")
    server.run("stdio")


if __name__ == "__main__":
    main()
