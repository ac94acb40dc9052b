"""`assert_isolated` on operator MCP servers: one that keys its data on the bound user passes, one that
ignores the user (everyone's notes in one file) is caught, through generated and explicit cases.

Operator servers are spawned by the API process whatever the launcher: the default one is enough.
"""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest

from chatgate.testing import ChatgateApp, assert_isolated
from support.operator_mcp import notes_server_entry, write_notes_config


@pytest.fixture(scope="module")
def chatgate_config(tmp_path_factory: pytest.TempPathFactory) -> Path:
    directory = tmp_path_factory.mktemp("kit-mcp-config")
    return write_notes_config(
        directory,
        notes_server_entry(directory, name="notes"),
        notes_server_entry(directory, name="leaky", leaky=True),
    )


def _users_with_notes_credentials(app: ChatgateApp) -> tuple[str, str]:
    writer, reader = f"kit-writer-{uuid.uuid4().hex[:8]}", f"kit-reader-{uuid.uuid4().hex[:8]}"
    for user in (writer, reader):
        app.connect_credential(user, "notes", f"{user}-token")
    return writer, reader


def test_an_operator_mcp_server_that_keys_on_the_user_passes(chatgate_app: ChatgateApp) -> None:
    writer, reader = _users_with_notes_credentials(chatgate_app)
    report = assert_isolated(chatgate_app, writer=writer, reader=reader, tools=["mcp_notes_*"])
    assert [call[0] for call, ok in report.writes if ok] == ["mcp_notes_add_note"]
    assert report.unobserved_writes == []


def test_assert_isolated_fails_on_a_tool_that_ignores_the_bound_user(chatgate_app: ChatgateApp) -> None:
    writer, reader = _users_with_notes_credentials(chatgate_app)
    with pytest.raises(AssertionError) as caught:
        assert_isolated(chatgate_app, writer=writer, reader=reader, tools=["mcp_leaky_*"])
    message = str(caught.value)
    assert f"read(s) of {reader!r} returned what {writer!r} wrote" in message
    for leaking in ("mcp_leaky_list_notes", "mcp_leaky_search_notes", "mcp_leaky_get_note"):
        assert f"- {leaking}(" in message
    assert "written by mcp_leaky_add_note" in message


def test_explicit_cases_are_checked_too(chatgate_app: ChatgateApp) -> None:
    writer, reader = _users_with_notes_credentials(chatgate_app)
    with pytest.raises(AssertionError, match=r"mcp_leaky_search_notes\(\{\"query\": \"zq"):
        assert_isolated(
            chatgate_app,
            writer=writer,
            reader=reader,
            generate=False,
            writes=[("mcp_leaky_add_note", {"text": "call {marker} tomorrow"})],
            reads=[("mcp_leaky_search_notes", {"query": "{marker}"})],
        )
