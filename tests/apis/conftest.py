"""Fixtures of the API-tool suite: a real upstream API on loopback and configs pointing at it."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from apis.upstream import Recorder, Upstream, build_upstream
from support.servers import ThreadedServer, free_port


@pytest.fixture(scope="session")
def upstream() -> Iterator[Upstream]:
    # The redirect target is another origin (another port) that nothing listens on.
    app, recorder = build_upstream(other_origin=f"http://127.0.0.1:{free_port()}")
    with ThreadedServer(app) as server:
        yield Upstream(url=server.url, recorder=recorder)


@pytest.fixture
def hits(upstream: Upstream) -> Recorder:
    """The upstream's request log, emptied for this test."""
    upstream.recorder.clear()
    return upstream.recorder
