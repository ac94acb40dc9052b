"""A model turn with nothing in it (no text, no refusal, no tool call) is an error, not an answer.

Some OpenAI-compatible servers answer `content: null` with no tool calls (a template that swallowed
the output, a thinking model that only thought). The Agents SDK would end the run on it with an
empty final output, and the user would get `"response": ""` as if that were the answer. Raising
`EmptyAnswerError` instead, before the SDK records the turn, makes it a 502 `model_error` that says
what happened, and leaves nothing in the conversation's history that the next message would trip on.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterable
from typing import TYPE_CHECKING, Any

from agents import ModelBehaviorError, ModelResponse, ModelTracing
from agents.items import TResponseInputItem, TResponseOutputItem, TResponseStreamEvent
from openai.types.responses import ResponseOutputMessage, ResponseReasoningItem

from chatgate.model_delegate import DelegatingModel, close_stream

if TYPE_CHECKING:
    from agents import ModelSettings


class EmptyAnswerError(ModelBehaviorError):
    """The model returned no text, no refusal and no tool call."""

    def __init__(self) -> None:
        super().__init__("the model returned an empty answer")


def is_empty_answer(output: Iterable[TResponseOutputItem]) -> bool:
    """True when `output` holds nothing but reasoning and blank messages."""
    for item in output:
        if isinstance(item, ResponseReasoningItem):
            continue
        if not isinstance(item, ResponseOutputMessage):
            return False  # a tool call of any kind
        for part in item.content:
            text = getattr(part, "text", None) or getattr(part, "refusal", None) or ""
            if text.strip():
                return False
    return True


class RefuseEmptyAnswers(DelegatingModel):
    """`inner`, except that an empty answer raises `EmptyAnswerError`."""

    async def get_response(
        self,
        system_instructions: str | None,
        input: str | list[TResponseInputItem],  # the SDK's parameter name
        model_settings: ModelSettings,
        tools: list[Any],
        output_schema: Any,
        handoffs: list[Any],
        tracing: ModelTracing,
        **kwargs: Any,
    ) -> ModelResponse:
        response = await self.inner.get_response(
            system_instructions, input, model_settings, tools, output_schema, handoffs, tracing, **kwargs
        )
        if is_empty_answer(response.output):
            raise EmptyAnswerError()
        return response

    async def stream_response(
        self,
        system_instructions: str | None,
        input: str | list[TResponseInputItem],  # the SDK's parameter name
        model_settings: ModelSettings,
        tools: list[Any],
        output_schema: Any,
        handoffs: list[Any],
        tracing: ModelTracing,
        **kwargs: Any,
    ) -> AsyncIterator[TResponseStreamEvent]:
        events = self.inner.stream_response(
            system_instructions, input, model_settings, tools, output_schema, handoffs, tracing, **kwargs
        )
        try:
            async for event in events:
                # The completed event is what the SDK records the turn from: refuse before it sees it.
                if event.type == "response.completed" and is_empty_answer(event.response.output):
                    raise EmptyAnswerError()
                yield event
        finally:
            await close_stream(events)
