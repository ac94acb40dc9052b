"""Toolset tools in the tool server (in memory): schemas, the bound user's rows, files and API
credentials, and what the model may read of a failure. Database tests run on SQLite and on
PostgreSQL as the application role, with row-level security in force."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from mcp import Client
from mcp.types import CallToolResult

from apis.upstream import Recorder, Upstream
from apis.upstream import write_config as write_api_config
from chatgate.http_apis.catalog import write_catalog
from chatgate.http_apis.openapi_documents import compile_catalog
from chatgate.mcp_server.server import build_server
from chatgate.mcp_server.settings import BoundIdentity, ChildSettings
from chatgate.storage import create_engine
from chatgate.tool_config import load_tool_config
from toolsets.project_config import write_config

Call = Callable[[str, dict[str, Any]], Any]


def _outcome(result: CallToolResult) -> Any:
    if result.is_error:
        return ("error", " ".join(getattr(block, "text", "") for block in result.content))
    return result.structured_content


@pytest.fixture
def config_file(tmp_path: Path) -> Path:
    return write_config(tmp_path)


@pytest.fixture
def session_for(database_url: str, config_file: Path, tmp_path: Path) -> Callable[..., Any]:
    """`async with session_for("alice") as call:` a tool server bound to that user, in memory."""

    @asynccontextmanager
    async def open_session(user: str, **settings: Any) -> AsyncIterator[Call]:
        child = ChildSettings(
            identity=BoundIdentity(user_id=user, claims={"name": f"{user} name"}),
            request_id=f"req-{user}",
            database_url=database_url,
            files_root=tmp_path / "files",
            config_file=settings.pop("config_file", config_file),
            **settings,
        )
        async with Client(build_server(child)) as client:

            async def call(tool: str, arguments: dict[str, Any]) -> Any:
                return _outcome(await client.call_tool(tool, arguments))

            yield call

    return open_session


async def test_schemas_come_from_the_signature_and_annotations_from_the_decorator(
    tmp_path: Path, config_file: Path
) -> None:
    settings = ChildSettings(identity=BoundIdentity(user_id="alice"), config_file=config_file)
    async with Client(build_server(settings)) as client:
        tools = {tool.name: tool for tool in (await client.list_tools()).tools}
    add = tools["notes_add"]
    assert add.description == "Add a note for the user."
    assert add.input_schema["additionalProperties"] is False
    assert add.input_schema["required"] == ["text"]
    assert add.input_schema["properties"]["text"]["description"] == "The text of the note."
    assert add.input_schema["properties"]["text"]["maxLength"] == 500
    assert "ctx" not in add.input_schema["properties"]  # the context is never an argument
    annotations = {name: tools[name].annotations for name in ("notes_add", "notes_list", "notes_save_file")}
    assert annotations["notes_add"] is not None and annotations["notes_add"].destructive_hint is True
    assert annotations["notes_list"] is not None and annotations["notes_list"].read_only_hint is True
    assert annotations["notes_list"].destructive_hint is False
    assert (
        annotations["notes_save_file"] is not None
        and annotations["notes_save_file"].destructive_hint is False
    )
    assert tools["notes_api_whoami"].annotations is not None
    assert tools["notes_api_whoami"].annotations.open_world_hint is True
    # needs_approval is kept on the definition for the approval flow.
    from notes_toolkit.tools import toolset

    flags = {tool.name: tool.needs_approval for tool in toolset.tools}
    assert flags["notes_clear"] is True and flags["notes_add"] is False


async def test_undeclared_arguments_such_as_a_user_id_are_refused(
    session_for: Any, notes_table: None
) -> None:
    async with session_for("alice") as call:
        outcome = await call("notes_add", {"text": "hello", "user_id": "bob"})
    assert outcome[0] == "error" and "unknown argument(s) user_id" in outcome[1]


async def test_a_tool_reads_and_writes_only_the_bound_users_rows(
    session_for: Any, notes_table: None, alice: str, bob: str, backend: str
) -> None:
    async with session_for(alice) as call:
        assert (await call("notes_add", {"text": "alice one"}))["text"] == "alice one"
        await call("notes_add", {"text": "alice two"})
    async with session_for(bob) as call:
        await call("notes_add", {"text": "bob one"})
        assert await call("notes_list", {}) == {"texts": ["bob one"]}
        unfiltered = await call("notes_list_unfiltered", {})
    async with session_for(alice) as call:
        assert await call("notes_list", {}) == {"texts": ["alice one", "alice two"]}
    if backend == "postgres":
        # No owner filter in the tool's code: row-level security alone keeps bob to his rows.
        assert unfiltered == {"texts": ["bob one"]}
    else:
        # SQLite has no RLS: the owner filter in the operator's code is what isolates (documented).
        assert {"alice one", "bob one"} <= set(unfiltered["texts"])


async def test_a_read_only_tool_never_commits_a_write(
    session_for: Any, notes_table: None, alice: str, backend: str
) -> None:
    async with session_for(alice) as call:
        outcome = await call("notes_write_in_read_only", {})
        listed = await call("notes_list", {})
    assert "sneaky" not in listed["texts"]
    if backend == "postgres":
        assert outcome[0] == "error" and "nothing was changed" in outcome[1]


async def test_calls_that_use_the_database_are_audited(
    session_for: Any, notes_table: None, alice: str, admin_url: str
) -> None:
    async with session_for(alice) as call:
        await call("notes_add", {"text": "audited"})
        await call("notes_refuse", {})  # no database use: nothing to audit it on
    engine = create_engine(admin_url)
    try:
        async with engine.connect() as connection:
            rows = (
                await connection.execute(
                    sa.text("SELECT tool, outcome, request_id FROM audit_log WHERE owner = :owner"),
                    {"owner": alice},
                )
            ).all()
    finally:
        await engine.dispose()
    assert [tuple(row) for row in rows] == [("notes_add", "ok", f"req-{alice}")]


@pytest.mark.parametrize("backend", ["sqlite"], indirect=True)
async def test_files_are_the_bound_users_own(session_for: Any) -> None:
    async with session_for("alice") as call:
        assert (await call("notes_save_file", {"name": "plan.txt", "content": "alice's plan"}))[
            "path"
        ] == "plan.txt"
    async with session_for("bob") as call:
        missing = await call("notes_read_file", {"name": "plan.txt"})
        assert missing[0] == "error" and "plan.txt" in missing[1]
        escape = await call("notes_read_file", {"name": "../alice/plan.txt"})
        assert escape[0] == "error"
        await call("notes_save_file", {"name": "plan.txt", "content": "bob's plan"})
        assert (await call("notes_read_file", {"name": "plan.txt"}))["content"] == "bob's plan"
    async with session_for("alice") as call:
        assert (await call("notes_read_file", {"name": "plan.txt"}))["content"] == "alice's plan"


@pytest.mark.parametrize("backend", ["sqlite"], indirect=True)
async def test_tool_error_text_reaches_the_model_other_exceptions_are_withheld_and_logged(
    session_for: Any, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.INFO):
        async with session_for("alice") as call:
            refused = await call("notes_refuse", {})
            crashed = await call("notes_crash", {})
    assert refused == ("error", "Error executing tool notes_refuse: the notes archive is closed on Sundays")
    assert crashed == ("error", "Error executing tool notes_crash")
    logged = caplog.text
    assert "secret-internal-detail" in logged  # the operator can find out what happened
    assert "about to crash" in logged  # ctx.log reaches the server's log


@pytest.mark.parametrize("backend", ["sqlite"], indirect=True)
async def test_the_tool_sees_the_bound_user_and_profile_claims(session_for: Any) -> None:
    async with session_for("alice") as call:
        assert await call("notes_profile", {}) == {"id": "alice", "claims": {"name": "alice name"}}


@pytest.fixture
def api_config_file(tmp_path: Path, upstream: Upstream) -> tuple[Path, Path]:
    """The notes toolset plus a `user`-auth API, and the compiled catalog next to it."""
    common = {"base_url": upstream.base_url, "openapi": upstream.openapi_url, "allow_private": True}
    apis = write_api_config(
        tmp_path / "apis.toml",
        [{**common, "name": "mine", "operations": ["whoami"], "auth": "user", "user_id_header": "X-User-Id"}],
    )
    config = write_config(tmp_path, apis.read_text())
    catalog = tmp_path / "catalog.json"
    write_catalog(compile_catalog(load_tool_config(config)), catalog)
    return config, catalog


@pytest.mark.parametrize("backend", ["sqlite"], indirect=True)
async def test_http_reaches_the_configured_api_with_the_bound_users_credential_only(
    session_for: Any, api_config_file: tuple[Path, Path], hits: Recorder
) -> None:
    config, catalog = api_config_file
    credentials = {"mine": "alice-token"}
    async with session_for(
        "alice", config_file=config, apis_catalog=catalog, api_user_credentials=credentials
    ) as call:
        answer = await call("notes_api_whoami", {"api": "mine"})
        escaped = await call("notes_api_escape", {})
        unknown = await call("notes_api_whoami", {"api": "elsewhere"})
    assert answer["status"] == 200
    # Sent with alice's credential (the upstream saw it, below); an echo of it never reaches the tool.
    assert answer["body"] == {"authorization": "Bearer [redacted]", "api_key": None, "user_id": "alice"}
    assert escaped[0] == "error" and "the API call failed" in escaped[1] and "alice-token" not in escaped[1]
    assert unknown == ("error", "Error executing tool notes_api_whoami")  # an operator mistake: withheld
    assert "/admin/secret" not in hits.paths()
    async with session_for("bob", config_file=config, apis_catalog=catalog, api_user_credentials={}) as call:
        refused = await call("notes_api_whoami", {"api": "mine"})
    assert refused[0] == "error" and "you have not connected the mine API yet" in refused[1]
    assert [hit.authorization for hit in hits.hits if hit.path == "/v1/whoami"] == ["Bearer alice-token"]
