"""One place that turns every failure into `{"error": {"code", "message"}}` with the right status.

The status, code and `Retry-After` of each answer belong to its class in `chatgate.errors` (the
catalogue); here errors of lower layers are looked up to their catalogue class (`error_for`) and
every catalogue error is rendered the same way (`render`), by the handlers and the middleware alike.
"""

from __future__ import annotations

import logging

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from starlette.exceptions import HTTPException as StarletteHTTPException

from chatgate import errors
from chatgate.api.disconnect import ClientDisconnectedError
from chatgate.errors import ChatgateError
from chatgate.files import errors as files
from chatgate.storage import errors as storage

logger = logging.getLogger(__name__)

CLIENT_CLOSED = "client_closed"

# Storage errors carry curated messages (no SQL, no driver text): only the class is decided here.
_STORAGE: tuple[tuple[type[storage.StorageError], type[ChatgateError]], ...] = (
    (storage.RowNotFoundError, errors.NotFoundError),
    (storage.InvalidInputError, errors.InvalidRequestError),
    (storage.DatabaseUnavailableError, errors.DatabaseUnavailableError),
    (storage.StorageError, errors.InternalError),
)
# The file space's errors carry curated messages too (relative paths only); most specific first.
_FILES: tuple[tuple[type[files.FileSpaceError], type[ChatgateError]], ...] = (
    (files.PathRefused, errors.InvalidPathError),
    (files.PathNotFound, errors.NotFoundError),
    (files.AlreadyExists, errors.AlreadyExistsError),
    (files.WrongKind, errors.WrongKindError),
    (files.NotEmpty, errors.NotEmptyError),
    (files.UnsafeEntry, errors.UnsafeEntryError),
    (files.QuotaExceeded, errors.QuotaExceededError),
    (files.LimitExceeded, errors.FileTooLargeError),
    (files.StorageUnavailable, errors.StorageUnavailableError),
    (files.FileSpaceError, errors.InvalidRequestError),
)
# The framework's own refusals (an unparsable body, no route, wrong method, too large) by status;
# any other `HTTPException` would be a bug of ours: answered 500 and logged.
_FRAMEWORK: dict[int, type[ChatgateError]] = {
    error.status_code: error
    for error in (
        errors.BadRequestError,
        errors.NotFoundError,
        errors.MethodNotAllowedError,
        errors.RequestTooLargeError,
    )
}


def render(error: ChatgateError) -> JSONResponse:
    """`error` as its HTTP response: its status, `{"error": {"code", "message"}}` and its headers."""
    return JSONResponse(
        {"error": {"code": error.code, "message": error.message}},
        status_code=error.status_code,
        headers=error.headers,
    )


def error_for(exc: BaseException) -> ChatgateError:
    """The catalogue error `exc` answers with (`InternalError` for anything unexpected)."""
    if isinstance(exc, ChatgateError):
        return exc
    if isinstance(exc, storage.StorageError):
        return next(error(str(exc)) for kind, error in _STORAGE if isinstance(exc, kind))
    if isinstance(exc, files.FileSpaceError):
        return next(error(str(exc)) for kind, error in _FILES if isinstance(exc, kind))
    if isinstance(exc, RequestValidationError):
        return _validation_error(exc)
    if isinstance(exc, StarletteHTTPException) and exc.status_code in _FRAMEWORK:
        error = _FRAMEWORK[exc.status_code](exc.detail if isinstance(exc.detail, str) else None)
        error.headers.update(exc.headers or {})
        return error
    return errors.InternalError()


def error_code_of(exc: BaseException) -> str:
    """The `error.code` the response to `exc` carries (for metrics: one mapping, here)."""
    return CLIENT_CLOSED if isinstance(exc, ClientDisconnectedError) else error_for(exc).code


def _validation_error(exc: RequestValidationError) -> ChatgateError:
    problems = exc.errors()
    if any(problem.get("type") == "json_invalid" for problem in problems):
        return errors.InvalidJsonError()
    # Field locations and pydantic's messages only: the rejected values are the caller's data.
    details = []
    for problem in problems[:5]:
        location = ".".join(str(part) for part in problem.get("loc", ()) if part != "body") or "body"
        details.append(f"{location}: {problem.get('msg', 'invalid')}")
    return errors.InvalidRequestError("; ".join(details) or None)


async def _handle(request: Request, exc: Exception) -> JSONResponse:
    error = error_for(exc)
    expected = ChatgateError | storage.StorageError | files.FileSpaceError
    if isinstance(error, errors.InternalError) and not isinstance(exc, expected):
        # A last resort: `RequestContextMiddleware` normally answers first (with the request id).
        logger.error("unhandled error: %s", type(exc).__name__)
    request.state.error_code = error.code
    return render(error)


async def _client_disconnected(_: Request, __: Exception) -> Response:
    # Nobody will read this; the status only marks the request log line.
    return Response(status_code=499)


def install_error_handlers(app: FastAPI) -> None:
    handled: tuple[type[Exception], ...] = (
        ChatgateError,
        storage.StorageError,
        files.FileSpaceError,
        RequestValidationError,
        StarletteHTTPException,
        Exception,
    )
    for kind in handled:
        app.add_exception_handler(kind, _handle)
    app.add_exception_handler(ClientDisconnectedError, _client_disconnected)
