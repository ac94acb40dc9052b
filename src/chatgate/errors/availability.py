"""The catalogue's errors of what a request depends on (5xx): the model, tool servers, auth, storage, drain.

The whole catalogue, drawn as a tree, is in `chatgate.errors`.
"""

from __future__ import annotations

from chatgate.errors.base import ChatgateError


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
