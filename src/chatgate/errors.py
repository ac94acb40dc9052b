"""The error catalogue: every error the HTTP API answers with is one class here, carrying its status,
its stable `error.code` and its `Retry-After` policy.

    ChatgateError                             500 internal_error (the base; what an unexpected failure shows)
    ├── InternalError                         500 internal_error
    ├── InvalidJsonError                      400 invalid_json
    ├── BadRequestError                       400 bad_request (a body the framework could not parse)
    ├── CorsOriginNotAllowedError             400 cors_origin_not_allowed
    ├── CorsMethodNotAllowedError             400 cors_method_not_allowed
    ├── CorsHeadersNotAllowedError            400 cors_headers_not_allowed
    ├── CorsPrivateNetworkNotAllowedError     400 cors_private_network_not_allowed
    ├── AuthenticationError                   401 invalid_token (WWW-Authenticate)
    │   └── MissingTokenError                 401 missing_token (WWW-Authenticate)
    ├── UnsafeEntryError                      403 unsafe_entry (a link or special file: /api/files)
    ├── NotFoundError                         404 not_found
    ├── MethodNotAllowedError                 405 method_not_allowed
    ├── ConversationBusyError                 409 conversation_busy (Retry-After 2)
    ├── AlreadyExistsError                    409 already_exists (/api/files)
    ├── WrongKindError                        409 wrong_kind (a folder for a file, or back: /api/files)
    ├── NotEmptyError                         409 not_empty (/api/files)
    ├── RequestTooLargeError                  413 request_too_large
    ├── FileTooLargeError                     413 file_too_large (over FILES_MAX_FILE_BYTES: /api/files)
    ├── InvalidRequestError                   422 invalid_request
    ├── InvalidPathError                      422 invalid_path (/api/files)
    ├── RateLimitedError                      429 rate_limited (Retry-After: the limiter's wait, at least 1)
    ├── ModelError                            502 model_error
    │   └── MaxTurnsExceededError             502 max_turns_exceeded
    ├── ModelNotConfiguredError               503 model_not_configured
    ├── ToolServerUnavailableError            503 tool_server_unavailable (Retry-After 1)
    ├── SaturatedError                        503 saturated (Retry-After 1, or the admission wait)
    ├── AuthUnavailableError                  503 auth_unavailable (Retry-After 5, or the refetch budget)
    ├── DatabaseUnavailableError              503 database_unavailable (Retry-After 2)
    ├── StorageUnavailableError               503 storage_unavailable (the file storage: /api/files)
    ├── EncryptionUnavailableError            503 encryption_unavailable (no usable CHATGATE_ENCRYPTION_KEY)
    ├── NotReadyError                         503 not_ready (Retry-After 5)
    ├── DrainingError                         503 draining (Retry-After 1, or the drain's)
    ├── RateLimitUnavailableError             503 rate_limit_unavailable (Retry-After 5)
    ├── SchemaOutOfDateError                  503 schema_out_of_date (no Retry-After: operators fix it)
    ├── DeadlineExceededError                 504 deadline_exceeded
    └── QuotaExceededError                    507 quota_exceeded (the user's file quota: /api/files)

Routes and services raise these; errors of lower layers (storage, the file space, the framework's own 404/405,
request validation) are translated into them by `chatgate.api.error_handlers`, which renders every
one as `{"error": {"code": …, "message": …}}`. Messages are written for humans and never carry
secrets, stack traces or upstream error text.
"""

from __future__ import annotations

from typing import ClassVar


class ChatgateError(Exception):
    """Base of every error that becomes an HTTP response.

    `retry_after` is the class's `Retry-After` policy in seconds (None: never sent); classes with a
    policy accept `retry_after_seconds` to say how long this particular refusal lasts (at least 1).
    """

    status_code: ClassVar[int] = 500
    code: ClassVar[str] = "internal_error"
    default_message: ClassVar[str] = "Something went wrong on our side."
    retry_after: ClassVar[int | None] = None

    def __init__(self, message: str | None = None, *, retry_after_seconds: int | None = None) -> None:
        self.message = message or self.default_message
        self.headers: dict[str, str] = {}
        if retry_after_seconds is not None and self.retry_after is None:
            raise TypeError(f"{type(self).__name__} never sends Retry-After")
        seconds = retry_after_seconds if retry_after_seconds is not None else self.retry_after
        if seconds is not None:
            self.headers["Retry-After"] = str(max(1, seconds))
        super().__init__(self.message)


class InternalError(ChatgateError):
    """An unexpected failure: the response says nothing about it (the log says where)."""

    status_code = 500
    code = "internal_error"


class InvalidJsonError(ChatgateError):
    status_code = 400
    code = "invalid_json"
    default_message = "The request body is not valid JSON."


class BadRequestError(ChatgateError):
    status_code = 400
    code = "bad_request"
    default_message = "There was an error parsing the body"


class CorsOriginNotAllowedError(ChatgateError):
    status_code = 400
    code = "cors_origin_not_allowed"
    default_message = "This origin may not call the API (CORS_ORIGINS)."


class CorsMethodNotAllowedError(ChatgateError):
    status_code = 400
    code = "cors_method_not_allowed"
    default_message = "CORS does not allow this method."


class CorsHeadersNotAllowedError(ChatgateError):
    status_code = 400
    code = "cors_headers_not_allowed"
    default_message = "CORS does not allow these request headers."


class CorsPrivateNetworkNotAllowedError(ChatgateError):
    status_code = 400
    code = "cors_private_network_not_allowed"
    default_message = "Private-network access is not allowed."


class AuthenticationError(ChatgateError):
    """A refused token. `reason` is a stable word for the log line (the message is for the caller):
    `missing_token`, `scheme`, `malformed`, `algorithm`, `unknown_key`, `signature`, `expired`,
    `not_yet_valid`, `issuer`, `audience`, `missing_claim`, `user_id`.
    The reason is also the auth-failure metric's label (a fixed set, never token data)."""

    status_code = 401
    code = "invalid_token"
    default_message = "The bearer token is missing, malformed, expired or not signed by a trusted key."

    def __init__(
        self, message: str | None = None, *, reason: str = "malformed", detail: str | None = None
    ) -> None:
        self.reason = reason
        # For the log line only (say, the issuer the token named): never sent to the caller.
        self.detail = detail
        super().__init__(message)
        description = self.message.replace('"', "'")
        challenge = 'Bearer realm="chatgate"'
        if self.code != MissingTokenError.code:
            challenge += f', error="invalid_token", error_description="{description}"'
        self.headers["WWW-Authenticate"] = challenge


class MissingTokenError(AuthenticationError):
    """No credentials at all: the challenge names the scheme and nothing else (RFC 6750 §3)."""

    code = "missing_token"


class NotFoundError(ChatgateError):
    status_code = 404
    code = "not_found"
    default_message = "Not found."


# The file space's refusals (`chatgate.files`, translated for /api/files): their messages are the
# file space's own, which name only the caller's relative path.


class UnsafeEntryError(ChatgateError):
    status_code = 403
    code = "unsafe_entry"
    default_message = "A symbolic link, hard-linked file or special file is on that path; it is never used."


class AlreadyExistsError(ChatgateError):
    status_code = 409
    code = "already_exists"
    default_message = "Something already exists at that path."


class WrongKindError(ChatgateError):
    status_code = 409
    code = "wrong_kind"
    default_message = "A folder where a file was expected, or the other way round."


class NotEmptyError(ChatgateError):
    status_code = 409
    code = "not_empty"
    default_message = "The folder is not empty."


class FileTooLargeError(ChatgateError):
    status_code = 413
    code = "file_too_large"
    default_message = "The file is over the size limit per file (FILES_MAX_FILE_BYTES); nothing was written."


class InvalidPathError(ChatgateError):
    status_code = 422
    code = "invalid_path"
    default_message = "The path is not acceptable."


class StorageUnavailableError(ChatgateError):
    status_code = 503
    code = "storage_unavailable"
    default_message = "The file storage is not available right now."


class QuotaExceededError(ChatgateError):
    status_code = 507
    code = "quota_exceeded"
    default_message = "Your files would be over your quota; nothing was written."


class MethodNotAllowedError(ChatgateError):
    status_code = 405
    code = "method_not_allowed"
    default_message = "Method Not Allowed"


class ConversationBusyError(ChatgateError):
    """Another message to this conversation is still being answered."""

    status_code = 409
    code = "conversation_busy"
    default_message = "a message to this conversation is still being answered; wait for it to finish"
    retry_after = 2


class RequestTooLargeError(ChatgateError):
    status_code = 413
    code = "request_too_large"
    default_message = "The request body is too large."


class InvalidRequestError(ChatgateError):
    status_code = 422
    code = "invalid_request"
    default_message = "The request is invalid."


class RateLimitedError(ChatgateError):
    """`limit` says which per-user limit refused: `per_minute` or `concurrent`."""

    status_code = 429
    code = "rate_limited"
    default_message = "Too many chats; try again later."
    retry_after = 1

    def __init__(
        self, message: str | None = None, *, limit: str, retry_after_seconds: int | None = None
    ) -> None:
        self.limit = limit
        super().__init__(message, retry_after_seconds=retry_after_seconds)


class ModelError(ChatgateError):
    status_code = 502
    code = "model_error"
    default_message = "The model endpoint failed or could not be reached."


class MaxTurnsExceededError(ModelError):
    code = "max_turns_exceeded"
    default_message = "The agent did not reach an answer within AGENT_MAX_TURNS turns."


class ModelNotConfiguredError(ChatgateError):
    status_code = 503
    code = "model_not_configured"
    default_message = (
        "No model is configured: set OPENAI_API_KEY (OpenAI) or OPENAI_BASE_URL "
        "(an OpenAI-compatible server such as Ollama, vLLM or LiteLLM), and AGENT_MODEL."
    )


class ToolServerUnavailableError(ChatgateError):
    status_code = 503
    code = "tool_server_unavailable"
    default_message = "The tool server could not be started; try again shortly."
    retry_after = 1


class SaturatedError(ChatgateError):
    status_code = 503
    code = "saturated"
    default_message = "Too many conversations are running right now; try again shortly."
    retry_after = 1


class AuthUnavailableError(ChatgateError):
    """The token could not be checked: the issuer's keys are unreachable, or the token names a key
    that a refetch may bring but the refetch budget allows only in `retry_after_seconds`."""

    status_code = 503
    code = "auth_unavailable"
    default_message = "The identity provider's signing keys could not be fetched; try again shortly."
    retry_after = 5


class DatabaseUnavailableError(ChatgateError):
    """The database failed (`chatgate.storage.DatabaseUnavailableError`, translated); nothing was changed."""

    status_code = 503
    code = "database_unavailable"
    default_message = "the database could not complete the request; nothing was changed, try again"
    retry_after = 2


class EncryptionUnavailableError(ChatgateError):
    status_code = 503
    code = "encryption_unavailable"
    default_message = (
        "Per-user API credentials are unavailable: the operator has not configured a valid "
        "CHATGATE_ENCRYPTION_KEY."
    )


class NotReadyError(ChatgateError):
    """`/readyz`: this instance cannot launch a tool server right now."""

    status_code = 503
    code = "not_ready"
    default_message = "A tool server could not be launched; see the service logs."
    retry_after = 5


class DrainingError(ChatgateError):
    status_code = 503
    code = "draining"
    default_message = "This instance is shutting down; retry and another instance will answer."
    retry_after = 1


class RateLimitUnavailableError(ChatgateError):
    status_code = 503
    code = "rate_limit_unavailable"
    default_message = "The rate limiter is unavailable; try again shortly."
    retry_after = 5


class SchemaOutOfDateError(ChatgateError):
    """The database schema is not the one this version needs. Only an operator can fix it (no
    `Retry-After`: retrying cannot help until `chatgate db upgrade` has run)."""

    status_code = 503
    code = "schema_out_of_date"
    default_message = (
        "The service database is not at the schema this version needs; an operator must run "
        "`chatgate db upgrade` (or set CHATGATE_AUTO_MIGRATE=true)."
    )


class DeadlineExceededError(ChatgateError):
    status_code = 504
    code = "deadline_exceeded"
    default_message = "The agent did not finish within the time limit."
