"""Scripted agent models: deterministic policies over the conversation so far.

A policy looks at what the model has been sent (`ModelCall.input`) and decides the next output, so one
policy serves any number of concurrent requests without shared state.
"""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import AsyncIterator, Callable, Sequence
from typing import Any

from agents import Model
from agents.testing import ModelCall, ModelStep, ScriptedModel, assistant_message, function_call
from agents.testing.model import _stream_events_for_step

Policy = Callable[[ModelCall], Any]


def tool_outputs(call: ModelCall) -> list[str]:
    """Texts of the tool outputs the model has been shown so far, in order."""
    return _output_texts(call.input if isinstance(call.input, list) else [])


def turn_outputs(call: ModelCall) -> list[str]:
    """Texts of the tool outputs since the last user message: this turn's, not earlier turns'."""
    items = call.input if isinstance(call.input, list) else []
    users = [i for i, item in enumerate(items) if isinstance(item, dict) and item.get("role") == "user"]
    return _output_texts(items[users[-1] + 1 :] if users else items)


def _output_texts(items: list[Any]) -> list[str]:
    texts: list[str] = []
    for item in items:
        if isinstance(item, dict) and item.get("type") == "function_call_output":
            output = item.get("output")
            if isinstance(output, list):
                texts.append("".join(part.get("text", "") for part in output if isinstance(part, dict)))
            else:
                texts.append(str(output))
    return texts


def call_then_report(calls: Sequence[tuple[str, dict[str, Any]]]) -> Policy:
    """Call each tool in turn (one per model turn), then answer with all tool outputs as JSON."""

    def policy(call: ModelCall) -> Any:
        done = tool_outputs(call)
        if len(done) < len(calls):
            name, arguments = calls[len(done)]
            return [function_call(name, arguments, call_id=f"call_{len(done)}")]
        return [assistant_message(json.dumps(done))]

    return policy


def answer(text: str) -> Policy:
    return lambda _call: [assistant_message(text)]


def scripted_provider(policy: Policy, *, max_turns: int = 12) -> Callable[[], Model]:
    """A model provider handing each request a fresh `ScriptedModel` that follows `policy`."""
    return lambda: ScriptedModel([ModelStep.respond(policy) for _ in range(max_turns)])


class SwitchableModel:
    """A provider for a shared live app whose policy each test sets."""

    def __init__(self) -> None:
        self.policy: Policy = answer("no script set")

    def __call__(self) -> Model:
        return ScriptedModel([ModelStep.respond(self._current) for _ in range(12)])

    def _current(self, call: ModelCall) -> Any:
        return self.policy(call)


async def until_set(event: threading.Event, limit_seconds: float = 120.0) -> bool:
    """Wait, from the live app's event loop, for `event` set by the test's thread; False on timeout.

    The default outlasts every ceiling the tests wait under (60 s), so a test that checks a run was
    cancelled never sees it end on its own instead.
    """
    for _ in range(int(limit_seconds / 0.02)):
        if event.is_set():
            return True
        await asyncio.sleep(0.02)
    return event.is_set()


def stalls_mid_text(text: str, release: threading.Event) -> ModelStep:
    """A streamed model response that sends `text` as its first text delta, then waits for
    `release` (the test's Stop lands meanwhile) before finishing."""
    # The SDK's own scripted event sequence for the whole message, cut after its first text delta.
    events = list(
        _stream_events_for_step(ModelStep(output=[assistant_message(text)]), preserve_raw_usage=False)
    )
    cut = next(i for i, event in enumerate(events) if event.type == "response.output_text.delta") + 1

    async def stream(_call: ModelCall) -> AsyncIterator[Any]:
        for event in events[:cut]:
            yield event
        await until_set(release)
        for event in events[cut:]:
            yield event

    return ModelStep.stream(stream)
