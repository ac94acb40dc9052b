"""Fixtures for the CRM example's tests: this project's configuration served by a real chatgate (real
HTTP, real per-user tool servers) with a scripted model and a stand-in for the billing API."""

from __future__ import annotations

import asyncio
import base64
import os
import sys
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

# The project's own package, for the tests themselves (chatgate finds it through [[toolsets]] path).
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from chatgate.config import Settings  # noqa: E402
from chatgate.main import create_app  # noqa: E402
from crm.schema import create_tables  # noqa: E402
from crm_testing import JWT_SECRET, CrmApp, ScriptedTurns, Served, billing_app, config_for_tests  # noqa: E402


@pytest.fixture
def user() -> Callable[[str], str]:
    """`user("alice")`: a user id no other test uses (the app is shared)."""
    return lambda label: f"{label}-{uuid.uuid4().hex[:8]}"


@pytest.fixture(scope="session")
def crm_app(tmp_path_factory: pytest.TempPathFactory) -> Iterator[CrmApp]:
    state = tmp_path_factory.mktemp("crm-example")
    with Served(billing_app()) as billing_url:
        asyncio.run(create_tables(f"sqlite+aiosqlite:///{state / 'chatgate.db'}"))
        settings = Settings(
            _env_file=None,  # type: ignore[call-arg]
            CHATGATE_STATE_DIR=state,
            JWT_SECRET=JWT_SECRET,
            CHATGATE_CONFIG=config_for_tests(state, billing_url),
            CHATGATE_ENCRYPTION_KEY=base64.urlsafe_b64encode(os.urandom(32)).decode(),
        )
        model = ScriptedTurns()
        with Served(create_app(settings, model_provider=model)) as url:
            yield CrmApp(url=url, model=model)
