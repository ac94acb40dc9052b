"""The catalogue's errors of the request itself (4xx): its body, its token, what it names, how often.

The whole catalogue, drawn as a tree, is in `chatgate.errors`.
"""

from __future__ import annotations

from chatgate.errors.base import ChatgateError


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


class ApprovalAlreadyAnsweredError(ChatgateError):
    """An answer for a tool approval that was already answered (a replay): nothing was changed."""

    status_code = 409
    code = "approval_already_answered"
    default_message = "This approval was already answered; nothing was done again."


class ApprovalsIncompleteError(ChatgateError):
    """A streamed (`useChat`) answer left some approval of the paused step unanswered: nothing was
    recorded. `useChat` sends once every call is answered; a partial send is a client mistake."""

    status_code = 409
    code = "approvals_incomplete"
    default_message = "Answer every waiting approval of this step in one request; nothing was recorded."

    def __init__(self, waiting: int | None = None) -> None:
        message = None
        if waiting is not None:
            message = (
                f"{waiting} approval(s) of this step still wait for an answer: answer them all in one "
                "request (nothing was recorded)."
            )
        super().__init__(message)


class ApprovalStateInvalidError(ChatgateError):
    """The stored state of a paused run does not match its approvals (edited, or unreadable): nothing
    was run. A new message drops the paused run."""

    status_code = 409
    code = "approval_state_invalid"
    default_message = (
        "The stored state of this paused run failed its check, so nothing was run; send a new message "
        "to go on."
    )


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
