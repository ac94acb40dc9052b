"""The door a chat passes before it claims its conversation, and the record of how it ended.

`ChatIntake.admit(principal, mode)` refuses a chat while the instance drains (503 `draining`) or
past the user's limits (429 `rate_limited`), else returns an `AdmittedChat`, held until the answer
ends (for a stream: its last byte). The admitted chat:
- holds the user's rate-limit permit and the drain's cancel scope (`run`);
- is counted in `chatgate_chats{outcome, code, mode}` exactly once, with its phase timings;
- gives everything back on every path, including a claim that failed (`refused`) and a stream the
  client left before it started (`abandoned`).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable
from typing import TypeVar

import anyio

from chatgate.auth.principal import Principal
from chatgate.drain import Drain, TrackedChat
from chatgate.errors import ChatgateError, DrainingError, RateLimitedError
from chatgate.limits import Permit, RateLimiter, user_key
from chatgate.run_report import Timings
from chatgate.telemetry import Metrics

logger = logging.getLogger(__name__)

T = TypeVar("T")
COMPLETED, FAILED, INTERRUPTED, REFUSED = "completed", "failed", "interrupted", "refused"
SHUTDOWN_INTERRUPTED = "The service restarted while answering; send the message again."


# The stable code an exception answers with (what the JSON error body says): `api.error_handlers`.
ErrorCode = Callable[[BaseException], str]


class AdmittedChat:
    def __init__(
        self, intake: ChatIntake, permit: Permit, tracked: TrackedChat, mode: str, started: float
    ) -> None:
        self._intake = intake
        self._permit = permit
        self._tracked = tracked
        self._mode = mode
        self._started = started
        self._closed = False

    async def run(self, work: Callable[[], Awaitable[T]], timings: Timings) -> T:
        """Run the chat's answer; record its outcome and release everything, however it ends.

        Raises:
            DrainingError: the drain's grace ran out and the chat was cancelled (recorded interrupted).
            Whatever `work` raises.
        """
        outcome, code = INTERRUPTED, "client_closed"
        try:
            with self._tracked.scope:
                try:
                    result = await work()
                except Exception as exc:
                    code = self._intake.error_code(exc)
                    outcome = INTERRUPTED if code == "client_closed" else FAILED
                    raise
                outcome, code = COMPLETED, "none"
                return result
            # Only a cancellation of our own scope (the drain) gets here.
            outcome, code = INTERRUPTED, "draining"
            raise DrainingError(SHUTDOWN_INTERRUPTED)
        finally:
            await self._close(outcome, code, timings)

    async def refused(self, exc: BaseException) -> None:
        """The chat never ran: its conversation could not be claimed (`exc` says why)."""
        if not isinstance(exc, Exception):  # cancelled while claiming: the client went away
            await self._close(INTERRUPTED, "client_closed", None)
            return
        await self._close(REFUSED, self._intake.error_code(exc), None)

    async def abandoned(self) -> None:
        """A streamed chat whose client left before the stream started."""
        await self._close(INTERRUPTED, "client_closed", None)

    async def _close(self, outcome: str, code: str, timings: Timings | None) -> None:
        if self._closed:
            return
        self._closed = True
        self._tracked.done()
        with anyio.CancelScope(shield=True):
            await self._intake.limiter.release(self._permit)
        metrics = self._intake.metrics
        if metrics is None:
            return
        metrics.chats.labels(outcome, code, self._mode).inc()
        metrics.chat_seconds.labels(self._mode).observe(time.perf_counter() - self._started)
        if timings is not None:
            for phase, milliseconds in (
                ("launch", timings.launch),
                ("model", timings.model),
                ("tools", timings.tools),
                ("teardown", timings.teardown),
            ):
                if milliseconds > 0:
                    metrics.chat_phase_seconds.labels(phase).observe(milliseconds / 1000)


class ChatIntake:
    """Drain state, per-user limits and chat metrics, as one door."""

    def __init__(
        self, drain: Drain, limiter: RateLimiter, metrics: Metrics | None, error_code: ErrorCode
    ) -> None:
        self.drain = drain
        self.limiter = limiter
        self.metrics = metrics
        self.error_code = error_code
        if metrics is not None:
            metrics.chats_in_flight.set_function(lambda: float(drain.in_flight))
            metrics.draining.set_function(lambda: 1.0 if drain.draining else 0.0)

    async def admit(self, principal: Principal, mode: str) -> AdmittedChat:
        """Let one chat in (`mode` is `json` or `stream`).

        Raises:
            DrainingError, RateLimitedError, RateLimitUnavailableError.
        """
        started = time.perf_counter()
        try:
            tracked = self.drain.track()
        except DrainingError:
            self._count_refusal("draining", mode)
            raise
        try:
            permit = await self.limiter.acquire(user_key(principal.user_id))
        except BaseException as exc:
            tracked.done()
            if isinstance(exc, RateLimitedError) and self.metrics is not None:
                self.metrics.rate_limit_refusals.labels(exc.limit).inc()
            if isinstance(exc, ChatgateError):
                self._count_refusal(exc.code, mode)
            raise
        return AdmittedChat(self, permit, tracked, mode, started)

    def _count_refusal(self, code: str, mode: str) -> None:
        if self.metrics is not None:
            self.metrics.chats.labels(REFUSED, code, mode).inc()
