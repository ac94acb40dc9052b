"""Fixtures for launcher tests: each runs against both launchers."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from chatgate.launcher import Launcher
from support.launching import LAUNCHERS, launcher_settings, make_launcher


@pytest.fixture(params=LAUNCHERS)
def launcher_kind(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
async def launcher(launcher_kind: str, tmp_path: Path) -> AsyncIterator[Launcher]:
    started = make_launcher(launcher_kind, launcher_settings(tmp_path))
    await started.start()
    try:
        yield started
    finally:
        await started.stop()
