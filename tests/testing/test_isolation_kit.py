"""chatgate.testing on chatgate's own tools: the built-ins (records, tasks, files, a declared table) are
isolated, on both launchers."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from chatgate.testing import ChatgateApp, assert_isolated
from support.live_app import LIVE_APP_LAUNCHERS
from support.operator_mcp import TESTS_DIR

CONTACTS = """
[[tables]]
name = "contacts"
model = "database.declared_contacts_model:Contact"
owner_column = "account"
writable = ["name", "email", "vip"]
item = "contact"
"""


@pytest.fixture(scope="module", autouse=True)
def _declared_model_importable() -> Iterator[None]:
    # Tool servers import the declared table's model module: it lives in the tests tree.
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("PYTHONPATH", str(TESTS_DIR))
        yield


@pytest.fixture(scope="module")
def chatgate_config(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("kit-config") / "chatgate.toml"
    path.write_text(CONTACTS)
    return path


@pytest.fixture(scope="module", params=LIVE_APP_LAUNCHERS)
def chatgate_env(request: pytest.FixtureRequest) -> dict[str, Any]:
    return {"MCP_LAUNCHER": request.param}


def test_builtin_tools_are_isolated(chatgate_app: ChatgateApp) -> None:
    report = assert_isolated(chatgate_app)
    written = {call[0] for call, ok in report.writes if ok}
    assert {"records_create", "tasks_create", "files_write", "contacts_create"} <= written
    read = {name for name, _ in report.reads}
    assert {"records_list", "records_get", "tasks_list", "tasks_get", "files_read", "files_search"} <= read
    assert {"contacts_list", "contacts_get", "files_list", "records_collections"} <= read
    # Every successful write was seen by the writer's own reads: the check can see everything it wrote.
    assert report.unobserved_writes == []
