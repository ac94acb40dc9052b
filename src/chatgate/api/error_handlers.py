"""One place that turns every failure into `{"error": {"code", "message"}}` with the right status."""

from __future__ import annotations

import logging

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from starlette.exceptions import HTTPException as StarletteHTTPException

from chatgate.api.disconnect import ClientDisconnectedError
from chatgate.conversations.store import ConversationBusyError
from chatgate.errors import ChatgateError
from chatgate.files import (
    AlreadyExists,
    FileSpaceError,
    LimitExceeded,
    NotEmpty,
    PathRefused,
    QuotaExceeded,
    StorageUnavailable,
    UnsafeEntry,
    WrongKind,
)
from chatgate.files import NotFound as FileNotFound
from chatgate.storage.errors import DatabaseUnavailableError, InvalidInputError, NotFoundError, StorageError

logger = logging.getLogger(__name__)

_CODE_BY_STATUS = {
    400: "bad_request",
    401: "invalid_token",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    406: "not_acceptable",
    409: "conflict",
    413: "request_too_large",
    415: "unsupported_media_type",
    422: "invalid_request",
    429: "rate_limited",
}


def error_response(
    status: int, code: str, message: str, headers: dict[str, str] | None = None
) -> JSONResponse:
    return JSONResponse({"error": {"code": code, "message": message}}, status_code=status, headers=headers)


async def _chatgate_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, ChatgateError)
    request.state.error_code = exc.code
    return error_response(exc.status_code, exc.code, exc.message, exc.headers)


def _storage_status(exc: StorageError) -> tuple[int, str]:
    # Storage errors carry curated messages (no SQL, no driver text); only the status is decided here.
    if isinstance(exc, NotFoundError):
        return 404, "not_found"
    if isinstance(exc, ConversationBusyError):
        return 409, "conversation_busy"
    if isinstance(exc, InvalidInputError):
        return 422, "invalid_request"
    if isinstance(exc, DatabaseUnavailableError):
        return 503, "database_unavailable"
    return 500, "internal_error"


# The file space's errors (`chatgate.files`), most specific first. Their messages are curated there
# (relative paths only), so they are passed on; only the status and code are decided here.
_FILE_ERRORS: tuple[tuple[type[FileSpaceError], int, str], ...] = (
    (PathRefused, 422, "invalid_path"),
    (FileNotFound, 404, "not_found"),
    (AlreadyExists, 409, "already_exists"),
    (WrongKind, 409, "wrong_kind"),
    (NotEmpty, 409, "not_empty"),
    (UnsafeEntry, 403, "unsafe_entry"),
    (QuotaExceeded, 507, "quota_exceeded"),
    (LimitExceeded, 413, "file_too_large"),
    (StorageUnavailable, 503, "storage_unavailable"),
)


def _file_status(exc: FileSpaceError) -> tuple[int, str]:
    for kind, status, code in _FILE_ERRORS:
        if isinstance(exc, kind):
            return status, code
    return 422, "invalid_request"


def error_code_of(exc: BaseException) -> str:
    """The `error.code` the response to `exc` carries (for metrics: one mapping, here)."""
    if isinstance(exc, ChatgateError):
        return exc.code
    if isinstance(exc, StorageError):
        return _storage_status(exc)[1]
    if isinstance(exc, FileSpaceError):
        return _file_status(exc)[1]
    if isinstance(exc, ClientDisconnectedError):
        return "client_closed"
    return "internal_error"


async def _storage_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StorageError)
    status, code = _storage_status(exc)
    request.state.error_code = code
    headers = {"Retry-After": "2"} if status in (409, 503) else None
    return error_response(status, code, str(exc), headers)


async def _file_space_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, FileSpaceError)
    status, code = _file_status(exc)
    request.state.error_code = code
    return error_response(status, code, str(exc))


async def _validation_error(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    errors = exc.errors()
    if any(error.get("type") == "json_invalid" for error in errors):
        return error_response(400, "invalid_json", "The request body is not valid JSON.")
    # Field locations and pydantic's messages only: the rejected values are the caller's data.
    details = []
    for error in errors[:5]:
        location = ".".join(str(part) for part in error.get("loc", ()) if part != "body") or "body"
        details.append(f"{location}: {error.get('msg', 'invalid')}")
    return error_response(422, "invalid_request", "; ".join(details) or "The request is invalid.")


async def _http_error(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    code = _CODE_BY_STATUS.get(exc.status_code, "error")
    message = exc.detail if isinstance(exc.detail, str) else "The request failed."
    return error_response(exc.status_code, code, message, dict(exc.headers or {}))


async def _client_disconnected(_: Request, __: Exception) -> Response:
    # Nobody will read this; the status only marks the request log line.
    return Response(status_code=499)


async def _unexpected_error(_: Request, exc: Exception) -> JSONResponse:
    # A last resort: `RequestContextMiddleware` normally answers first (with the request id).
    logger.error("unhandled error: %s", type(exc).__name__)
    return error_response(500, "internal_error", "Something went wrong on our side.")


def install_error_handlers(app: FastAPI) -> None:
    app.add_exception_handler(ChatgateError, _chatgate_error)
    app.add_exception_handler(StorageError, _storage_error)
    app.add_exception_handler(FileSpaceError, _file_space_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_exception_handler(ClientDisconnectedError, _client_disconnected)
    app.add_exception_handler(Exception, _unexpected_error)
