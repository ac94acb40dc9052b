"""The playground in headless Chromium (`playwright-core` from npm, Debian's `chromium`), against a
live app in dev mode with a scripted model: sign in with a dev token, send (text and tool parts, a
tool error among them) before the sign-in's conversation list has come, stop, attach, regenerate,
reload — and no console errors.

Skipped, with the reason, where Node.js, Chromium or the npm package cannot be had;
`CHATGATE_REQUIRE_BROWSER=1` (set by `.ci/run`) turns that skip into a failure (support/browser.py).
A failure prints the step, the page's console and its failed requests.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from agents.testing import ModelCall, assistant_message, function_call

from support.browser import assert_no_console_errors, browser_tools, diagnostics, run_browser_script
from support.live_app import LiveApp, start_live_app
from support.models import until_set

__all__ = ["browser_tools"]  # the fixture, imported for pytest to find


def _this_turn(call: ModelCall) -> tuple[str, list[str]]:
    """The last user message, and the tool outputs the model has been shown since it."""
    items = [item for item in call.input if isinstance(item, dict)] if isinstance(call.input, list) else []
    last = max((index for index, item in enumerate(items) if item.get("role") == "user"), default=0)
    outputs = [str(item.get("output")) for item in items[last:] if item.get("type") == "function_call_output"]
    return str(items[last].get("content")) if items else "", outputs


class Script:
    """The model's side of the session the browser plays; the slow answer waits for `release`."""

    def __init__(self) -> None:
        self.release = threading.Event()
        self.answers = 0

    async def __call__(self, call: ModelCall) -> Any:
        message, outputs = _this_turn(call)
        if "who am I?" in message:
            if not outputs:
                return [
                    assistant_message("Let me look."),
                    function_call("whoami", {}, call_id="call_who"),
                    function_call("files_read", {"path": "missing.txt"}, call_id="call_missing"),
                ]
            return [assistant_message("You are alice.")]
        if "slow please" in message:
            if not outputs:
                return [assistant_message("Working on it."), function_call("whoami", {}, call_id="call_slow")]
            await until_set(self.release)  # never released while the browser watches: only Stop ends it
            return [assistant_message("too late")]
        self.answers += 1
        return [assistant_message(f"answer {self.answers}")]


@pytest.fixture
def dev_app(tmp_path: Path) -> Iterator[tuple[LiveApp, Script]]:
    script = Script()
    server, app = start_live_app(tmp_path, JWT_SECRET=None, MCP_LAUNCHER="exec")  # dev mode: dev tokens
    app.model.policy = script
    try:
        with server:
            yield app, script
    finally:
        script.release.set()


def test_the_playground_in_chromium(
    browser_tools: tuple[Path, Path], dev_app: tuple[LiveApp, Script]
) -> None:
    node, chromium = browser_tools
    app, _ = dev_app
    report = run_browser_script(node, "playground.mjs", str(chromium), app.url)

    assert_no_console_errors(report)
    # Sent as useChat sends: the conversation id, the messages, the trigger and the message id.
    first = report["chatBodies"][0]
    assert first["trigger"] == "submit-message" and first["id"]
    assert first["messages"][-1]["parts"] == [{"type": "text", "text": "who am I?"}]
    assert first["messageId"] == first["messages"][-1]["id"]

    # Streamed text and tool parts: the output of one tool, the error of the other.
    assert report["first"]["texts"] == ["Let me look.", "You are alice."]
    assert report["first"]["tools"] == ["whoami · output-available", "files_read · output-error"]
    assert json.loads(report["first"]["output"][0]) == {"user_id": "alice"}
    assert "missing.txt" in report["first"]["errors"][0]
    assert report["conversationsAfterFirst"] == ["who am I?"]
    # Sent before the sign-in's conversation list came: the new chat was not "restored" over its answer.
    assert report["threadFetchesBeforeStop"] == 0, diagnostics(report)

    # Stop: what was shown stays, marked stopped.
    assert report["stopped"]["texts"] == ["Working on it."]
    assert report["stopped"]["status"] == "stopped"

    # The attachment went as a file part with a data: URL, and is shown.
    attached = report["chatBodies"][2]["messages"][-1]["parts"]
    assert attached[1]["type"] == "file" and attached[1]["mediaType"] == "image/png"
    assert attached[1]["filename"] == "pixel.png" and attached[1]["url"].startswith("data:image/png;base64,")
    assert report["attachmentShown"] == 1

    # Regenerate: asked as useChat asks, and the answer replaced in place.
    regenerate = report["chatBodies"][3]
    assert regenerate["trigger"] == "regenerate-message"
    assert regenerate["messages"][-1]["role"] == "user"
    assert report["afterRegenerate"] == {"assistants": 3, "last": ["answer 2"]}

    # Reload: the same conversation, restored from the server with its tool parts.
    assert report["restored"]["url"].endswith(report["restored"]["hash"]) and report["restored"]["hash"]
    assert report["restored"]["users"][:2] == ["who am I?", "slow please"]
    assert "whoami · output-available" in report["restored"]["tools"]
    assert "You are alice." in report["restored"]["texts"]
