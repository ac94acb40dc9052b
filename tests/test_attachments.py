"""Attachments (`useChat` file parts) through the real endpoint and real tool servers, on each
launcher: saved under `uploads/`, readable by the model's file tools, restored as file parts,
refused before anything is stored or the model is called, images as image input only with
AGENT_VISION."""

from __future__ import annotations

import base64
import threading
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from agents.testing import ModelCall, assistant_message, function_call

from chatgate.files.encoding import space_dir_name
from support.live_app import LiveApp, start_live_app
from support.models import turn_outputs
from support.threads import chat, thread

PNG = base64.b64decode(
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg=="
)
MAX_FILE_BYTES = 4096


@pytest.fixture(scope="module", params=[False, True], ids=["vision-off", "vision-on"])
def app(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory, launcher_name: str
) -> Iterator[LiveApp]:
    env = {
        "MCP_LAUNCHER": launcher_name,
        "AGENT_VISION": request.param,
        "FILES_MAX_FILE_BYTES": MAX_FILE_BYTES,
        "FILES_QUOTA_BYTES": 3 * MAX_FILE_BYTES,
    }
    server, live = start_live_app(tmp_path_factory.mktemp("attachments"), **env)
    with server:
        yield live


class Calls:
    """Records each model call's input; reads the first attachment with the file tool, then answers
    with what it read."""

    def __init__(self) -> None:
        self.inputs: list[list[Any]] = []
        self._lock = threading.Lock()

    def __call__(self, call: ModelCall) -> Any:
        with self._lock:
            self.inputs.append(list(call.input) if isinstance(call.input, list) else [call.input])
        outputs = turn_outputs(call)
        if not outputs:
            return [function_call("files_read", {"path": "uploads/notes.txt"}, call_id="call_read")]
        return [assistant_message(f"read: {outputs[0]}")]


def file_part(name: str, media_type: str, data: bytes) -> dict[str, Any]:
    url = f"data:{media_type};base64,{base64.b64encode(data).decode()}"
    return {"type": "file", "mediaType": media_type, "filename": name, "url": url}


def body(cid: str, text: str, *files: dict[str, Any]) -> dict[str, Any]:
    parts = [*files, {"type": "text", "text": text}]
    return {
        "id": cid,
        "messages": [{"id": f"u-{uuid.uuid4().hex[:8]}", "role": "user", "parts": parts}],
        "trigger": "submit-message",
        "stream": False,
    }


def uploads(app: LiveApp, user: str) -> Path:
    return app.settings.resolved_files_root / space_dir_name(user) / "uploads"


def vision(app: LiveApp) -> bool:
    return app.settings.agent_vision


def test_attachments_are_saved_read_by_the_file_tool_and_restored(app: LiveApp) -> None:
    user, cid, calls = f"att-{uuid.uuid4().hex[:8]}", uuid.uuid4().hex, Calls()
    app.model.policy = calls
    text = file_part("notes.txt", "text/plain", b"remember the milk")
    image = file_part("../../dot.png", "image/png", PNG)
    response = chat(app, user, body(cid, "what did I attach?", text, image))
    assert response.status_code == 200, response.text
    assert (uploads(app, user) / "notes.txt").read_bytes() == b"remember the milk"
    assert (uploads(app, user) / "dot.png").read_bytes() == PNG  # a plain name: folders dropped
    # The model is told where the files are, reads one with its file tool, and gets the image only
    # with AGENT_VISION.
    asked = calls.inputs[0][-1]
    texts = [part["text"] for part in asked["content"] if part["type"] == "input_text"]
    assert texts == [
        "what did I attach?",
        "[Attached file: uploads/notes.txt (text/plain, 17 bytes)]",
        f"[Attached file: uploads/dot.png (image/png, {len(PNG)} bytes)]",
    ]
    images = [part for part in asked["content"] if part["type"] == "input_image"]
    assert len(images) == (1 if vision(app) else 0)
    if vision(app):
        assert images[0]["image_url"] == image["url"]
    assert "remember the milk" in response.json()["response"]

    restored = thread(app, user, cid).json()["messages"][0]["parts"]
    assert restored == [
        {"type": "text", "text": "what did I attach?"},
        {
            "type": "file",
            "mediaType": "text/plain",
            "filename": "notes.txt",
            "url": "/api/files/uploads/notes.txt",
        },
        {
            "type": "file",
            "mediaType": "image/png",
            "filename": "dot.png",
            "url": "/api/files/uploads/dot.png",
        },
    ]
    # The same name again is saved beside the first, never over it.
    again = chat(app, user, body(cid, "once more", text))
    assert again.status_code == 200, again.text
    assert (uploads(app, user) / "notes-2.txt").read_bytes() == b"remember the milk"


@pytest.mark.parametrize(
    ("part", "status", "code"),
    [
        (
            file_part("big.bin", "application/octet-stream", b"x" * (MAX_FILE_BYTES + 1)),
            413,
            "file_too_large",
        ),
        (
            {"type": "file", "mediaType": "text/plain", "filename": "a.txt", "url": "https://example.com/a"},
            422,
            "invalid_request",
        ),
        (
            {
                "type": "file",
                "mediaType": "text/plain",
                "filename": "a.txt",
                "url": "data:text/plain;base64,%%%",
            },
            422,
            "invalid_request",
        ),
        (
            {"type": "file", "mediaType": "not a type", "filename": "a.txt", "url": "data:;base64,aGk="},
            422,
            "invalid_request",
        ),
    ],
    ids=["too-big", "not-a-data-url", "bad-base64", "bad-media-type"],
)
def test_a_bad_or_oversized_attachment_is_refused_before_anything_happens(
    app: LiveApp, part: dict[str, Any], status: int, code: str
) -> None:
    user, cid, calls = f"bad-{uuid.uuid4().hex[:8]}", uuid.uuid4().hex, Calls()
    app.model.policy = calls
    good = file_part("fine.txt", "text/plain", b"fine")
    response = chat(app, user, body(cid, "look", good, part))
    assert (response.status_code, response.json()["error"]["code"]) == (status, code), response.text
    assert not uploads(app, user).exists()  # not even the good file
    assert calls.inputs == []
    assert thread(app, user, cid).status_code == 404  # no conversation was created


def test_a_full_file_space_is_507_and_the_model_is_not_called(app: LiveApp) -> None:
    user, calls = f"full-{uuid.uuid4().hex[:8]}", Calls()
    app.model.policy = calls
    big = file_part("big.bin", "application/octet-stream", b"x" * MAX_FILE_BYTES)
    statuses = [chat(app, user, body(uuid.uuid4().hex, "keep", big)).status_code for _ in range(4)]
    assert statuses[:3] == [200, 200, 200] and statuses[3] == 507
    assert len(calls.inputs) == 6  # two model calls for each saved turn, none for the refused one
