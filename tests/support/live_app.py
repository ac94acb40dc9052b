"""A real app on a free port with a switchable scripted model, and a streamed chat against it."""

from __future__ import annotations

import sys
from contextlib import AbstractContextManager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from chatgate.config import Settings
from chatgate.main import create_app
from support.models import SwitchableModel
from support.servers import ThreadedServer
from support.settings import make_settings
from support.tokens import auth

# Every end-to-end test runs against each launcher: isolation, cleanup and errors must be identical.
LIVE_APP_LAUNCHERS = ["exec", "fork"] if sys.platform.startswith("linux") else ["exec"]


@dataclass
class LiveApp:
    """A running app: its base URL, the model it answers with and its settings."""

    url: str
    model: SwitchableModel
    settings: Settings


def stream_chat(
    app: LiveApp, message: str = "hi", *, user: str = "alice"
) -> AbstractContextManager[httpx.Response]:
    """`with stream_chat(app, …) as response:` — a streamed chat, read as it arrives."""
    return httpx.stream(
        "POST",
        f"{app.url}/api/agents/chat",
        json={"message": message, "stream": True},
        headers=auth(user),
        timeout=60,
    )


def leave_stream_at(
    app: LiveApp, marker: str, message: str = "hi", *, user: str = "alice"
) -> tuple[str, str]:
    """Stream a chat, read it until `marker` has arrived, then leave (the client disconnects).

    Returns the conversation id and the text read so far."""
    with stream_chat(app, message, user=user) as response:
        conversation_id = response.headers["x-conversation-id"]
        seen = ""
        for text in response.iter_text():
            seen += text
            if marker in seen:
                break
    return conversation_id, seen


def start_live_app(state_dir: Path, **env: Any) -> tuple[ThreadedServer, LiveApp]:
    """An app for `make_settings(state_dir, **env)` behind a not-yet-started server (`with server:`)."""
    model = SwitchableModel()
    settings = make_settings(state_dir, **env)
    server = ThreadedServer(create_app(settings, model_provider=model))
    return server, LiveApp(url=server.url, model=model, settings=settings)
