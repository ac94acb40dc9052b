"""Serving `/metrics`: on the API listener (dev, or behind `METRICS_TOKEN`) or on its own port.

A separate `METRICS_PORT` keeps operational data off the public listener: the Kubernetes Service
exposes only the API port, Prometheus scrapes the pod's metrics port directly. It is a small
threaded WSGI server from `prometheus_client`, so a scrape never waits on the event loop.
"""

from __future__ import annotations

import hmac
import logging
import threading
from collections.abc import Callable, Iterable
from typing import Any
from wsgiref.simple_server import WSGIServer, make_server

from prometheus_client import CollectorRegistry, make_wsgi_app
from prometheus_client.exposition import ThreadingWSGIServer, _SilentHandler

from chatgate.config import Settings
from chatgate.telemetry.metrics import Metrics

logger = logging.getLogger(__name__)

WsgiApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]


def token_matches(authorization: str | None, token: str) -> bool:
    """True when `authorization` is `Bearer <token>` (compared in constant time)."""
    scheme, _, presented = (authorization or "").strip().partition(" ")
    return scheme.lower() == "bearer" and hmac.compare_digest(presented.strip().encode(), token.encode())


def _guarded(app: WsgiApp, token: str | None) -> WsgiApp:
    def guarded(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        if environ.get("PATH_INFO") != "/metrics":
            start_response("404 Not Found", [("Content-Type", "text/plain")])
            return [b"not found\n"]
        if token is not None and not token_matches(environ.get("HTTP_AUTHORIZATION"), token):
            start_response(
                "401 Unauthorized",
                [("Content-Type", "text/plain"), ("WWW-Authenticate", 'Bearer realm="metrics"')],
            )
            return [b"unauthorized\n"]
        return app(environ, start_response)

    return guarded


class MetricsListener:
    """`/metrics` on `host:port` in a background thread; `stop()` closes it."""

    def __init__(self, registry: CollectorRegistry, host: str, port: int, token: str | None) -> None:
        self._server: WSGIServer = make_server(
            host,
            port,
            _guarded(make_wsgi_app(registry), token),
            ThreadingWSGIServer,
            handler_class=_SilentHandler,
        )
        self.port = self._server.server_port
        self._thread = threading.Thread(
            target=self._server.serve_forever, name="chatgate-metrics", daemon=True
        )

    def start(self) -> None:
        self._thread.start()
        logger.info("metrics listener on port %d", self.port)

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)


def start_metrics_listener(settings: Settings, metrics: Metrics | None) -> MetricsListener | None:
    """The separate `/metrics` listener when `METRICS_PORT` is set (and metrics are on), started."""
    if metrics is None or settings.metrics_port is None:
        return None
    token = settings.metrics_token.get_secret_value() if settings.metrics_token else None
    listener = MetricsListener(metrics.registry, settings.metrics_host, settings.metrics_port, token)
    listener.start()
    return listener
