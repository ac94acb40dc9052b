"""What the wire normaliser changes in a Chat Completions answer (decoded JSON), and nothing more.

- Tool calls: `function.arguments` given as a JSON value (an object, say) becomes JSON text, and
  missing or empty arguments become `"{}"`; a missing `type` becomes `"function"`, a missing name `""`
  (then the agent tells the model the tool does not exist).
- Tool-call ids: a call without an id, or with an id already used in this conversation (the ids in
  the request's messages) or earlier in this answer, gets a fresh one (`call_` + 24 hex digits). A
  provider's own fresh ids are kept: some providers (Mistral) require their own format back.
- Streams: tool-call deltas are gathered per call (a delta without `index` continues the last call
  unless it starts a new one) and sent as one complete delta per call just before the choice's
  `finish_reason`, or at the end of the stream, so a streamed call is normalised whole, exactly like
  a JSON one. A text delta ending in the first half of a surrogate pair keeps that half back for the
  next delta.
- Text: lone UTF-16 surrogates anywhere, inside the arguments' JSON text too, become U+FFFD
  (`chatgate.surrogates`).
"""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from chatgate.surrogates import REPLACEMENT, replace_lone_surrogates, without_lone_surrogates

CALL_ID_PREFIX = "call_"
# A surrogate spelled as a JSON escape inside JSON text (the arguments string): `\ud83d`.
_ESCAPED_SURROGATE = re.compile(r"\\u[dD][89a-fA-F][0-9a-fA-F]{2}")
_STREAMED_TEXT_FIELDS = ("content", "refusal", "reasoning_content", "reasoning")
_HIGH_SURROGATES = ("\ud800", "\udbff")


def new_call_id() -> str:
    return CALL_ID_PREFIX + uuid.uuid4().hex[:24]


class CallIds:
    """Hands out the ids of one answer's tool calls, unique within the conversation.

    `used` gives the ids the conversation already has; it is called only when an answer has tool
    calls (reading a long request costs more than most answers need).
    """

    def __init__(self, used: Callable[[], set[str]]) -> None:
        self._load = used
        self._used: set[str] | None = None

    def claim(self, candidate: object) -> str:
        if self._used is None:
            self._used = set(self._load())
        fresh = isinstance(candidate, str) and candidate and candidate not in self._used
        chosen = candidate if fresh and isinstance(candidate, str) else new_call_id()
        self._used.add(chosen)
        return chosen


def ids_in_request(body: bytes) -> set[str]:
    """The tool-call ids that a Chat Completions request's messages already use."""
    try:
        request = json.loads(body)
    except ValueError:
        return set()
    used: set[str] = set()
    messages = request.get("messages") if isinstance(request, dict) else None
    for message in _dicts(messages):
        if isinstance(message.get("tool_call_id"), str):
            used.add(message["tool_call_id"])
        calls = _dicts(message.get("tool_calls"))
        used.update(call["id"] for call in calls if isinstance(call.get("id"), str))
    return used


def arguments_text(value: object) -> str:
    """Tool-call arguments as JSON text without lone surrogates, whatever the provider sent."""
    if value is None or value == "":
        return "{}"
    if not isinstance(value, str):
        return json.dumps(without_lone_surrogates(value), ensure_ascii=False)
    value = replace_lone_surrogates(value)
    if not _ESCAPED_SURROGATE.search(value):
        return value
    try:
        parsed = json.loads(value)
    except ValueError:
        return value  # not JSON: the agent reports that to the model as it is
    cleaned = without_lone_surrogates(parsed)
    return value if cleaned is parsed else json.dumps(cleaned, ensure_ascii=False)


def normalised_call(raw: Mapping[str, Any], ids: CallIds) -> dict[str, Any]:
    """One tool call (as in `message.tool_calls`) in the shape OpenAI sends, with a usable id."""
    call = {**raw, "id": ids.claim(raw.get("id"))}
    if call.get("type") not in (None, "", "function"):
        return call  # another kind of call (`custom`): only its id is ours to fix
    function = raw.get("function")
    function = function if isinstance(function, dict) else {}
    name = function.get("name")
    call["type"] = "function"
    call["function"] = {
        **function,
        "name": name if isinstance(name, str) else "",
        "arguments": arguments_text(function.get("arguments")),
    }
    return call


def normalise_completion(body: dict[str, Any], ids: CallIds) -> dict[str, Any]:
    """A `chat.completion` answer with its tool calls normalised and its text cleaned."""
    for choice in _dicts(body.get("choices")):
        message = choice.get("message")
        if isinstance(message, dict) and isinstance(message.get("tool_calls"), list):
            message["tool_calls"] = [normalised_call(call, ids) for call in _dicts(message["tool_calls"])]
    cleaned: dict[str, Any] = without_lone_surrogates(body)
    return cleaned


@dataclass
class _GatheredCall:
    """One streamed tool call, put together from its deltas."""

    fields: dict[str, Any] = field(default_factory=dict)  # id, type, provider extras
    function: dict[str, Any] = field(default_factory=dict)  # name, provider extras
    text: list[str] = field(default_factory=list)
    value: object = None  # arguments sent as a JSON value instead of text

    def add(self, delta: Mapping[str, Any]) -> None:
        for key, item in delta.items():
            if key == "function" and isinstance(item, dict):
                self._add_function(item)
            elif key not in ("index", "function") and item not in (None, "") and key not in self.fields:
                self.fields[key] = item  # the first id (or type) wins; later deltas often repeat it

    def _add_function(self, function: Mapping[str, Any]) -> None:
        for key, item in function.items():
            if key == "arguments":
                if isinstance(item, str):
                    self.text.append(item)
                elif item is not None:
                    self.value = item
            elif item not in (None, "") and key not in self.function:
                self.function[key] = item

    def starts_new_call(self, delta: Mapping[str, Any]) -> bool:
        """Whether an un-indexed `delta` opens another call rather than continuing this one."""
        delta_id = delta.get("id")
        if isinstance(delta_id, str) and delta_id and delta_id != self.fields.get("id"):
            return True
        function = delta.get("function")
        return isinstance(function, dict) and bool(function.get("name")) and "name" in self.function

    def raw(self) -> dict[str, Any]:
        """The gathered call as one tool-call delta: its own fields (`index`, `id`, `type`) and
        `{"function": {"name": str, "arguments": str}}`, the argument fragments joined."""
        text = "".join(self.text)
        arguments = text if text or self.value is None else self.value
        return {**self.fields, "function": {**self.function, "arguments": arguments}}


@dataclass
class _ChoiceStream:
    calls: list[_GatheredCall] = field(default_factory=list)
    by_index: dict[int, _GatheredCall] = field(default_factory=dict)
    held: dict[str, str] = field(default_factory=dict)  # a text field's trailing high surrogate

    def gather(self, deltas: list[Any]) -> None:
        for delta in _dicts(deltas):
            index = delta.get("index")
            if isinstance(index, int) and not isinstance(index, bool):
                call = self.by_index.get(index)
                if call is None:
                    call = self.by_index[index] = self._new()
            elif self.calls and not self.calls[-1].starts_new_call(delta):
                call = self.calls[-1]
            else:
                call = self._new()
            call.add(delta)

    def _new(self) -> _GatheredCall:
        call = _GatheredCall()
        self.calls.append(call)
        return call

    def flush(self, ids: CallIds) -> list[dict[str, Any]]:
        """The gathered calls as complete deltas, indexed in order; forgotten afterwards."""
        calls = [{**normalised_call(call.raw(), ids), "index": i} for i, call in enumerate(self.calls)]
        self.calls, self.by_index = [], {}
        return calls

    def hold_split_pairs(self, delta: dict[str, Any]) -> None:
        for name in _STREAMED_TEXT_FIELDS:
            text = delta.get(name)
            if not isinstance(text, str):
                continue
            text = self.held.pop(name, "") + text
            if text and _HIGH_SURROGATES[0] <= text[-1] <= _HIGH_SURROGATES[1]:
                self.held[name], text = text[-1], text[:-1]
            delta[name] = text

    def release_held(self, delta: dict[str, Any]) -> None:
        # The stream ended on half a pair: that half is a lone surrogate after all.
        for name in self.held:
            delta[name] = str(delta.get(name) or "") + REPLACEMENT
        self.held.clear()


class StreamNormaliser:
    """Normalises the `chat.completion.chunk`s of one streamed answer, in order."""

    def __init__(self, ids: CallIds) -> None:
        self._ids = ids
        self._choices: dict[int, _ChoiceStream] = {}
        self._template: dict[str, Any] = {}

    def chunk(self, chunk: dict[str, Any]) -> list[dict[str, Any]]:
        """The chunks to send for one received `chunk`: the gathered tool calls of a choice that
        finishes in it first, then `chunk` itself (without its tool-call deltas)."""
        before: list[dict[str, Any]] = []
        for choice in _dicts(chunk.get("choices")):
            index = choice.get("index")
            index = index if isinstance(index, int) else 0
            state = self._choices.setdefault(index, _ChoiceStream())
            delta = choice.get("delta")
            if isinstance(delta, dict):
                deltas = delta.pop("tool_calls", None)
                if isinstance(deltas, list):
                    state.gather(deltas)
                state.hold_split_pairs(delta)
            if choice.get("finish_reason") is not None:
                before.extend(self._owed(index, state))
        self._template = {key: chunk[key] for key in ("id", "object", "created", "model") if key in chunk}
        return [*before, without_lone_surrogates(chunk)]

    @property
    def idle(self) -> bool:
        """No tool call gathered and no surrogate held back: a plain text chunk may pass untouched."""
        return not any(state.calls or state.held for state in self._choices.values())

    def end(self) -> list[dict[str, Any]]:
        """Chunks still owed when the stream ends (`[DONE]`, or the connection closes)."""
        return [chunk for index, state in self._choices.items() for chunk in self._owed(index, state)]

    def _owed(self, index: int, state: _ChoiceStream) -> Iterator[dict[str, Any]]:
        delta: dict[str, Any] = {}
        calls = state.flush(self._ids)
        if calls:
            delta["tool_calls"] = calls
        if state.held:
            state.release_held(delta)
        if delta:
            choice = {"index": index, "delta": delta, "finish_reason": None}
            yield without_lone_surrogates({**self._template, "choices": [choice]})


def _dicts(value: object) -> Iterator[dict[str, Any]]:
    if isinstance(value, list):
        yield from (item for item in value if isinstance(item, dict))
