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
    ├── ApprovalAlreadyAnsweredError          409 approval_already_answered (a replayed answer)
    ├── ApprovalsIncompleteError              409 approvals_incomplete (a streamed partial answer)
    ├── ApprovalStateInvalidError             409 approval_state_invalid (a paused run's state fails a check)
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

from chatgate.errors.availability import (
    AuthUnavailableError,
    DatabaseUnavailableError,
    DeadlineExceededError,
    DrainingError,
    EncryptionUnavailableError,
    MaxTurnsExceededError,
    ModelError,
    ModelNotConfiguredError,
    NotReadyError,
    RateLimitUnavailableError,
    SaturatedError,
    SchemaOutOfDateError,
    ToolServerUnavailableError,
)
from chatgate.errors.base import (
    ChatgateError,
    InternalError,
)
from chatgate.errors.files import (
    AlreadyExistsError,
    FileTooLargeError,
    InvalidPathError,
    NotEmptyError,
    QuotaExceededError,
    StorageUnavailableError,
    UnsafeEntryError,
    WrongKindError,
)
from chatgate.errors.requests import (
    ApprovalAlreadyAnsweredError,
    ApprovalsIncompleteError,
    ApprovalStateInvalidError,
    AuthenticationError,
    BadRequestError,
    ConversationBusyError,
    CorsHeadersNotAllowedError,
    CorsMethodNotAllowedError,
    CorsOriginNotAllowedError,
    CorsPrivateNetworkNotAllowedError,
    InvalidJsonError,
    InvalidRequestError,
    MethodNotAllowedError,
    MissingTokenError,
    NotFoundError,
    RateLimitedError,
    RequestTooLargeError,
)

__all__ = [
    "AlreadyExistsError",
    "ApprovalAlreadyAnsweredError",
    "ApprovalStateInvalidError",
    "ApprovalsIncompleteError",
    "AuthUnavailableError",
    "AuthenticationError",
    "BadRequestError",
    "ChatgateError",
    "ConversationBusyError",
    "CorsHeadersNotAllowedError",
    "CorsMethodNotAllowedError",
    "CorsOriginNotAllowedError",
    "CorsPrivateNetworkNotAllowedError",
    "DatabaseUnavailableError",
    "DeadlineExceededError",
    "DrainingError",
    "EncryptionUnavailableError",
    "FileTooLargeError",
    "InternalError",
    "InvalidJsonError",
    "InvalidPathError",
    "InvalidRequestError",
    "MaxTurnsExceededError",
    "MethodNotAllowedError",
    "MissingTokenError",
    "ModelError",
    "ModelNotConfiguredError",
    "NotEmptyError",
    "NotFoundError",
    "NotReadyError",
    "QuotaExceededError",
    "RateLimitUnavailableError",
    "RateLimitedError",
    "RequestTooLargeError",
    "SaturatedError",
    "SchemaOutOfDateError",
    "StorageUnavailableError",
    "ToolServerUnavailableError",
    "UnsafeEntryError",
    "WrongKindError",
]
