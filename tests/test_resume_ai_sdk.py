"""`useChat({ resume: true })`'s own request, sent by the AI SDK's transport (AI SDK 5, 6 and 7): the
default resume URL is chatgate's endpoint, 204 is "nothing to resume", and a resumed answer is
assembled by the client's strict parser into the same message the run's own client gets."""

from __future__ import annotations

import json
import subprocess
import threading
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from support.live_app import LiveApp, start_live_app
from support.node import NODE_DIR
from support.sse_reader import StreamReader
from support.tokens import mint
from test_resume import look_up_then_wait, start_stream
from test_streaming_ai_sdk import FLAVORS, node_client  # noqa: F401 - `node_client` is a fixture

pytestmark = pytest.mark.node


@pytest.fixture(scope="module")
def app(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveApp]:
    server, live = start_live_app(tmp_path_factory.mktemp("resume-sdk"), MCP_LAUNCHER="fork")
    with server:
        yield live


def resume_with_sdk(node: Path, app: LiveApp, flavor: str, chat_id: str, user: str) -> subprocess.Popen[str]:
    command = [str(node), "drive-resume.mjs", flavor, f"{app.url}/api/agents/chat", mint(user), chat_id]
    return subprocess.Popen(command, cwd=NODE_DIR, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def finish(process: subprocess.Popen[str]) -> list[str]:
    out, err = process.communicate(timeout=120)
    assert process.returncode == 0, err[-3000:]
    return out.splitlines()


@pytest.mark.parametrize("flavor", FLAVORS)
def test_nothing_to_resume_is_null_for_the_sdk(node_client: Path, app: LiveApp, flavor: str) -> None:  # noqa: F811
    assert finish(resume_with_sdk(node_client, app, flavor, f"idle-{flavor}", "sdk-idle")) == ["null"]


@pytest.mark.parametrize("flavor", FLAVORS)
def test_the_sdk_resumes_a_streaming_answer(node_client: Path, app: LiveApp, flavor: str) -> None:  # noqa: F811
    release = threading.Event()
    app.model.policy = look_up_then_wait(release)
    chat_id = f"sdk-{uuid.uuid4().hex[:8]}"
    original: StreamReader = start_stream(app, "who am I?", user="sdk-resume", conversation_id=chat_id)
    try:
        assert original.wait_for("tool-output-available")
        process = resume_with_sdk(node_client, app, flavor, chat_id, "sdk-resume")
        assert process.stdout is not None
        assert process.stdout.readline().strip() == "connected"
    finally:
        release.set()
    lines = finish(process)
    original.join()
    message = json.loads(lines[-1])
    assert message["role"] == "assistant"
    assert (
        "".join(p["text"] for p in message["parts"] if p["type"] == "text")
        == "Looking you up.You are who you are."
    )
    (tool,) = [p for p in message["parts"] if p["type"] in ("tool-whoami", "dynamic-tool")]
    assert tool["state"] == "output-available" and tool["output"]["user_id"] == "sdk-resume"
