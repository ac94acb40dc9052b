"""The service's exceptions: each carries the HTTP status and stable code it maps to.

    ChatgateError
    ├── AuthenticationError        401  invalid_token / missing_token (with WWW-Authenticate)
    ├── AuthUnavailableError       503  auth_unavailable (keys could not be fetched, or not yet refetched)
    ├── NotFoundError              404  not_found
    ├── ConflictError              409  conflict
    ├── RequestTooLargeError       413  request_too_large
    ├── InvalidRequestError        422  invalid_request
    ├── ModelNotConfiguredError    503  model_not_configured
    ├── ModelError                 502  model_error
    ├── ToolServerUnavailableError 503  tool_server_unavailable
    ├── SaturatedError             503  saturated (with Retry-After)
    ├── RateLimitedError           429  rate_limited (with Retry-After)
    ├── RateLimitUnavailableError  503  rate_limit_unavailable (Redis down, RATE_LIMIT_FAIL_CLOSED=true)
    ├── DrainingError              503  draining (the instance is shutting down; with Retry-After)
    ├── EncryptionUnavailableError 503  encryption_unavailable (no usable CHATGATE_ENCRYPTION_KEY)
    ├── SchemaOutOfDateError       503  schema_out_of_date (the database needs `chatgate db upgrade`)
    └── DeadlineExceededError      504  deadline_exceeded

Routes and services raise these; `chatgate.api.error_handlers` renders every one as
`{"error": {"code": …, "message": …}}`. Messages are written for humans and never carry secrets,
stack traces or upstream error text.
"""

from __future__ import annotations

from collections.abc import Mapping


class ChatgateError(Exception):
    """Base of every error that becomes an HTTP response."""

    status_code = 500
    code = "internal_error"
    default_message = "Something went wrong on our side."

    def __init__(self, message: str | None = None, *, headers: Mapping[str, str] | None = None) -> None:
        self.message = message or self.default_message
        self.headers = dict(headers or {})
        super().__init__(self.message)


class AuthenticationError(ChatgateError):
    """A refused token. `reason` is a stable word for the log line (the message is for the caller):
    `missing_token`, `scheme`, `malformed`, `algorithm`, `unknown_key`, `signature`, `expired`,
    `not_yet_valid`, `issuer`, `audience`, `missing_claim`, `user_id`.
    The reason is also the auth-failure metric's label (a fixed set, never token data)."""

    status_code = 401
    code = "invalid_token"
    default_message = "The bearer token is missing, malformed, expired or not signed by a trusted key."

    def __init__(
        self,
        message: str | None = None,
        *,
        code: str | None = None,
        reason: str = "malformed",
        detail: str | None = None,
    ) -> None:
        if code is not None:
            self.code = code
        self.reason = reason
        # For the log line only (say, the issuer the token named): never sent to the caller.
        self.detail = detail
        super().__init__(message)
        description = self.message.replace('"', "'")
        challenge = 'Bearer realm="chatgate"'
        if self.code != "missing_token":
            challenge += f', error="invalid_token", error_description="{description}"'
        self.headers["WWW-Authenticate"] = challenge


class AuthUnavailableError(ChatgateError):
    """The token could not be checked: the issuer's keys are unreachable, or the token names a key
    that a refetch may bring but the refetch budget allows only in `retry_after_seconds`."""

    status_code = 503
    code = "auth_unavailable"
    default_message = "The identity provider's signing keys could not be fetched; try again shortly."

    def __init__(self, message: str | None = None, *, retry_after_seconds: int = 5) -> None:
        super().__init__(message, headers={"Retry-After": str(max(1, retry_after_seconds))})


class NotFoundError(ChatgateError):
    status_code = 404
    code = "not_found"
    default_message = "Not found."


class ConflictError(ChatgateError):
    status_code = 409
    code = "conflict"
    default_message = "The request conflicts with one in progress."


class RequestTooLargeError(ChatgateError):
    status_code = 413
    code = "request_too_large"
    default_message = "The request body is too large."


class InvalidRequestError(ChatgateError):
    status_code = 422
    code = "invalid_request"
    default_message = "The request is invalid."


class ModelNotConfiguredError(ChatgateError):
    status_code = 503
    code = "model_not_configured"
    default_message = (
        "No model is configured: set OPENAI_API_KEY (OpenAI) or OPENAI_BASE_URL "
        "(an OpenAI-compatible server such as Ollama, vLLM or LiteLLM), and AGENT_MODEL."
    )


class ModelError(ChatgateError):
    status_code = 502
    code = "model_error"
    default_message = "The model endpoint failed or could not be reached."


class ToolServerUnavailableError(ChatgateError):
    status_code = 503
    code = "tool_server_unavailable"
    default_message = "The tool server could not be started; try again shortly."

    def __init__(self, message: str | None = None) -> None:
        super().__init__(message, headers={"Retry-After": "1"})


class SaturatedError(ChatgateError):
    status_code = 503
    code = "saturated"
    default_message = "Too many conversations are running right now; try again shortly."

    def __init__(self, message: str | None = None, *, retry_after_seconds: int = 1) -> None:
        super().__init__(message, headers={"Retry-After": str(retry_after_seconds)})


class DeadlineExceededError(ChatgateError):
    status_code = 504
    code = "deadline_exceeded"
    default_message = "The agent did not finish within the time limit."


class EncryptionUnavailableError(ChatgateError):
    status_code = 503
    code = "encryption_unavailable"
    default_message = (
        "Per-user API credentials are unavailable: the operator has not configured a valid "
        "CHATGATE_ENCRYPTION_KEY."
    )


class SchemaOutOfDateError(ChatgateError):
    """The database schema is not the one this version needs. Only an operator can fix it (no
    `Retry-After`: retrying cannot help until `chatgate db upgrade` has run)."""

    status_code = 503
    code = "schema_out_of_date"
    default_message = (
        "The service database is not at the schema this version needs; an operator must run "
        "`chatgate db upgrade` (or set CHATGATE_AUTO_MIGRATE=true)."
    )


class RateLimitedError(ChatgateError):
    """`limit` says which per-user limit refused: `per_minute` or `concurrent`."""

    status_code = 429
    code = "rate_limited"
    default_message = "Too many chats; try again later."

    def __init__(self, message: str | None = None, *, limit: str, retry_after_seconds: int = 1) -> None:
        self.limit = limit
        super().__init__(message, headers={"Retry-After": str(max(1, retry_after_seconds))})


class RateLimitUnavailableError(ChatgateError):
    status_code = 503
    code = "rate_limit_unavailable"
    default_message = "The rate limiter is unavailable; try again shortly."

    def __init__(self, message: str | None = None) -> None:
        super().__init__(message, headers={"Retry-After": "5"})


class DrainingError(ChatgateError):
    status_code = 503
    code = "draining"
    default_message = "This instance is shutting down; retry and another instance will answer."

    def __init__(self, message: str | None = None, *, retry_after_seconds: int = 1) -> None:
        super().__init__(message, headers={"Retry-After": str(max(1, retry_after_seconds))})
