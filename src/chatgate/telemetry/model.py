"""Model calls measured where the model is made: a provider wrapper, so the chat path is untouched.

Each call is counted and timed by mode (json|stream), failures by kind, and traced as a span.
Error kinds are fixed words from the exception type: the upstream error text never leaves here.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING, Any

import openai
from agents import Model, ModelBehaviorError, ModelResponse, ModelTracing
from agents.items import TResponseInputItem, TResponseStreamEvent

from chatgate.agents import ModelProvider, NamedModels
from chatgate.empty_answers import is_empty_answer
from chatgate.model_delegate import DelegatingModel, close_stream
from chatgate.telemetry import Telemetry

if TYPE_CHECKING:
    from agents import ModelSettings


def error_kind(exc: BaseException) -> str:
    """A bounded label for a failed model call."""
    if isinstance(exc, openai.APITimeoutError | TimeoutError):
        return "timeout"
    if isinstance(exc, openai.APIConnectionError):
        return "connection"
    if isinstance(exc, openai.RateLimitError):
        return "rate_limited"
    if isinstance(exc, openai.APIStatusError):
        return "server_error" if exc.status_code >= 500 else "client_error"
    if isinstance(exc, ModelBehaviorError | openai.APIResponseValidationError):
        return "bad_response"
    return "other"


class ObservedProvider:
    """`provider`, each model it makes reporting to `telemetry`."""

    def __init__(self, provider: ModelProvider, telemetry: Telemetry) -> None:
        self.inner = provider
        self._telemetry = telemetry

    def __call__(self) -> Model:
        return ObservedModel(self.inner(), self._telemetry)


class ObservedNamedProvider(ObservedProvider):
    """The same, for a provider that also makes models by name (the configured endpoint)."""

    def __init__(self, provider: NamedModels, telemetry: Telemetry) -> None:
        super().__init__(provider, telemetry)
        self._named = provider

    def named(self, model_name: str) -> Model:
        return ObservedModel(self._named.named(model_name), self._telemetry)


def observed_provider(provider: ModelProvider, telemetry: Telemetry) -> ObservedProvider:
    """`provider` wrapped so each model call is measured; agents' own models stay selectable by name."""
    if isinstance(provider, NamedModels):
        return ObservedNamedProvider(provider, telemetry)
    return ObservedProvider(provider, telemetry)


class ObservedModel(DelegatingModel):
    """`inner`, measured."""

    def __init__(self, inner: Model, telemetry: Telemetry) -> None:
        super().__init__(inner)
        self._telemetry = telemetry

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
        started = time.perf_counter()
        with self._telemetry.tracing.span("chatgate.model_call", {"chatgate.model.mode": "json"}):
            try:
                response = await self.inner.get_response(
                    system_instructions,
                    input,
                    model_settings,
                    tools,
                    output_schema,
                    handoffs,
                    tracing,
                    **kwargs,
                )
            except Exception as exc:
                self._record("json", started, error_kind(exc))
                raise
        self._record("json", started, "empty_answer" if is_empty_answer(response.output) else None)
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
        started = time.perf_counter()
        span = self._telemetry.tracing.start("chatgate.model_call", {"chatgate.model.mode": "stream"})
        events = self.inner.stream_response(
            system_instructions, input, model_settings, tools, output_schema, handoffs, tracing, **kwargs
        )
        kind: str | None = None
        finished = False
        try:
            async for event in events:
                if event.type == "response.completed" and is_empty_answer(event.response.output):
                    kind = "empty_answer"
                yield event
            finished = True
        except Exception as exc:
            kind = error_kind(exc)
            raise
        finally:
            await close_stream(events)
            if finished or kind is not None:
                self._record("stream", started, kind)
            self._telemetry.tracing.end(span, error=kind is not None)

    def _record(self, mode: str, started: float, error: str | None) -> None:
        metrics = self._telemetry.metrics
        if metrics is None:
            return
        metrics.model_calls.labels(mode, "error" if error else "ok").inc()
        metrics.model_call_seconds.labels(mode).observe(time.perf_counter() - started)
        if error is not None:
            metrics.model_errors.labels(error).inc()
