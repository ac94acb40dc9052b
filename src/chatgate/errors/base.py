"""The base of the catalogue: `ChatgateError` (status, code, Retry-After policy) and `InternalError`.

The whole catalogue, drawn as a tree, is in `chatgate.errors`.
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
