"""Bookkeeping after a committed write never turns its result into a failure (issue 10, item 18).

A write reported as failed that in fact happened makes the model repeat it (two records, an append
twice). Every step after the commit (the audit entry, returning the connection to the pool, making
a file change durable) is logged when it fails, and the call still reports what it did.
"""

from __future__ import annotations

import logging
import os
import stat
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from chatgate.files import FileSpace
from chatgate.files import walk as file_walk
from chatgate.mcp_server.tools import records as record_tools
from chatgate.storage import RecordStore, audit
from chatgate.storage.table_store import TableStore
from chatgate.storage.tables import builtin_tasks

THREADS_EXHAUSTED = "can't start new thread"


@pytest.fixture
def audit_fails(monkeypatch: pytest.MonkeyPatch) -> None:
    """The audit entry's transaction fails as it did under load: no thread for the connection."""

    @asynccontextmanager
    async def no_thread(*_args: Any, **_kwargs: Any) -> AsyncIterator[AsyncConnection]:
        raise RuntimeError(THREADS_EXHAUSTED)
        yield  # pragma: no cover

    monkeypatch.setattr(audit, "owner_transaction", no_thread)


async def test_a_failing_audit_write_after_commit_still_reports_success(
    engine: AsyncEngine, alice: str, tool_context: Any, audit_fails: None, caplog: pytest.LogCaptureFixture
) -> None:
    ctx = tool_context(engine, alice, request_id="req-after-commit")
    with caplog.at_level(logging.WARNING):
        created = await record_tools.records_create(ctx, collection="notes", data={"title": "once"})
    listed = await RecordStore(engine, alice).list("notes")
    assert [item["id"] for item in listed["items"]] == [created["id"]]  # stored exactly once
    assert any(
        "audit entry for records_create" in record.getMessage() and "RuntimeError" in record.getMessage()
        for record in caplog.records
    ), caplog.text


async def test_a_failing_connection_release_after_commit_still_reports_success(
    engine: AsyncEngine, alice: str, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    original_close = AsyncConnection.close
    failures: list[str] = []

    async def close_then_fail(self: AsyncConnection) -> None:
        await original_close(self)
        failures.append("close")
        raise RuntimeError(THREADS_EXHAUSTED)

    monkeypatch.setattr(AsyncConnection, "close", close_then_fail)
    with caplog.at_level(logging.WARNING):
        task = await TableStore(engine, builtin_tasks(), alice).create({"title": "once"})
    monkeypatch.undo()
    assert failures
    rows = await TableStore(engine, builtin_tasks(), alice).list()
    assert [row["id"] for row in rows["items"]] == [task["id"]]
    assert "returning a database connection failed: RuntimeError" in caplog.text


def test_a_failing_fsync_after_a_file_change_still_reports_success(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    space = FileSpace(tmp_path, "alice")

    real_fsync = os.fsync

    def folder_fsync_fails(fd: int) -> None:
        if stat.S_ISDIR(os.fstat(fd).st_mode):  # the step after the rename, not the data's own fsync
            raise OSError(5, "Input/output error")
        real_fsync(fd)

    monkeypatch.setattr(file_walk.os, "fsync", folder_fsync_fails)
    with caplog.at_level(logging.WARNING):
        written = space.write("notes.txt", "one\n", mode="append")
        moved = space.move("notes.txt", "kept.txt")
    monkeypatch.undo()
    assert written["size"] == 4 and moved
    assert space.read("kept.txt")["content"] == "one\n"  # appended once, not "reported failed"
    assert "fsync of a folder after a change failed: OSError" in caplog.text
