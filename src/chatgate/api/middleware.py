"""Pure ASGI middleware: request ids and the request log line, the request-body limit, the schema
gate, and start-up configuration errors reported as one line.

Pure ASGI (not `BaseHTTPMiddleware`) so streaming responses pass through unbuffered and a client
disconnect still reaches the route.
"""

from __future__ import annotations

import logging
import re
import time
import traceback
import uuid
from pathlib import Path
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from chatgate.api.error_handlers import render
from chatgate.config_errors import ConfigError
from chatgate.errors import InternalError, RequestTooLargeError, SchemaOutOfDateError
from chatgate.observability import request_id_var
from chatgate.schema_gate import SchemaGate

logger = logging.getLogger("chatgate.request")

_SAFE_REQUEST_ID = re.compile(r"[A-Za-z0-9._:-]{1,64}")
# What nginx logs for a client that went away before the response: the request had no status.
CLIENT_CLOSED_STATUS = 499


class RequestContextMiddleware:
    """Assigns the request id, echoes it in `x-request-id`, and logs one line per request."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request_id = _incoming_request_id(scope) or uuid.uuid4().hex
        token = request_id_var.set(request_id)
        state: dict[str, Any] = scope.setdefault("state", {})
        status: int | None = None
        started = time.perf_counter()

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                message.setdefault("headers", [])
                message["headers"] = [*message["headers"], (b"x-request-id", request_id.encode())]
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        except Exception as exc:
            # Unhandled errors end here, inside CORS and with the request id, instead of in the
            # server's outermost handler. Type and place only: no traceback, no message text.
            logger.error("unhandled error: %s", describe(exc))
            if status is None:
                await render(InternalError())(scope, receive, send_with_id)
        finally:
            fields: dict[str, Any] = {
                "event": "request",
                "method": scope["method"],
                "path": scope["path"],
                "status": status or CLIENT_CLOSED_STATUS,
                "duration_ms": round((time.perf_counter() - started) * 1000, 1),
            }
            for key in ("user_hash", "timings_ms", "error_code"):
                if key in state:
                    fields[key] = state[key]
            logger.info("request", extra={"fields": fields})
            request_id_var.reset(token)


def describe(exc: BaseException) -> str:
    """`Type at module.py:line` of the innermost frame: enough to find it, nothing the user sent."""
    frame = traceback.extract_tb(exc.__traceback__)[-1] if exc.__traceback__ else None
    where = f" at {Path(frame.filename).name}:{frame.lineno}" if frame else ""
    return f"{type(exc).__name__}{where}"


def _incoming_request_id(scope: Scope) -> str | None:
    for name, value in scope.get("headers", []):
        if name == b"x-request-id":
            candidate = value.decode("latin-1")
            return candidate if _SAFE_REQUEST_ID.fullmatch(candidate) else None
    return None


class BodyLimitMiddleware:
    """Refuses request bodies over `max_bytes` with 413, before any route reads them.

    The body is read up front (it is small by construction) and replayed to the app; later
    `receive()` calls reach the server, so routes still see `http.disconnect`.
    `PUT`s below `upload_prefixes` pass unread: file uploads are bigger than any JSON body, and
    their route streams them against its own limit (`FILES_MAX_FILE_BYTES`).
    """

    def __init__(self, app: ASGIApp, max_bytes: int, upload_prefixes: tuple[str, ...] = ()) -> None:
        self.app = app
        self.max_bytes = max_bytes
        self.upload_prefixes = upload_prefixes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] in ("GET", "HEAD", "OPTIONS"):
            await self.app(scope, receive, send)
            return
        if scope["method"] == "PUT" and scope["path"].startswith(self.upload_prefixes):
            await self.app(scope, receive, send)
            return
        declared = _content_length(scope)
        if declared is not None and declared > self.max_bytes:
            await self._refuse(scope, receive, send)
            return
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                return  # nobody is listening; nothing to do
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self.max_bytes:
                await self._refuse(scope, receive, send)
                return
            chunks.append(chunk)
            if not message.get("more_body", False):
                break
        replayed = False

        async def replay() -> Message:
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": b"".join(chunks), "more_body": False}
            return await receive()

        await self.app(scope, replay, send)

    async def _refuse(self, scope: Scope, receive: Receive, send: Send) -> None:
        response = render(
            RequestTooLargeError(f"The request body exceeds {self.max_bytes} bytes (MAX_REQUEST_BYTES).")
        )
        await response(scope, receive, send)


def _content_length(scope: Scope) -> int | None:
    for name, value in scope.get("headers", []):
        if name == b"content-length":
            try:
                return int(value)
            except ValueError:
                return None
    return None


class SchemaGateMiddleware:
    """Answers every `/api/` request 503 `schema_out_of_date` while the database needs an upgrade.

    Checked before any route runs, so nothing is half-done and no client is told to "try again"
    for a state only an operator can change. Once the schema is current this is one attribute read.
    """

    def __init__(self, app: ASGIApp, gate: SchemaGate) -> None:
        self.app = app
        self.gate = gate

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["path"].startswith("/api/") and not self.gate.current:
            try:
                await self.gate.ensure_current()
            except SchemaOutOfDateError as exc:
                scope.setdefault("state", {})["error_code"] = exc.code
                await render(exc)(scope, receive, send)
                return
        await self.app(scope, receive, send)


class StartupErrorMiddleware:
    """A `ConfigError` raised while the app starts (say, a database that cannot be migrated) is
    reported to the server as its one-line message instead of a traceback, and kept in
    `errors` so `chatgate serve` can exit with status 2."""

    def __init__(self, app: ASGIApp, errors: list[ConfigError]) -> None:
        self.app = app
        self.errors = errors

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "lifespan":
            await self.app(scope, receive, send)
            return
        held: list[Message] = []

        async def hold_startup_failure(message: Message) -> None:
            # Starlette reports a failed start-up with the formatted traceback, then re-raises:
            # hold the report until we know what was raised.
            if message["type"] == "lifespan.startup.failed":
                held.append(message)
                return
            await send(message)

        try:
            await self.app(scope, receive, hold_startup_failure)
        except ConfigError as exc:
            if not held:
                raise
            self.errors.append(exc)
            await send({"type": "lifespan.startup.failed", "message": f"chatgate: {exc}"})
            return
        except BaseException:
            for message in held:
                await send(message)
            raise
        for message in held:
            await send(message)
