"""Configuration files for the toolset tests, pointing at the operator project in `project/`."""

from __future__ import annotations

from pathlib import Path

PROJECT = Path(__file__).parent / "project"
NOTES_TABLE = "toolset_test_notes"


def write_config(directory: Path, text: str = "", *, toolsets: bool = True) -> Path:
    """`directory/chatgate.toml` holding the notes toolset (by absolute path) and `text`."""
    head = f'[[toolsets]]\nmodule = "notes_toolkit.tools"\npath = "{PROJECT}"\n\n' if toolsets else ""
    path = directory / "chatgate.toml"
    path.write_text(head + text)
    return path
