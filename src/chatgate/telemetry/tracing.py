"""Optional OpenTelemetry traces: a span per request, with the launch, each model call and each tool
call inside it, all carrying `chatgate.request_id` (the `x-request-id` of the response and the logs).

Off unless `OTEL_EXPORTER_OTLP_ENDPOINT` is set; then the `otel` extra must be installed
(`pip install 'chatgate[otel]'`), or start-up fails with a `ConfigError` naming it. The provider is
the app's own (never OpenTelemetry's global one), so tests and embedders can run several apps.

Attributes are ids, names, codes and timings only: never the user id, a token, message or tool text.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from chatgate import __version__
from chatgate.config import Settings
from chatgate.config_errors import ConfigError
from chatgate.observability import request_id_var

if TYPE_CHECKING:
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SpanExporter
    from opentelemetry.trace import Span, Tracer

AttributeValue = str | int | float | bool
REQUEST_ID_ATTRIBUTE = "chatgate.request_id"


def otel_installed() -> bool:
    return importlib.util.find_spec("opentelemetry.sdk") is not None


def traces_endpoint(base: str) -> str:
    """The OTLP/HTTP traces URL for `OTEL_EXPORTER_OTLP_ENDPOINT`, which names the collector's base URL
    (the spec appends `/v1/traces`; a URL already ending in it is kept)."""
    base = base.rstrip("/")
    return base if base.endswith("/v1/traces") else base + "/v1/traces"


class Tracing:
    """Span helpers that do nothing when tracing is off (`tracer is None`)."""

    def __init__(self, provider: TracerProvider | None = None) -> None:
        self._provider = provider
        self.tracer: Tracer | None = provider.get_tracer("chatgate", __version__) if provider else None

    @property
    def enabled(self) -> bool:
        return self.tracer is not None

    @classmethod
    def from_settings(cls, settings: Settings) -> Tracing:
        """Export to `OTEL_EXPORTER_OTLP_ENDPOINT` (OTLP over HTTP), or tracing off when it is unset.

        Raises:
            ConfigError: the endpoint is set but the `otel` extra is not installed.
        """
        endpoint = settings.otel_exporter_otlp_endpoint
        if not endpoint:
            return cls()
        if not otel_installed():
            raise ConfigError(
                "OTEL_EXPORTER_OTLP_ENDPOINT is set but OpenTelemetry is not installed: "
                "pip install 'chatgate[otel]'"
            )
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

        return cls.exporting_to(OTLPSpanExporter(endpoint=traces_endpoint(endpoint)), batch=True)

    @classmethod
    def exporting_to(cls, exporter: SpanExporter, *, batch: bool = False) -> Tracing:
        """Tracing into `exporter` (tests pass an in-memory one; `batch=False` exports each span at once)."""
        from opentelemetry.sdk.resources import Resource
        from opentelemetry.sdk.trace import TracerProvider
        from opentelemetry.sdk.trace.export import BatchSpanProcessor, SimpleSpanProcessor

        provider = TracerProvider(resource=Resource.create({"service.name": "chatgate"}))
        provider.add_span_processor(BatchSpanProcessor(exporter) if batch else SimpleSpanProcessor(exporter))
        return cls(provider)

    def shutdown(self) -> None:
        """Flush and stop the exporter (app shutdown)."""
        if self._provider is not None:
            self._provider.shutdown()

    @contextmanager
    def span(
        self, name: str, attributes: Mapping[str, AttributeValue] | None = None
    ) -> Iterator[Span | None]:
        """A span around the block, a child of the current one; an exception marks it as an error."""
        if self.tracer is None:
            yield None
            return
        # Exception events would carry exception text (upstream bodies, paths): the status says enough.
        with self.tracer.start_as_current_span(
            name, attributes=self._attributes(attributes), record_exception=False
        ) as span:
            yield span

    def start(self, name: str, attributes: Mapping[str, AttributeValue] | None = None) -> Span | None:
        """A span ended later with `end` (hooks that see the start and the end in separate calls)."""
        if self.tracer is None:
            return None
        return self.tracer.start_span(name, attributes=self._attributes(attributes))

    @staticmethod
    def end(
        span: Span | None, attributes: Mapping[str, AttributeValue] | None = None, *, error: bool = False
    ) -> None:
        if span is None:
            return
        from opentelemetry.trace import Status, StatusCode

        if attributes:
            span.set_attributes(dict(attributes))
        if error:
            span.set_status(Status(StatusCode.ERROR))
        span.end()

    @staticmethod
    def _attributes(extra: Mapping[str, AttributeValue] | None) -> dict[str, AttributeValue]:
        attributes: dict[str, AttributeValue] = dict(extra or {})
        request_id = request_id_var.get()
        if request_id:
            attributes[REQUEST_ID_ATTRIBUTE] = request_id
        return attributes


class TracingMiddleware:
    """One span per HTTP request, named by method and route template (never the raw path)."""

    def __init__(self, app: ASGIApp, tracing: Tracing) -> None:
        self.app = app
        self.tracing = tracing

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not self.tracing.enabled:
            await self.app(scope, receive, send)
            return
        method = str(scope.get("method", ""))
        status: list[int] = []

        async def send_with_status(message: Message) -> None:
            if message["type"] == "http.response.start":
                status.append(int(message["status"]))
            await send(message)

        with self.tracing.span(method, {"http.request.method": method}) as span:
            try:
                await self.app(scope, receive, send_with_status)
            finally:
                if span is not None:
                    _finish_request_span(span, scope, method, status[0] if status else None)


def _finish_request_span(span: Any, scope: Scope, method: str, status: int | None) -> None:
    from opentelemetry.trace import Status, StatusCode

    route = getattr(scope.get("route"), "path", None)
    if isinstance(route, str):
        span.update_name(f"{method} {route}")
        span.set_attribute("http.route", route)
    if status is not None:
        span.set_attribute("http.response.status_code", status)
        if status >= 500:
            span.set_status(Status(StatusCode.ERROR))
