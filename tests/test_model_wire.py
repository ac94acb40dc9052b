"""Replies of OpenAI-compatible servers that OpenAI never sends, through the real endpoint and client.

Each input is the model's reply to a chat, JSON and streamed, from a strict scripted server (it refuses
malformed history with 400, as real ones do). None may be a 500, none may poison the conversation,
and what can be normalised is.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest

from chatgate.config import Settings
from chatgate.conversations.history import ConversationSession
from chatgate.main import create_app
from chatgate.storage.engine import create_engine
from support.openai_wire import (
    ScriptedOpenAI,
    WireReply,
    WireScript,
    WireToolCall,
    tool_results_since_last_user,
)
from support.servers import ThreadedServer
from support.settings import make_settings
from support.tokens import auth
from support.ui_stream import check_chunks, parse_sse

MODES = ["json", "stream"]


@dataclass
class Wire:
    url: str
    model: ScriptedOpenAI
    settings: Settings


@pytest.fixture(scope="module")
def wire(tmp_path_factory: pytest.TempPathFactory, scripted_openai: ScriptedOpenAI) -> Iterator[Wire]:
    settings = make_settings(
        tmp_path_factory.mktemp("model-wire"),
        OPENAI_BASE_URL=scripted_openai.base_url,
        AGENT_MODEL="scripted-thinking-model",
    )
    with ThreadedServer(create_app(settings)) as server:
        yield Wire(server.url, scripted_openai, settings)


@pytest.fixture(autouse=True)
def _fresh_records(wire: Wire) -> Iterator[None]:
    wire.model.requests.clear()
    wire.model.refusals.clear()
    yield
    # The strict server refused nothing: every request the agent sent was well-formed.
    assert wire.model.refusals == []


@dataclass
class Outcome:
    status: int
    conversation_id: str
    text: str = ""
    error: dict[str, str] | None = None
    tools: list[tuple[str, bool]] = field(default_factory=list)


def chat(wire: Wire, mode: str, message: str = "save hello to a.txt", **body: Any) -> Outcome:
    """One chat, JSON or streamed (then read strictly as the AI SDK would), as one outcome."""
    payload = {"message": message, "stream": mode == "stream", **body}
    response = httpx.post(f"{wire.url}/api/agents/chat", json=payload, headers=auth(), timeout=60)
    if mode == "json":
        data = response.json()
        if response.status_code != 200:
            return Outcome(response.status_code, "", error=data["error"])
        tools = [(use["name"], use["ok"]) for use in data["tools_used"]]
        return Outcome(200, data["conversation_id"], text=data["response"], tools=tools)
    return streamed_outcome(response)


def streamed_outcome(response: httpx.Response) -> Outcome:
    assert response.status_code == 200, response.text
    chunks, _ = parse_sse(response.text)
    check_chunks(chunks)
    names = {c["toolCallId"]: c["toolName"] for c in chunks if c["type"] == "tool-input-available"}
    outcome = Outcome(200, response.headers["x-conversation-id"])
    outcome.text = "".join(c["delta"] for c in chunks if c["type"] == "text-delta")
    outcome.tools = [
        (names[c["toolCallId"]], c["type"] == "tool-output-available")
        for c in chunks
        if c["type"] in ("tool-output-available", "tool-output-error")
    ]
    errors = [c["errorText"] for c in chunks if c["type"] == "error"]
    if errors:
        outcome.error = {"code": "model_error", "message": errors[0]}
    return outcome


def conversation(wire: Wire, conversation_id: str) -> dict[str, Any]:
    response = httpx.get(f"{wire.url}/api/agents/conversations/{conversation_id}", headers=auth(), timeout=30)
    assert response.status_code == 200, response.text
    detail: dict[str, Any] = response.json()
    return detail


def tools_then_report(*replies: WireReply) -> WireScript:
    """Answer each user message with `replies` (one per model turn), then report the tools' outputs."""

    def script(messages: list[dict[str, Any]]) -> WireReply:
        results = tool_results_since_last_user(messages)
        turns = sum(1 for m in messages[_last_user(messages) :] if m.get("role") == "assistant")
        if turns < len(replies):
            return replies[turns]
        return WireReply(text="done: " + " | ".join(results))

    return script


def _last_user(messages: list[dict[str, Any]]) -> int:
    return max(i for i, m in enumerate(messages) if m.get("role") == "user")


def sent_tool_calls(request: dict[str, Any]) -> list[dict[str, Any]]:
    """The tool calls in the history of a request the agent sent."""
    assistant = [m for m in request["messages"] if m.get("role") == "assistant"]
    return [call for message in assistant for call in message.get("tool_calls", [])]


# 3. Tool-call arguments as a JSON object.


@pytest.mark.parametrize("mode", MODES)
def test_tool_arguments_sent_as_an_object_are_used(wire: Wire, mode: str) -> None:
    arguments = {"path": f"object-{mode}.txt", "content": "hello"}
    wire.model.script = tools_then_report(
        WireReply(tool_calls=[WireToolCall("files_write", arguments, arguments_as_object=True)])
    )
    outcome = chat(wire, mode)
    assert outcome.error is None and outcome.tools == [("files_write", True)]
    assert '"size":5' in outcome.text  # the file was written with the model's arguments
    (call,) = sent_tool_calls(wire.model.requests[-1])
    assert json.loads(call["function"]["arguments"]) == arguments  # JSON text in history


# 4. Tool calls without an id.


@pytest.mark.parametrize("mode", MODES)
def test_tool_calls_without_id_get_unique_ids(wire: Wire, mode: str) -> None:
    calls = [WireToolCall("whoami", id=None), WireToolCall("files_list", id=None)]
    wire.model.script = tools_then_report(WireReply(tool_calls=calls))
    outcome = chat(wire, mode)
    assert outcome.error is None and outcome.tools == [("whoami", True), ("files_list", True)]
    ids = [call["id"] for call in sent_tool_calls(wire.model.requests[-1])]
    assert len(set(ids)) == 2 and all(ids)


# 5. Tool-call ids reused: twice in one answer, on every model turn of a run, on every message.


@pytest.mark.parametrize("mode", MODES)
def test_an_id_used_twice_in_one_answer_runs_both_calls(wire: Wire, mode: str) -> None:
    calls = [WireToolCall("whoami", id="whoami:0"), WireToolCall("files_list", id="whoami:0")]
    wire.model.script = tools_then_report(WireReply(tool_calls=calls))
    outcome = chat(wire, mode)
    assert outcome.error is None and outcome.tools == [("whoami", True), ("files_list", True)]
    assert '"user_id": "alice"' in outcome.text and '"entries"' in outcome.text


@pytest.mark.parametrize("mode", MODES)
def test_an_id_reused_on_every_turn_of_a_run_still_runs_each_call(wire: Wire, mode: str) -> None:
    wire.model.script = tools_then_report(
        WireReply(tool_calls=[WireToolCall("whoami", id="whoami:0")]),
        WireReply(tool_calls=[WireToolCall("files_list", id="whoami:0")]),
    )
    outcome = chat(wire, mode)
    assert outcome.error is None, outcome.error  # not max_turns_exceeded
    assert outcome.tools == [("whoami", True), ("files_list", True)]
    assert len(wire.model.requests) == 3


@pytest.mark.parametrize("mode", MODES)
def test_an_id_reused_on_every_message_keeps_the_conversation_usable(wire: Wire, mode: str) -> None:
    wire.model.script = tools_then_report(WireReply(tool_calls=[WireToolCall("whoami", id="whoami:0")]))
    first = chat(wire, mode, "who am I?")
    assert first.error is None and first.tools == [("whoami", True)]
    for message in ("and now?", "and again?"):
        later = chat(wire, mode, message, conversation_id=first.conversation_id)
        assert later.error is None and later.tools == [("whoami", True)]
    ids = [call["id"] for call in sent_tool_calls(wire.model.requests[-1])]
    assert len(ids) == 3 and len(set(ids)) == 3


async def test_history_stored_with_reused_ids_and_lone_surrogates_is_repaired(wire: Wire) -> None:
    # A conversation stored before chatgate normalised model output: two calls with one id, and half
    # an emoji. The next message must still reach the model as a well-formed request.
    wire.model.script = lambda _messages: WireReply(text="first")
    first = chat(wire, "json", "hello")
    engine = create_engine(wire.settings.resolved_database_url)
    try:
        session = ConversationSession(first.conversation_id, engine, history_limit=None)
        for text in ("who am I?", "again \ud83d"):
            await session.add_items(
                [
                    {"role": "user", "content": text},
                    {"type": "function_call", "call_id": "whoami:0", "name": "whoami", "arguments": "{}"},
                    {"type": "function_call_output", "call_id": "whoami:0", "output": "alice"},
                ]
            )
    finally:
        await engine.dispose()
    wire.model.script = lambda _messages: WireReply(text="still here")
    later = chat(wire, "json", "and now?", conversation_id=first.conversation_id)
    assert later.error is None and later.text == "still here"
    messages = wire.model.requests[-1]["messages"]
    ids = [call["id"] for call in sent_tool_calls(wire.model.requests[-1])]
    assert len(set(ids)) == 2
    assert [m["tool_call_id"] for m in messages if m["role"] == "tool"] == ids
    assert {"role": "user", "content": "again \ufffd"} in messages


# 6. Lone UTF-16 surrogates: replaced by U+FFFD wherever they come in.


def post_raw(wire: Wire, body: bytes) -> httpx.Response:
    headers = {**auth(), "content-type": "application/json"}
    return httpx.post(f"{wire.url}/api/agents/chat", content=body, headers=headers, timeout=60)


def test_lone_surrogate_in_a_chat_message_is_replaced(wire: Wire) -> None:
    wire.model.script = lambda _messages: WireReply(text="ok")
    response = post_raw(wire, b'{"message": "hi \\ud83d"}')
    assert response.status_code == 200, response.text
    assert wire.model.requests[-1]["messages"][-1] == {"role": "user", "content": "hi \ufffd"}
    assert conversation(wire, response.json()["conversation_id"])["title"] == "hi \ufffd"


def test_lone_surrogate_in_a_use_chat_text_part_is_replaced(wire: Wire) -> None:
    wire.model.script = lambda _messages: WireReply(text="ok")
    part = b'{"type": "text", "text": "hi \\ud83d"}'
    body = b'{"id": "surrogate-part", "messages": [{"role": "user", "parts": [' + part + b"]}]}"
    outcome = streamed_outcome(post_raw(wire, body))
    assert outcome.error is None and outcome.text == "ok"
    assert wire.model.requests[-1]["messages"][-1] == {"role": "user", "content": "hi \ufffd"}


@pytest.mark.parametrize("mode", MODES)
def test_lone_surrogates_in_the_model_answer_are_replaced(wire: Wire, mode: str) -> None:
    wire.model.script = lambda _messages: WireReply(text="ok \ud83d and \ud83d\ude00 \ude00")
    outcome = chat(wire, mode, "hi")
    assert outcome.error is None and outcome.text == "ok \ufffd and \U0001f600 \ufffd"


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("spelling", ["escaped_in_arguments_text", "raw_in_arguments_text"])
def test_lone_surrogates_in_tool_arguments_are_replaced(wire: Wire, mode: str, spelling: str) -> None:
    path = f"surrogate-{mode}-{spelling}.txt"
    arguments: Any = {"path": path, "content": "hi \ud83d"}
    if spelling == "raw_in_arguments_text":
        arguments = '{"path": "%s", "content": "hi \ud83d"}' % path  # noqa: UP031 - JSON text by hand
    wire.model.script = tools_then_report(WireReply(tool_calls=[WireToolCall("files_write", arguments)]))
    outcome = chat(wire, mode)
    assert outcome.error is None and outcome.tools == [("files_write", True)]
    assert '"size":6' in outcome.text  # "hi " and U+FFFD: 3 + 3 bytes of UTF-8
    (call,) = sent_tool_calls(wire.model.requests[-1])
    assert json.loads(call["function"]["arguments"])["content"] == "hi \ufffd"


# 7. An empty answer.


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize(
    "empty", [WireReply(), WireReply(text="  "), WireReply(extra={"reasoning_content": "Hmm."})]
)
def test_an_empty_answer_is_a_model_error_and_the_conversation_goes_on(
    wire: Wire, mode: str, empty: WireReply
) -> None:
    wire.model.script = lambda _messages: WireReply(text="first answer")
    first = chat(wire, mode, "hello")
    wire.model.script = lambda _messages: empty
    failed = chat(wire, mode, "and now?", conversation_id=first.conversation_id)
    if mode == "json":
        assert failed.status == 502
    assert failed.error == {"code": "model_error", "message": "The model returned an empty answer."}
    wire.model.script = lambda _messages: WireReply(text="back again")
    later = chat(wire, mode, "hello?", conversation_id=first.conversation_id)
    assert later.error is None and later.text == "back again"
    users = [m["content"] for m in wire.model.requests[-1]["messages"] if m["role"] == "user"]
    assert users == ["hello", "and now?", "hello?"]


# 8. Streamed usage through proxies: asked for, so recorded.


def test_streamed_runs_ask_for_usage_and_record_it(wire: Wire) -> None:
    wire.model.script = tools_then_report(WireReply(tool_calls=[WireToolCall("whoami")]))
    outcome = chat(wire, "stream", "who am I?")
    assert outcome.error is None
    assert [request.get("stream_options") for request in wire.model.requests] == [{"include_usage": True}] * 2
    (run,) = conversation(wire, outcome.conversation_id)["runs"]
    assert run["usage"]["total_tokens"] == 36  # two completions of 18 tokens each


# Other quirks seen in the wild.


def test_streamed_tool_call_deltas_without_index_are_told_apart(wire: Wire) -> None:
    calls = [WireToolCall("whoami"), WireToolCall("files_list", {"path": "."})]
    wire.model.script = tools_then_report(WireReply(tool_calls=calls, stream_index=False))
    outcome = chat(wire, "stream", "who am I?")
    assert outcome.error is None and outcome.tools == [("whoami", True), ("files_list", True)]
    sent = sent_tool_calls(wire.model.requests[-1])
    assert [(c["function"]["name"], c["function"]["arguments"]) for c in sent] == [
        ("whoami", "{}"),
        ("files_list", '{"path": "."}'),
    ]


@pytest.mark.parametrize("mode", MODES)
def test_finish_reason_stop_on_a_tool_call_still_runs_it(wire: Wire, mode: str) -> None:
    reply = WireReply(tool_calls=[WireToolCall("whoami")], finish_reason="stop")
    wire.model.script = tools_then_report(reply)
    outcome = chat(wire, mode, "who am I?")
    assert outcome.error is None and outcome.tools == [("whoami", True)]


# Reasoning models that require their `reasoning_content` back.


def thinking_model(messages: list[dict[str, Any]]) -> WireReply:
    """Refuses (400) any tool-call turn in history without its reasoning, as DeepSeek and Kimi do."""
    for message in messages:
        if message.get("tool_calls") and not message.get("reasoning_content"):
            return WireReply(status=400)
    reasoning = {"reasoning_content": f"Thinking about message {_last_user(messages)}."}
    if not tool_results_since_last_user(messages):
        return WireReply(tool_calls=[WireToolCall("whoami")], extra=reasoning)
    return WireReply(text="You are alice.", extra=reasoning)


@pytest.mark.parametrize("mode", MODES)
def test_reasoning_content_goes_back_to_the_model_that_wrote_it(wire: Wire, mode: str) -> None:
    wire.model.script = thinking_model
    first = chat(wire, mode, "who am I?")
    assert first.error is None and first.text == "You are alice."
    later = chat(wire, mode, "sure?", conversation_id=first.conversation_id)  # from stored history
    assert later.error is None and later.text == "You are alice."
    replayed = [m for m in wire.model.requests[-1]["messages"] if m.get("tool_calls")]
    reasoning = [m["reasoning_content"] for m in replayed]
    assert reasoning == ["Thinking about message 1.", "Thinking about message 5."]
