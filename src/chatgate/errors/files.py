"""The catalogue's errors of the user's file space over HTTP (`/api/files`, attachments).

The whole catalogue, drawn as a tree, is in `chatgate.errors`.
"""

from __future__ import annotations

from chatgate.errors.base import ChatgateError


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
