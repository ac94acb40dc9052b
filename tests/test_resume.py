"""Resuming a streamed answer (`GET /api/agents/chat/{id}/stream`, what `useChat({resume: true})` sends),
through the real HTTP endpoint and real tool servers, with the run buffer in this process (both
launchers) and in Redis Streams: 204 when nothing runs; replay + follow while an answer streams; several
readers; a reader leaving does not cancel the run; the starting client leaving ends readers with
`abort`; a Redis outage leaves chat working, without resume."""

from __future__ import annotations

import threading
import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from agents.testing import ModelCall, assistant_message, function_call

from support.live_app import LiveApp, start_live_app
from support.models import tool_outputs, until_set
from support.processes import tool_server_children, wait_until
from support.redis import require_redis
from support.servers import free_port
from support.sse_reader import StreamReader
from support.tokens import auth
from support.ui_stream import check_chunks, parse_sse

# Short keep-alives: an idle stream still delivers something, so a reader that leaves notices soon.
KEEPALIVE = "0.5"


@pytest.fixture(
    scope="module",
    params=[("exec", "memory"), ("fork", "memory"), ("fork", "redis")],
    ids=lambda p: "-".join(p),
)
def app(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveApp]:
    launcher, buffer = request.param
    env: dict[str, Any] = {"MCP_LAUNCHER": launcher, "STREAM_KEEPALIVE_SECONDS": KEEPALIVE}
    if buffer == "redis":
        env["REDIS_URL"] = require_redis()
    server, live = start_live_app(tmp_path_factory.mktemp("resume"), **env)
    with server:
        yield live


def start_stream(app: LiveApp, message: str, *, user: str, conversation_id: str) -> StreamReader:
    body = {
        "id": conversation_id,
        "messages": [{"id": "u1", "role": "user", "parts": [{"type": "text", "text": message}]}],
    }
    return StreamReader("POST", f"{app.url}/api/agents/chat", json=body, headers=auth(user))


def resume(app: LiveApp, conversation_id: str, *, user: str) -> StreamReader:
    return StreamReader("GET", f"{app.url}/api/agents/chat/{conversation_id}/stream", headers=auth(user))


def resume_status(app: LiveApp, conversation_id: str, *, user: str) -> httpx.Response:
    return httpx.get(f"{app.url}/api/agents/chat/{conversation_id}/stream", headers=auth(user), timeout=30)


def look_up_then_wait(release: threading.Event) -> Any:
    """Call a tool (a real tool server) and say so, then answer only once `release` is set."""

    async def policy(call: ModelCall) -> Any:
        if not tool_outputs(call):
            return [assistant_message("Looking you up."), function_call("whoami", {}, call_id="call_who")]
        await until_set(release)
        return [assistant_message("You are who you are.")]

    return policy


def chunks_of(reader: StreamReader) -> list[dict[str, Any]]:
    chunks, _ = parse_sse(reader.text)
    check_chunks(chunks)
    return chunks


def running(app: LiveApp, conversation_id: str, user: str) -> bool:
    response = httpx.get(
        f"{app.url}/api/agents/conversations/{conversation_id}", headers=auth(user), timeout=30
    )
    return bool(response.json()["running"])


def test_nothing_running_is_204(app: LiveApp) -> None:
    assert resume_status(app, "never-used", user="idle").status_code == 204
    app.model.policy = lambda _call: [assistant_message("done")]
    reply = httpx.post(
        f"{app.url}/api/agents/chat", json={"message": "hi", "stream": True}, headers=auth("idle"), timeout=60
    )
    assert reply.status_code == 200
    finished = resume_status(app, reply.headers["x-conversation-id"], user="idle")
    assert finished.status_code == 204 and finished.content == b""


def test_bad_requests_get_the_error_shape(app: LiveApp) -> None:
    bad_id = httpx.get(f"{app.url}/api/agents/chat/not%20an%20id/stream", headers=auth("idle"), timeout=30)
    assert bad_id.status_code == 422 and "error" in bad_id.json()
    anonymous = httpx.get(f"{app.url}/api/agents/chat/abc/stream", timeout=30)
    assert anonymous.status_code == 401 and anonymous.json()["error"]["code"]


def test_readers_replay_and_follow_a_streaming_answer(app: LiveApp) -> None:
    release = threading.Event()
    app.model.policy = look_up_then_wait(release)
    conversation_id = f"resume-{uuid.uuid4().hex[:8]}"
    original = start_stream(app, "who am I?", user="reader", conversation_id=conversation_id)
    try:
        assert original.wait_for("tool-output-available")
        # Two readers (a reloaded tab, a second device), both after the tool call was streamed.
        readers = [resume(app, conversation_id, user="reader") for _ in range(2)]
        for reader in readers:
            assert reader.wait_for("tool-output-available"), "replayed what was sent before it came"
            assert reader.status == 200
            assert reader.headers is not None and reader.headers["x-vercel-ai-ui-message-stream"] == "v1"
        # Another user asking for this conversation sees nothing running, never data.
        assert resume_status(app, conversation_id, user="intruder").status_code == 204
        assert "You are who you are." not in original.text
    finally:
        release.set()
    original.join()
    for reader in readers:
        reader.join()
    sent = chunks_of(original)
    assert sent[-1]["type"] == "finish"
    for reader in readers:
        assert chunks_of(reader) == sent  # same chunks, same message id, same terminator
    assert resume_status(app, conversation_id, user="reader").status_code == 204


def test_a_reader_leaving_does_not_cancel_the_run(app: LiveApp) -> None:
    release = threading.Event()
    app.model.policy = look_up_then_wait(release)
    conversation_id = f"leave-{uuid.uuid4().hex[:8]}"
    original = start_stream(app, "who am I?", user="leaver", conversation_id=conversation_id)
    try:
        assert original.wait_for("tool-output-available")
        reader = resume(app, conversation_id, user="leaver")
        assert reader.wait_for("tool-output-available")
        reader.leave()
        # The run still waits on the model, its client still connected; a new reader still follows it.
        assert running(app, conversation_id, "leaver")
        late = resume(app, conversation_id, user="leaver")
        assert late.wait_for("tool-output-available")
    finally:
        release.set()
    original.join()
    late.join()
    assert chunks_of(original)[-1]["type"] == "finish"
    assert chunks_of(late) == chunks_of(original)
    runs = httpx.get(
        f"{app.url}/api/agents/conversations/{conversation_id}", headers=auth("leaver"), timeout=30
    )
    assert runs.json()["runs"][-1]["outcome"] == "completed"


def test_the_starting_client_leaving_ends_readers_with_abort(app: LiveApp) -> None:
    release = threading.Event()
    app.model.policy = look_up_then_wait(release)
    conversation_id = f"stop-{uuid.uuid4().hex[:8]}"
    original = start_stream(app, "who am I?", user="stopper", conversation_id=conversation_id)
    try:
        assert original.wait_for("tool-output-available")
        reader = resume(app, conversation_id, user="stopper")
        assert reader.wait_for("tool-output-available")
        original.leave()  # Stop: the client that started the run cancels it
        reader.join()
        assert wait_until(lambda: not tool_server_children(), timeout=60)
    finally:
        release.set()
    chunks = chunks_of(reader)
    assert chunks[-1] == {"type": "abort"}
    assert "You are who you are." not in reader.text
    assert wait_until(lambda: not running(app, conversation_id, "stopper"), timeout=60)
    assert resume_status(app, conversation_id, user="stopper").status_code == 204


def test_a_redis_outage_streams_without_resume(
    tmp_path_factory: pytest.TempPathFactory, capfd: pytest.CaptureFixture[str]
) -> None:
    # Nothing listens on this port: every Redis call fails at once.
    server, app = start_live_app(
        tmp_path_factory.mktemp("resume-outage"),
        REDIS_URL=f"redis://127.0.0.1:{free_port()}/0",
        MCP_LAUNCHER="fork",
    )
    with server:
        release = threading.Event()
        app.model.policy = look_up_then_wait(release)
        conversation_id = f"outage-{uuid.uuid4().hex[:8]}"
        original = start_stream(app, "who am I?", user="outage", conversation_id=conversation_id)
        try:
            assert original.wait_for("tool-output-available")
            assert resume_status(app, conversation_id, user="outage").status_code == 204
        finally:
            release.set()
        original.join()
        assert chunks_of(original)[-1]["type"] == "finish"
    # The app's JSON log lines go to stderr (its logging configuration replaces pytest's handler).
    assert "streaming without resume" in capfd.readouterr().err
