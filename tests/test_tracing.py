"""OpenTelemetry spans (the `otel` extra, installed with `dev`): request, launch, model and tool calls,
linked in one trace and by the request id, with nothing sensitive in their attributes."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from chatgate.config_errors import ConfigError
from chatgate.main import create_app
from chatgate.telemetry import tracing as tracing_module
from chatgate.telemetry.tracing import REQUEST_ID_ATTRIBUTE, Tracing, traces_endpoint
from support.models import SwitchableModel, call_then_report
from support.processes import wait_until
from support.servers import ThreadedServer
from support.settings import make_settings
from support.tokens import mint

pytest.importorskip("opentelemetry.sdk", reason="the otel extra is not installed")
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter


@pytest.fixture(scope="module")
def traced(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[tuple[str, SwitchableModel, InMemorySpanExporter]]:
    exporter = InMemorySpanExporter()
    model = SwitchableModel()
    model.policy = call_then_report([("whoami", {})])
    settings = make_settings(tmp_path_factory.mktemp("traced"), MCP_LAUNCHER="fork")
    app = create_app(settings, model_provider=model, tracing=Tracing.exporting_to(exporter))
    with ThreadedServer(app) as server:
        yield server.url, model, exporter


def spans_of(exporter: InMemorySpanExporter, request_id: str) -> list[ReadableSpan]:
    return [
        span
        for span in exporter.get_finished_spans()
        if span.attributes.get(REQUEST_ID_ATTRIBUTE) == request_id
    ]


@pytest.mark.parametrize("stream", [False, True])
def test_a_chat_is_one_trace_of_request_launch_model_and_tool_spans(
    traced: tuple[str, SwitchableModel, InMemorySpanExporter], stream: bool
) -> None:
    url, _, exporter = traced
    user, message = "traced-user-5d1e", "secret-message-77"
    token = mint(user)
    response = httpx.post(
        f"{url}/api/agents/chat",
        json={"message": message, "stream": stream},
        headers={"Authorization": f"Bearer {token}"},
        timeout=60,
    )
    assert response.status_code == 200
    request_id = response.headers["x-request-id"]
    # The request span ends just after the last byte the client read: wait for it, briefly.
    assert wait_until(lambda: len(spans_of(exporter, request_id)) == 6, timeout=10)
    spans = spans_of(exporter, request_id)
    names = sorted(span.name for span in spans)
    assert names == sorted(
        [
            "POST /api/agents/chat",
            "chatgate.launch",
            "chatgate.model_call",
            "chatgate.model_call",
            "chatgate.tool_call",
            "chatgate.teardown",
        ]
    )
    (request,) = [span for span in spans if span.name == "POST /api/agents/chat"]
    assert request.attributes["http.route"] == "/api/agents/chat"
    assert request.attributes["http.response.status_code"] == 200
    # One trace, and every span hangs under the request span.
    by_id = {span.context.span_id: span for span in spans}
    for span in spans:
        assert span.context.trace_id == request.context.trace_id
        root = span
        while root.parent is not None and root.parent.span_id in by_id:
            root = by_id[root.parent.span_id]
        assert root is request, span.name
    (tool,) = [span for span in spans if span.name == "chatgate.tool_call"]
    assert tool.attributes["chatgate.tool"] == "whoami"
    assert tool.attributes["chatgate.tool.outcome"] == "ok"
    modes = {span.attributes["chatgate.model.mode"] for span in spans if span.name == "chatgate.model_call"}
    assert modes == {"stream" if stream else "json"}
    for span in spans:
        for value in span.attributes.values():
            assert not any(secret in str(value) for secret in (user, message, token)), span.name
        assert not span.events  # no exception text recorded


def test_tracing_is_off_without_an_endpoint(tmp_path: Path) -> None:
    assert not Tracing.from_settings(make_settings(tmp_path)).enabled


def test_an_endpoint_without_the_extra_is_a_configuration_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(tracing_module, "otel_installed", lambda: False)
    settings = make_settings(tmp_path, OTEL_EXPORTER_OTLP_ENDPOINT="http://127.0.0.1:4318")
    with pytest.raises(ConfigError, match=r"chatgate\[otel\]"):
        create_app(settings)


def test_an_endpoint_turns_tracing_on_and_exports_to_its_traces_path(tmp_path: Path) -> None:
    tracing = Tracing.from_settings(
        make_settings(tmp_path, OTEL_EXPORTER_OTLP_ENDPOINT="http://127.0.0.1:4318/")
    )
    try:
        assert tracing.enabled
    finally:
        tracing.shutdown()
    assert traces_endpoint("http://collector:4318/") == "http://collector:4318/v1/traces"
    assert traces_endpoint("http://collector:4318/v1/traces") == "http://collector:4318/v1/traces"
