"""Prometheus metrics of one app, on a registry of its own (tests build many apps in one process).

Labels are bounded by construction: outcomes, error codes, phases and reasons are fixed words from
this code base; tool names come from the tool catalog and are capped (`MAX_TOOL_LABELS`, then
`other`). No user id, token, conversation id or message text is ever a label value.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, Info
from prometheus_client.core import CounterMetricFamily
from prometheus_client.registry import Collector

from chatgate import __version__

# Seconds. Launches are milliseconds (fork) to a second (exec); chats are up to CHAT_TIMEOUT_SECONDS.
FAST_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
SLOW_BUCKETS = (0.01, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0)
MAX_TOOL_LABELS = 256
OTHER_TOOL = "other"
_TOOL_NAME = re.compile(r"[A-Za-z0-9_.-]{1,128}")


class Metrics:
    """Every metric chatgate exports. Built once per app; `registry` is what `/metrics` renders."""

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry or CollectorRegistry()
        r = self.registry
        Info("chatgate_build", "The running chatgate version.", registry=r).info({"version": __version__})
        self.chats = Counter(
            "chatgate_chats",
            "Chats by how they ended: outcome completed|failed|interrupted|refused, code the error code "
            "(none when completed), mode json|stream.",
            ["outcome", "code", "mode"],
            registry=r,
        )
        self.chat_seconds = Histogram(
            "chatgate_chat_duration_seconds",
            "Whole chats, admission to the last byte of the answer, by mode json|stream.",
            ["mode"],
            buckets=SLOW_BUCKETS,
            registry=r,
        )
        self.chat_phase_seconds = Histogram(
            "chatgate_chat_phase_seconds",
            "Time a chat spent per phase: launch|model|tools|teardown.",
            ["phase"],
            buckets=SLOW_BUCKETS,
            registry=r,
        )
        self.chats_in_flight = Gauge(
            "chatgate_chats_in_flight", "Chats admitted and not yet finished (streams included).", registry=r
        )
        self.tool_servers_live = Gauge(
            "chatgate_tool_servers_live", "Tool server processes connected right now.", registry=r
        )
        self.tool_server_launches = Counter(
            "chatgate_tool_server_launches",
            "Tool server launches by result ok|failed.",
            ["result"],
            registry=r,
        )
        self.admission_wait_seconds = Histogram(
            "chatgate_admission_wait_seconds",
            "Time spent waiting for a tool-server slot (MAX_CONCURRENT_SESSIONS), admitted or not.",
            buckets=FAST_BUCKETS,
            registry=r,
        )
        self.admission_refusals = Counter(
            "chatgate_admission_refusals",
            "Requests refused with 503 saturated: no tool-server slot within ADMISSION_WAIT_SECONDS.",
            registry=r,
        )
        self.admission_slots_in_use = Gauge(
            "chatgate_admission_slots_in_use", "Tool-server slots held right now.", registry=r
        )
        self.admission_slots_limit = Gauge(
            "chatgate_admission_slots_limit",
            "MAX_CONCURRENT_SESSIONS: saturation is in_use / limit.",
            registry=r,
        )
        self.tool_calls = Counter(
            "chatgate_tool_calls", "Tool calls by tool and outcome ok|error.", ["tool", "outcome"], registry=r
        )
        self.tool_call_seconds = Histogram(
            "chatgate_tool_call_duration_seconds",
            "Duration of one tool call.",
            buckets=SLOW_BUCKETS,
            registry=r,
        )
        self.model_calls = Counter(
            "chatgate_model_calls",
            "Model calls by mode json|stream and result ok|error.",
            ["mode", "result"],
            registry=r,
        )
        self.model_call_seconds = Histogram(
            "chatgate_model_call_duration_seconds",
            "Duration of one model call (a streamed one until its last event).",
            ["mode"],
            buckets=SLOW_BUCKETS,
            registry=r,
        )
        self.model_errors = Counter(
            "chatgate_model_errors",
            "Failed model calls by kind: timeout|connection|rate_limited|server_error|client_error|"
            "bad_response|empty_answer|other.",
            ["kind"],
            registry=r,
        )
        self.auth_failures = Counter(
            "chatgate_auth_failures",
            "Refused bearer tokens by reason (missing_token, expired, bad_signature, unknown_key, …) and "
            "jwks_unavailable when the issuer's keys could not be fetched.",
            ["reason"],
            registry=r,
        )
        self.rate_limit_refusals = Counter(
            "chatgate_rate_limit_refusals",
            "Chats refused with 429 by limit: per_minute|concurrent.",
            ["limit"],
            registry=r,
        )
        self.rate_limit_backend_errors = Counter(
            "chatgate_rate_limit_backend_errors",
            "Redis failures of the rate limiter by what was done: fail_open|fail_closed.",
            ["action"],
            registry=r,
        )
        self.draining = Gauge("chatgate_draining", "1 while the instance drains for shutdown.", registry=r)
        self._tool_labels: set[str] = set()

    def tool_label(self, name: str) -> str:
        """`name` as a label value: catalog names pass, anything odd or past the cap is `other`."""
        if name in self._tool_labels:
            return name
        if not _TOOL_NAME.fullmatch(name) or len(self._tool_labels) >= MAX_TOOL_LABELS:
            return OTHER_TOOL
        self._tool_labels.add(name)
        return name

    def watch_admission(self, in_use: Callable[[], int], limit: int) -> None:
        """Read the tool-server slots at scrape time (no hook on the admission path)."""
        self.admission_slots_in_use.set_function(lambda: float(in_use()))
        self.admission_slots_limit.set(limit)

    def watch_jwks(self, counts: Callable[[], tuple[int, int] | None]) -> None:
        """Export `counts()` = (fetches, failed fetches) of the JWKS cache as `chatgate_jwks_fetches`."""
        self.registry.register(_JwksCollector(counts))


class _JwksCollector(Collector):
    def __init__(self, counts: Callable[[], tuple[int, int] | None]) -> None:
        self._counts = counts

    def collect(self) -> Iterable[CounterMetricFamily]:
        family = CounterMetricFamily(
            "chatgate_jwks_fetches",
            "JWKS documents fetched from the issuer, by result ok|failed.",
            labels=["result"],
        )
        counts = self._counts()
        fetches, failures = counts if counts is not None else (0, 0)
        family.add_metric(["ok"], max(0, fetches - failures))
        family.add_metric(["failed"], failures)
        yield family
