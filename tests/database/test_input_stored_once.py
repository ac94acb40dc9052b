"""A run cut off while the Agents SDK is writing its input stores the user's message exactly once.

The input write finishes in a task of its own (`ShieldedSQLAlchemySession`) even when the run is
cancelled meanwhile; the run's end must then neither lose the message nor add it a second time.
The write is held open on an event until the cancellation has reached the run, so the cut lands
in the middle of it on every machine; then the conversation is read back through the real endpoints.
A deadline that strikes before the input write began keeps the message too, as a Stop does.
"""

from __future__ import annotations

import asyncio
import json
import socket
import threading
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from agents.extensions.memory import SQLAlchemySession

from chatgate.conversations.history import ConversationSession
from database.conftest import new_user
from support.live_app import LiveApp, start_live_app
from support.models import answer, until_set
from support.processes import wait_until
from support.threads import chat, thread, use_chat_body
from support.tokens import auth

CEILING = 60.0


@pytest.fixture
def app(thread_app: LiveApp) -> LiveApp:
    return thread_app


class InputWriteGate:
    """Holds the SDK's write of the items carrying `message` until `release`, and reports when the
    run that asked for the write was cancelled and when the write itself has finished."""

    def __init__(self, message: str) -> None:
        self.message = message
        self.writing, self.caller_cancelled = threading.Event(), threading.Event()
        self.release, self.written = threading.Event(), threading.Event()

    def carries_message(self, items: list[Any]) -> bool:
        return any(isinstance(item, dict) and item.get("content") == self.message for item in items)

    def install(self, monkeypatch: pytest.MonkeyPatch) -> None:
        write, add = SQLAlchemySession.add_items, ConversationSession.add_items

        async def held_write(session: SQLAlchemySession, items: list[Any]) -> None:
            if not self.carries_message(items):
                return await write(session, items)
            self.writing.set()
            await until_set(self.release, limit_seconds=CEILING * 2)
            try:
                await write(session, items)
            finally:
                self.written.set()

        async def watched_add(session: ConversationSession, items: list[Any]) -> None:
            try:
                await add(session, items)
            except asyncio.CancelledError:
                if self.carries_message(items):
                    self.caller_cancelled.set()
                raise

        monkeypatch.setattr(SQLAlchemySession, "add_items", held_write)
        monkeypatch.setattr(ConversationSession, "add_items", watched_add)

    def let_the_write_finish_once_cut_off(self) -> None:
        assert self.caller_cancelled.wait(CEILING), "the run was not cancelled during its input write"
        self.release.set()
        assert self.written.wait(CEILING), "the input write never finished"


def post_and_hang_up(app: LiveApp, user: str, body: dict[str, Any], when: threading.Event) -> None:
    """Send a streamed chat over a raw socket and close it once `when` is set (the user's Stop)."""
    data = json.dumps(body).encode()
    headers = {**auth(user), "Content-Type": "application/json", "Content-Length": str(len(data))}
    head = "POST /api/agents/chat HTTP/1.1\r\nHost: 127.0.0.1\r\n"
    head += "".join(f"{name}: {value}\r\n" for name, value in headers.items()) + "\r\n"
    host, port = app.url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=CEILING) as sock:
        sock.sendall(head.encode() + data)
        assert when.wait(CEILING), "the SDK never wrote the run's input"


def settled(app: LiveApp, user: str, conversation_id: str) -> dict[str, Any]:
    """The conversation detail once no run is in progress."""
    url = f"{app.url}/api/agents/conversations/{conversation_id}"

    def detail() -> dict[str, Any]:
        return dict(httpx.get(url, headers=auth(user), timeout=30).json())

    assert wait_until(lambda: not detail()["running"], timeout=CEILING)
    return detail()


def assert_stored_once(app: LiveApp, user: str, conversation_id: str, message: str, message_id: str) -> None:
    detail = settled(app, user, conversation_id)
    assert [run["outcome"] for run in detail["runs"]][-1] in ("interrupted", "deadline_exceeded")
    shown = [(m["role"], m["text"]) for m in detail["messages"] if m["type"] == "message"]
    assert shown.count(("user", message)) == 1, shown
    restored = thread(app, user, conversation_id).json()["messages"]
    user_messages = [m for m in restored if m["role"] == "user"]
    assert [(m["id"], m["parts"]) for m in user_messages] == [
        (message_id, [{"type": "text", "text": message}])
    ]


def test_a_stop_while_the_input_is_written_stores_the_message_once(
    app: LiveApp, monkeypatch: pytest.MonkeyPatch
) -> None:
    user, cid, message = new_user("stop"), uuid.uuid4().hex, f"keep me once {uuid.uuid4().hex[:6]}"
    gate = InputWriteGate(message)
    gate.install(monkeypatch)
    app.model.policy = answer("never streamed")
    try:
        body = {**use_chat_body(cid, "user-msg-1", message), "stream": True}
        post_and_hang_up(app, user, body, gate.writing)
        gate.let_the_write_finish_once_cut_off()
    finally:
        gate.release.set()
    assert_stored_once(app, user, cid, message, "user-msg-1")
    # The conversation goes on: the next turn sees the message once, and is stored after it.
    app.model.policy = answer("now answered")
    next_turn = {**use_chat_body(cid, "user-msg-2", "again"), "stream": False}
    assert chat(app, user, next_turn).status_code == 200
    restored = thread(app, user, cid).json()["messages"]
    # The cut-off turn kept nothing of an answer to show.
    assert [(m["role"], m["id"]) for m in restored][:2] == [("user", "user-msg-1"), ("user", "user-msg-2")]
    assert [m["role"] for m in restored][2:] == ["assistant"]


@pytest.fixture
def deadline_app(database_url: str, tmp_path: Path) -> Iterator[LiveApp]:
    # Long enough for the run to reach its input write on a loaded machine (a warm-up chat first).
    server, live = start_live_app(tmp_path, DATABASE_URL=database_url, CHAT_TIMEOUT_SECONDS=8)
    with server:
        yield live


def test_a_deadline_while_the_input_is_written_stores_the_message_once(
    deadline_app: LiveApp, monkeypatch: pytest.MonkeyPatch
) -> None:
    app, user = deadline_app, new_user("deadline")
    app.model.policy = answer("warm")
    assert chat(app, user, {"message": "warm up"}).status_code == 200
    cid, message = uuid.uuid4().hex, f"slow input {uuid.uuid4().hex[:6]}"
    gate = InputWriteGate(message)
    gate.install(monkeypatch)
    outcome: dict[str, httpx.Response] = {}
    sender = threading.Thread(
        target=lambda: outcome.setdefault(
            "r", chat(app, user, {**use_chat_body(cid, "user-msg-1", message), "stream": False})
        )
    )
    sender.start()
    try:
        gate.let_the_write_finish_once_cut_off()  # the deadline cancels the run, not the test
    finally:
        gate.release.set()
        sender.join(timeout=CEILING)
    assert outcome["r"].status_code == 504
    assert_stored_once(app, user, cid, message, "user-msg-1")


def test_a_deadline_before_the_input_is_written_keeps_the_message_once(
    deadline_app: LiveApp, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The deadline passes while the SDK still reads the history: its input write never begins, and
    the run's end stores the message instead (as for a Stop), under the client's id."""
    app, user = deadline_app, new_user("early")
    app.model.policy = answer("warm")
    assert chat(app, user, {"message": "warm up"}).status_code == 200
    cid, message = uuid.uuid4().hex, f"never read {uuid.uuid4().hex[:6]}"
    reading, release = threading.Event(), threading.Event()
    read = SQLAlchemySession.get_items

    async def held_read(session: SQLAlchemySession, limit: int | None = None) -> list[Any]:
        if session.session_id == cid:
            reading.set()
            await until_set(release, limit_seconds=CEILING * 2)
        return await read(session, limit)

    monkeypatch.setattr(SQLAlchemySession, "get_items", held_read)
    try:
        response = chat(app, user, {**use_chat_body(cid, "user-msg-1", message), "stream": False})
    finally:
        release.set()
    assert reading.is_set() and response.status_code == 504
    assert_stored_once(app, user, cid, message, "user-msg-1")
