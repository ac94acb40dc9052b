"""Declared tables (the built-in tasks and an operator's table) through the in-memory MCP client."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Callable
from contextlib import AsyncExitStack, asynccontextmanager
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from mcp import Client
from mcp.types import CallToolResult

from chatgate.mcp_server.server import build_server
from chatgate.mcp_server.settings import BoundIdentity, ChildSettings
from chatgate.storage import create_engine
from chatgate.storage.tables import load_table_specs
from chatgate.tool_config import ToolConfigError

CONTACTS = """
[[tables]]
name = "contacts"
model = "database.declared_contacts_model:Contact"
owner_column = "account"
writable = ["name", "email", "vip"]
item = "contact"
"""

Call = Callable[[str, dict[str, Any]], Any]


@pytest.fixture
async def contacts_table(admin_url: str, backend: str, postgres_or_none: Any) -> None:
    """The operator creates their table (and, on PostgreSQL, its policy and grants) themselves."""
    from database.declared_contacts_model import Contact

    admin = create_engine(admin_url)
    try:
        async with admin.begin() as connection:
            await connection.run_sync(Contact.__table__.create, checkfirst=True)  # type: ignore[attr-defined]
            if backend == "postgres":
                role = postgres_or_none.app_role
                for statement in (
                    "ALTER TABLE test_contacts ENABLE ROW LEVEL SECURITY",
                    "ALTER TABLE test_contacts FORCE ROW LEVEL SECURITY",
                    "DROP POLICY IF EXISTS test_contacts_owner ON test_contacts",
                    "CREATE POLICY test_contacts_owner ON test_contacts "
                    "USING (account = current_setting('app.user_id', true)) "
                    "WITH CHECK (account = current_setting('app.user_id', true))",
                    f'GRANT SELECT, INSERT, UPDATE, DELETE ON test_contacts TO "{role}"',
                    f'GRANT USAGE ON SEQUENCE test_contacts_id_seq TO "{role}"',
                ):
                    await connection.execute(sa.text(statement))
    finally:
        await admin.dispose()


@pytest.fixture
def postgres_or_none(backend: str, request: pytest.FixtureRequest) -> Any:
    return request.getfixturevalue("postgres_run") if backend == "postgres" else None


@pytest.fixture
def config_file(tmp_path: Path) -> Path:
    path = tmp_path / "chatgate.toml"
    path.write_text(CONTACTS)
    return path


def _settings(user: str, database_url: str, config_file: Path | None = None) -> ChildSettings:
    return ChildSettings(
        identity=BoundIdentity(user_id=user),
        request_id="req-tables",
        database_url=database_url,
        config_file=config_file,
    )


@pytest.fixture
def sessions(database_url: str, config_file: Path) -> Callable[[], Any]:
    """`async with sessions() as session_for:`, `call = await session_for(user)`, `await call(tool, args)`.

    A context manager inside the test (not a yielding fixture): the in-memory client's task group
    must be entered and exited by the same task.
    """

    @asynccontextmanager
    async def open_sessions() -> AsyncIterator[Callable[[str], Any]]:
        async with AsyncExitStack() as stack:

            async def session_for(user: str) -> Call:
                server = build_server(_settings(user, database_url, config_file))
                client = await stack.enter_async_context(Client(server))

                async def call(tool: str, arguments: dict[str, Any]) -> Any:
                    return _outcome(await client.call_tool(tool, arguments))

                return call

            yield session_for

    return open_sessions


def _outcome(result: CallToolResult) -> Any:
    if result.is_error:
        text = " ".join(getattr(block, "text", "") for block in result.content)
        return ("error", text)
    return result.structured_content


def _error(outcome: Any) -> str:
    assert isinstance(outcome, tuple) and outcome[0] == "error", outcome
    return str(outcome[1])


async def test_tasks_round_trip(sessions: Callable[[], Any], alice: str) -> None:
    async with sessions() as session_for:
        call = await session_for(alice)
        first = await call(
            "tasks_create", {"title": "Renew passport", "due_date": "2026-11-27", "priority": "high"}
        )
        assert first["title"] == "Renew passport" and first["done"] is False and first["notes"] is None
        assert first["due_date"] == "2026-11-27" and first["priority"] == "high"
        assert "owner" not in first and set(first) >= {"id", "created_at", "updated_at"}
        second = await call("tasks_create", {"title": "Call Acme"})
        assert second["priority"] == "normal" and second["due_date"] is None

        listed = await call("tasks_list", {})
        assert [task["title"] for task in listed["items"]] == ["Renew passport", "Call Acme"]
        assert listed["total"] == 2 and listed["has_more"] is False

        done = await call("tasks_update", {"id": first["id"], "changes": {"done": True, "notes": "booked"}})
        assert done["done"] is True and done["notes"] == "booked" and done["title"] == "Renew passport"
        cleared = await call("tasks_update", {"id": first["id"], "changes": {"notes": None}})
        assert cleared["notes"] is None and cleared["done"] is True

        assert (await call("tasks_list", {"where": {"done": False}}))["items"][0]["id"] == second["id"]
        assert (await call("tasks_list", {"where": {"done": True}}))["total"] == 1
        assert (await call("tasks_list", {"where": {"priority": "high"}}))["total"] == 1
        assert (await call("tasks_list", {"where": {"due_date": None}}))["items"][0]["id"] == second["id"]
        by_title = await call("tasks_list", {"order_by": "-title"})
        assert [task["title"] for task in by_title["items"]] == ["Renew passport", "Call Acme"]
        page = await call("tasks_list", {"limit": 1, "offset": 1})
        assert page["has_more"] is False and page["total"] == 2 and len(page["items"]) == 1

        assert await call("tasks_get", {"id": second["id"]}) == second
        assert await call("tasks_delete", {"id": second["id"]}) == {"deleted": second["id"]}
        assert _error(await call("tasks_get", {"id": second["id"]})).endswith("task not found")


@pytest.mark.parametrize(
    ("tool", "arguments", "message"),
    [
        ("tasks_create", {}, "title"),
        ("tasks_create", {"title": ""}, "title"),
        ("tasks_create", {"title": "x" * 201}, "title"),
        ("tasks_create", {"title": "x", "priority": "urgent"}, "priority"),
        ("tasks_create", {"title": "x", "due_date": "next friday"}, "due_date"),
        ("tasks_create", {"title": "x", "done": "maybe"}, "done"),
        ("tasks_create", {"title": "x", "owner": "bob"}, "unknown argument"),
        ("tasks_create", {"title": "x", "id": "00000000-0000-4000-8000-000000000000"}, "unknown argument"),
        ("tasks_create", {"title": "x", "created_at": "2020-01-01T00:00:00Z"}, "unknown argument"),
        ("tasks_create", {"title": "bad\x00title"}, "NUL"),
        ("tasks_get", {"id": "not-a-uuid"}, "id must be"),
        ("tasks_get", {"id": "1; DROP TABLE tasks"}, "id must be"),
        ("tasks_update", {"id": "00000000-0000-4000-8000-000000000000", "changes": {}}, "at least one"),
        ("tasks_update", {"id": "00000000-0000-4000-8000-000000000000", "changes": {"title": None}}, "title"),
        ("tasks_update", {"id": "00000000-0000-4000-8000-000000000000", "changes": {"owner": "x"}}, "owner"),
        ("tasks_update", {"id": "00000000-0000-4000-8000-000000000000", "changes": {"done": 3}}, "done"),
        ("tasks_list", {"where": {"owner": "bob"}}, "owner"),
        ("tasks_list", {"where": {"title": 5}}, "title"),
        ("tasks_list", {"order_by": "owner"}, "order_by must be one of"),
        ("tasks_list", {"order_by": "title; DROP TABLE tasks"}, "order_by"),
        ("tasks_list", {"limit": 101}, "limit"),
        ("tasks_list", {"limit": 0}, "limit"),
        ("tasks_list", {"offset": -1}, "offset"),
        ("tasks_list", {"user_id": "bob"}, "unknown argument"),
    ],
)
async def test_task_tools_reject_invalid_input(
    sessions: Callable[[], Any], alice: str, tool: str, arguments: dict[str, Any], message: str
) -> None:
    async with sessions() as session_for:
        call = await session_for(alice)
        text = _error(await call(tool, arguments))
        assert message in text
        assert "sqlalchemy" not in text.lower() and "INSERT" not in text and "Traceback" not in text


async def test_tasks_of_another_user_are_not_found(sessions: Callable[[], Any], alice: str, bob: str) -> None:
    async with sessions() as session_for:
        as_alice, as_bob = await session_for(alice), await session_for(bob)
        task = await as_alice("tasks_create", {"title": "alice only"})
        unknown = "00000000-0000-4000-8000-000000000000"
        for key in (task["id"], unknown):
            assert _error(await as_bob("tasks_get", {"id": key})).endswith("task not found")
            assert _error(await as_bob("tasks_update", {"id": key, "changes": {"done": True}})).endswith(
                "task not found"
            )
            assert _error(await as_bob("tasks_delete", {"id": key})).endswith("task not found")
        assert (await as_bob("tasks_list", {}))["total"] == 0
        assert (await as_alice("tasks_get", {"id": task["id"]}))["done"] is False


@pytest.mark.usefixtures("contacts_table")
async def test_operator_table_tools(sessions: Callable[[], Any], alice: str, bob: str) -> None:
    async with sessions() as session_for:
        as_alice, as_bob = await session_for(alice), await session_for(bob)
        ann = await as_alice("contacts_create", {"name": "Ann Acme", "email": "ann@acme.test", "vip": True})
        assert isinstance(ann["id"], int) and ann["internal_score"] == 0 and "account" not in ann
        await as_alice("contacts_create", {"name": "Bo"})
        await as_bob("contacts_create", {"name": "Bob's friend"})

        assert [c["name"] for c in (await as_alice("contacts_list", {}))["items"]] == ["Ann Acme", "Bo"]
        assert (await as_alice("contacts_list", {"where": {"vip": True}}))["total"] == 1
        assert _error(await as_bob("contacts_get", {"id": ann["id"]})).endswith("contact not found")
        assert _error(await as_alice("contacts_create", {"name": "X", "internal_score": 99})).count(
            "unknown argument"
        )
        assert "valid integer" in _error(await as_alice("contacts_get", {"id": "abc"}))
        updated = await as_alice("contacts_update", {"id": ann["id"], "changes": {"email": None}})
        assert updated["email"] is None and updated["vip"] is True
        assert await as_alice("contacts_delete", {"id": ann["id"]}) == {"deleted": ann["id"]}


async def test_tool_schemas_never_expose_owner_or_generated_columns(
    database_url: str, config_file: Path
) -> None:
    async with Client(build_server(_settings("alice", database_url, config_file))) as client:
        tools = {tool.name: tool for tool in (await client.list_tools()).tools}
    expected = {
        f"{table}_{verb}"
        for table in ("tasks", "contacts")
        for verb in ("list", "get", "create", "update", "delete")
    }
    expected |= {f"records_{verb}" for verb in ("collections", "list", "get", "create", "update", "delete")}
    assert expected <= set(tools)
    for name in expected:
        schema = json.dumps(tools[name].input_schema)
        for forbidden in ('"owner"', '"account"', '"user_id"'):
            assert forbidden not in schema, (name, forbidden)
        assert tools[name].input_schema.get("additionalProperties") is False
        assert tools[name].description
    writable = {
        "tasks": {"title", "notes", "done", "due_date", "priority"},
        "contacts": {"name", "email", "vip"},
    }
    for table, fields in writable.items():
        assert set(tools[f"{table}_create"].input_schema["properties"]) == fields
        update = tools[f"{table}_update"].input_schema
        assert set(update["properties"]) == {"id", "changes"}
        changes = update["properties"]["changes"]
        assert set(changes["properties"]) == fields and changes.get("additionalProperties") is False
        for verb in ("list", "update"):
            assert "$ref" not in json.dumps(tools[f"{table}_{verb}"].input_schema)
    create = tools["tasks_create"].input_schema
    assert set(create["properties"]) == {"title", "notes", "done", "due_date", "priority"}
    assert create["required"] == ["title"]
    assert tools["tasks_list"].annotations.read_only_hint is True
    assert tools["tasks_delete"].annotations.destructive_hint is True


_MODELS = "database.declared_contacts_model"


def _entry(model: str = f"{_MODELS}:Contact", name: str = "c", **keys: str) -> str:
    lines = [f'name = "{name}"', f'model = "{model}"', *(f"{key} = {value}" for key, value in keys.items())]
    return "[[tables]]\n" + "\n".join(lines)


@pytest.mark.parametrize(
    ("toml", "message"),
    [
        (_entry(name="Bad Name", writable='["a"]'), "lowercase identifier"),
        (_entry(name="records", writable='["a"]'), "lowercase identifier"),
        (_entry(model="no_such_module_xyz:Model", writable='["a"]'), "cannot import"),
        (_entry(model=f"{_MODELS}:NotATable", writable='["name"]'), "table=True"),
        (_entry(writable='["name"]'), "owner_column"),
        (_entry(owner_column='"account"', writable='["name", "account"]'), "generated or the owner"),
        (_entry(owner_column='"account"', writable='["nope"]'), "not a column"),
        (_entry(owner_column='"account"', writable='["id"]'), "generated or the owner"),
        (_entry(owner_column='"account"', writable="[]"), "non-empty list"),
        (_entry(owner_column='"account"', writable='["name"]', surprise="1"), "unknown keys"),
        ("tables = 3", "array of tables"),
    ],
)
def test_bad_table_declarations_are_reported(toml: str, message: str) -> None:
    import tomllib

    with pytest.raises(ToolConfigError, match=message):
        load_table_specs(tomllib.loads(toml))


def test_builtin_tasks_can_be_disabled() -> None:
    assert [spec.name for spec in load_table_specs({})] == ["tasks"]
    assert load_table_specs({"tables": [{"name": "tasks", "enabled": False}]}) == []
