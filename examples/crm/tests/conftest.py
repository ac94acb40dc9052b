"""Fixtures for the CRM example's tests, on chatgate's own pytest plugin (`chatgate.testing`: the live
service as `chatgate_app`, `scripted_model`, `token_for`, `call_tool`). Here: this project's
configuration, with the billing API pointed at a stand-in, and the project's own tables."""

from __future__ import annotations

import asyncio
import sys
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

# The project's own package, for the tests themselves (chatgate finds it through [[toolsets]] path).
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from chatgate.testing import ChatgateApp
from chatgate.testing.server import BackgroundServer
from crm.schema import create_tables
from tests.crm_testing import billing_app, config_for_tests


@pytest.fixture(scope="module")
def billing_url() -> Iterator[str]:
    with BackgroundServer(billing_app()) as server:
        yield server.url


@pytest.fixture(scope="module")
def chatgate_config(tmp_path_factory: pytest.TempPathFactory, billing_url: str) -> Path:
    """The configuration under test (overrides the plugin's)."""
    return config_for_tests(tmp_path_factory.mktemp("crm-config"), billing_url)


@pytest.fixture(scope="module")
def crm(chatgate_app: ChatgateApp) -> ChatgateApp:
    """The service with the project's tables: chatgate creates the declared `contacts` table for tests;
    `crm_interactions` is the toolset's own, created the way the project creates it."""
    asyncio.run(create_tables(chatgate_app.settings.resolved_database_url))
    return chatgate_app


@pytest.fixture
def user() -> Callable[[str], str]:
    """`user("alice")`: a user id no other test uses (the service is shared by the module)."""
    return lambda label: f"{label}-{uuid.uuid4().hex[:8]}"
