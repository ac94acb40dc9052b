"""`assert_isolated` on a Python toolset (`chatgate.toolkit`): a tool that keys on the bound user passes, a
tool that ignores it is caught."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from chatgate.storage.engine import create_engine
from chatgate.testing import ChatgateApp, assert_isolated

PROJECT = Path(__file__).parent / "leaky_project"


@pytest.fixture(scope="module")
def chatgate_config(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("kit-toolsets") / "chatgate.toml"
    path.write_text(f'[[toolsets]]\nmodule = "leaky_toolkit.tools"\npath = "{PROJECT}"\n')
    return path


@pytest.fixture(scope="module")
def app(chatgate_app: ChatgateApp) -> ChatgateApp:
    """The operator creates the toolset's table, as for any table of their own."""
    from leaky_toolkit.tools import KitNote  # importable: the service put the toolset's path in place

    async def create() -> None:
        engine = create_engine(chatgate_app.settings.resolved_database_url)
        try:
            async with engine.begin() as connection:
                await connection.run_sync(KitNote.__table__.create, checkfirst=True)  # type: ignore[attr-defined]
        finally:
            await engine.dispose()

    asyncio.run(create())
    return chatgate_app


def test_a_toolset_tool_that_keys_on_the_bound_user_passes(app: ChatgateApp) -> None:
    report = assert_isolated(app, tools=["kitnotes_add", "kitnotes_list_mine"])
    assert report.writes[0][1] and report.unobserved_writes == []


def test_assert_isolated_fails_on_a_toolset_tool_that_ignores_the_bound_user(app: ChatgateApp) -> None:
    with pytest.raises(AssertionError) as caught:
        assert_isolated(app, tools=["kitnotes_add", "kitnotes_list_everyone"])
    message = str(caught.value)
    assert "- kitnotes_list_everyone({}) returned marker zq" in message
    assert "written by kitnotes_add" in message
