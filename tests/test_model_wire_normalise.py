"""The wire normaliser's rules, one by one, on decoded JSON and through an httpx2 mock transport."""

from __future__ import annotations

import json
from typing import Any

import httpx2
from agents.models.reasoning_content_replay import ReasoningContentReplayContext, ReasoningContentSource

from chatgate.agents import replay_own_reasoning
from chatgate.model_wire import ChatCompletionsWire
from chatgate.model_wire.normalise import CallIds, StreamNormaliser, arguments_text, ids_in_request


def ids(*used: str) -> CallIds:
    return CallIds(lambda: set(used))


def test_arguments_become_json_text() -> None:
    assert arguments_text({"path": "a.txt"}) == '{"path": "a.txt"}'
    assert arguments_text(None) == arguments_text("") == "{}"
    assert arguments_text('{"a": "hi \\ud83d"}') == '{"a": "hi \ufffd"}'  # escaped inside the text
    assert arguments_text('{"a": "hi \ud83d"}') == '{"a": "hi \ufffd"}'  # raw in the text
    paired = '{"a": "\\ud83d\\ude00"}'
    assert arguments_text(paired) is paired  # a well-formed pair is left exactly as sent
    assert arguments_text("{not json \\ud83d") == "{not json \\ud83d"  # the agent reports bad JSON


def test_call_ids_keep_fresh_provider_ids_and_replace_the_rest() -> None:
    claimed = ids("whoami:0")
    assert claimed.claim("call_fresh") == "call_fresh"  # kept: some providers need their own back
    replaced = [claimed.claim(candidate) for candidate in ("whoami:0", None, "", 7, "call_fresh")]
    assert all(new.startswith("call_") for new in replaced)
    assert len(set(replaced)) == len(replaced) and "whoami:0" not in replaced


def test_ids_in_request_reads_calls_and_outputs() -> None:
    body = {
        "messages": [
            {"role": "assistant", "tool_calls": [{"id": "a"}, {"id": "b"}]},
            {"role": "tool", "tool_call_id": "a"},
            {"role": "tool", "tool_call_id": "orphan"},
        ]
    }
    assert ids_in_request(json.dumps(body).encode()) == {"a", "b", "orphan"}
    assert ids_in_request(b"not json") == set()


def chunk(delta: dict[str, Any], finish: str | None = None) -> dict[str, Any]:
    return {
        "id": "c",
        "object": "chat.completion.chunk",
        "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
    }


def deltas(chunks: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [c["choices"][0]["delta"] for c in chunks if c.get("choices")]


def test_streamed_calls_without_index_are_told_apart_and_sent_whole_before_finish() -> None:
    stream = StreamNormaliser(ids())
    received = [
        chunk({"tool_calls": [{"id": "x", "function": {"name": "whoami", "arguments": ""}}]}),
        chunk({"tool_calls": [{"function": {"arguments": "{}"}}]}),
        chunk({"tool_calls": [{"function": {"name": "files_list", "arguments": '{"path":'}}]}),
        chunk({"tool_calls": [{"function": {"arguments": ' "."}'}}]}),
    ]
    sent = [out for c in received for out in stream.chunk(c)]
    assert all("tool_calls" not in d for d in deltas(sent))  # held back until the choice finishes
    *calls_chunk, finish = stream.chunk(chunk({}, finish="stop"))
    (calls,) = (d["tool_calls"] for d in deltas(calls_chunk))
    assert [(c["index"], c["function"]["name"], c["function"]["arguments"]) for c in calls] == [
        (0, "whoami", "{}"),
        (1, "files_list", '{"path": "."}'),
    ]
    assert calls[0]["id"] == "x" and calls[1]["id"].startswith("call_")
    assert finish["choices"][0]["finish_reason"] == "stop"


def test_streamed_calls_never_finished_are_sent_at_the_end() -> None:
    stream = StreamNormaliser(ids())
    stream.chunk(chunk({"tool_calls": [{"index": 0, "function": {"name": "whoami", "arguments": {}}}]}))
    (owed,) = stream.end()
    (call,) = deltas([owed])[0]["tool_calls"]
    assert call["function"] == {"name": "whoami", "arguments": "{}"} and call["type"] == "function"
    assert stream.end() == []


def test_a_surrogate_pair_split_across_text_deltas_is_joined() -> None:
    stream = StreamNormaliser(ids())
    first = stream.chunk(chunk({"content": "a \ud83d"}))
    second = stream.chunk(chunk({"content": "\ude00 b \ud83d"}))
    last = stream.chunk(chunk({}, finish="stop"))
    text = "".join(d.get("content", "") for d in deltas([*first, *second, *last]))
    assert text == "a \U0001f600 b \ufffd"  # the unmatched half at the end is a lone surrogate


def mock_wire(body: bytes, content_type: str) -> httpx2.AsyncClient:
    def answer(_request: httpx2.Request) -> httpx2.Response:
        return httpx2.Response(200, content=body, headers={"content-type": content_type})

    return httpx2.AsyncClient(transport=ChatCompletionsWire(httpx2.MockTransport(answer)))


async def test_an_event_stream_that_just_stops_still_delivers_its_calls() -> None:
    call = {"index": 0, "function": {"name": "whoami", "arguments": "{}"}}
    body = (
        b"data: " + json.dumps(chunk({"tool_calls": [call]})).encode() + b"\r\n\r\n"
    )  # no finish, no [DONE]
    async with mock_wire(body, "text/event-stream") as client:
        response = await client.post("http://model/v1/chat/completions", json={"messages": []})
    events = [json.loads(line[6:]) for line in response.text.splitlines() if line.startswith("data: ")]
    calls = [c for d in deltas(events) for c in d.get("tool_calls", [])]
    assert [c["function"]["name"] for c in calls] == ["whoami"] and calls[0]["id"].startswith("call_")


async def test_other_endpoints_are_left_alone() -> None:
    body = b'{"text": "hi \\ud83d"}'
    async with mock_wire(body, "application/json") as client:
        response = await client.get("http://model/v1/models")
    assert response.content == body


def replay(target: str, origin: str | None) -> bool:
    source = ReasoningContentSource(
        item={}, origin_model=origin, provider_data={"model": origin} if origin else {}
    )
    return replay_own_reasoning(ReasoningContentReplayContext(model=target, base_url=None, reasoning=source))


def test_reasoning_goes_back_only_to_the_model_that_wrote_it() -> None:
    assert replay("kimi-k2-thinking", "kimi-k2-thinking")
    assert not replay("gpt-4.1", "kimi-k2-thinking")
    assert not replay("kimi-k2-thinking", None)
    assert replay("deepseek-reasoner", None)  # the SDK's own default still holds
