"""Files attached to a chat message (`useChat` file parts), saved into the user's file space.

    {"type": "file", "mediaType": "image/png", "filename": "cat.png", "url": "data:image/png;base64,…"}
      └─ parse_attachments(parts, limits)     decoded and checked, nothing stored yet:
                                              422 invalid_request (not a base64 data URL, bad name),
                                              413 file_too_large (over FILES_MAX_FILE_BYTES)
      └─ save_attachments(space, attachments) `uploads/<name>` (`<stem>-2<suffix>`, … when taken),
                                              atomic, quota-checked: 507 quota_exceeded
      └─ user_content(text, saved, vision)    the user item the model reads and the thread keeps:
                                              the text, one note per file naming its saved path
                                              (so the model's file tools can read it), and with
                                              AGENT_VISION each image as image input

The note is a content part of its own (`ATTACHED_NOTE`), never part of what the user typed, so a
restored thread shows it as the file part it was (`conversations.ui_messages`).
"""

from __future__ import annotations

import base64
import binascii
import re
from dataclasses import dataclass
from pathlib import PurePosixPath
from typing import Any

import anyio

from chatgate.config import Settings
from chatgate.errors import FileTooLargeError, InvalidRequestError, QuotaExceededError
from chatgate.files.errors import AlreadyExists, FileSpaceError, LimitExceeded
from chatgate.files.limits import FileLimits, human_bytes
from chatgate.files.space import FileSpace

UPLOADS = "uploads"
IMAGE_TYPES = frozenset({"image/png", "image/jpeg", "image/webp", "image/gif"})
MAX_ATTACHMENTS = 10
_DATA_URL = re.compile(r"^data:([\w.+-]+/[\w.+-]+)?((?:;[\w.+-]+=[\w.+-]+)*);base64,([A-Za-z0-9+/=\s]*)$")
_MEDIA_TYPE = re.compile(r"^[\w.+-]+/[\w.+-]+$")
# A note part: `[Attached file: uploads/cat.png (image/png, 1234 bytes)]`.
ATTACHED_NOTE = re.compile(r"^\[Attached file: (uploads/[^\n]+) \(([\w.+-]+/[\w.+-]+), (\d+) bytes\)\]$")


@dataclass(frozen=True)
class Attachment:
    """One decoded file part: its name (a plain file name), media type and bytes."""

    filename: str
    media_type: str
    data: bytes


@dataclass(frozen=True)
class SavedAttachment:
    """An attachment as saved: its path in the user's space (`uploads/…`)."""

    path: str
    media_type: str
    size: int
    data_url: str


def parse_attachments(parts: list[dict[str, Any]], limits: FileLimits) -> list[Attachment]:
    """The file parts of a message, decoded. Nothing is stored.

    Raises:
        InvalidRequestError: a part without a base64 `data:` URL, a bad media type, too many files.
        FileTooLargeError: a file over `limits.max_file_bytes`.
    """
    files = [part for part in parts if part.get("type") == "file"]
    if len(files) > MAX_ATTACHMENTS:
        raise InvalidRequestError(f"attach at most {MAX_ATTACHMENTS} files to one message.")
    attachments = []
    for index, part in enumerate(files, start=1):
        url = part.get("url")
        match = _DATA_URL.match(url) if isinstance(url, str) else None
        if match is None:
            raise InvalidRequestError(f"file {index}: 'url' must be a base64 data: URL.")
        try:
            data = base64.b64decode("".join(match.group(3).split()), validate=True)
        except (binascii.Error, ValueError):
            raise InvalidRequestError(f"file {index}: the data URL is not valid base64.") from None
        if len(data) > limits.max_file_bytes:
            raise FileTooLargeError(
                f"file {index}: larger than {human_bytes(limits.max_file_bytes)} (FILES_MAX_FILE_BYTES)."
            )
        media_type = str(part.get("mediaType") or match.group(1) or "application/octet-stream")
        if not _MEDIA_TYPE.fullmatch(media_type):
            raise InvalidRequestError(f"file {index}: 'mediaType' is not a media type.")
        attachments.append(Attachment(_plain_name(part.get("filename"), index), media_type.lower(), data))
    return attachments


def _plain_name(raw: object, index: int) -> str:
    """A file name without folders or control characters (the space refuses the rest)."""
    name = str(raw) if isinstance(raw, str) else ""
    name = name.replace("\\", "/").rsplit("/", 1)[-1]
    name = "".join(char for char in name if char.isprintable()).strip()
    return name if name not in ("", ".", "..") else f"attachment-{index}"


def save_attachments(space: FileSpace, attachments: list[Attachment]) -> list[SavedAttachment]:
    """Save each attachment under `uploads/` (a free name; atomic, size- and quota-checked).

    Blocking I/O: run it in a worker thread. Files saved before a failure stay saved.

    Raises:
        QuotaExceededError: the user's quota would be exceeded.
        InvalidRequestError: the space refuses the name (reserved, too long).
    """
    saved = []
    for attachment in attachments:
        path = PurePosixPath(UPLOADS, attachment.filename)
        for attempt in range(1, 1000):
            candidate = path if attempt == 1 else path.with_name(f"{path.stem}-{attempt}{path.suffix}")
            try:
                result = space.write(str(candidate), attachment.data, mode="create")
                break
            except AlreadyExists:
                continue
            except LimitExceeded:
                raise QuotaExceededError() from None
            except FileSpaceError as exc:
                raise InvalidRequestError(f"{attachment.filename}: {exc}") from None
        else:
            raise InvalidRequestError(f"{attachment.filename}: no free name under {UPLOADS}/.")
        encoded = base64.b64encode(attachment.data).decode("ascii")
        data_url = f"data:{attachment.media_type};base64,{encoded}"
        saved.append(SavedAttachment(result["path"], attachment.media_type, result["size"], data_url))
    return saved


def user_content(text: str, saved: list[SavedAttachment], *, vision: bool) -> list[dict[str, Any]]:
    """The user item's content: the text, a note per saved file, and with `vision` each image."""
    content: list[dict[str, Any]] = [{"type": "input_text", "text": text}]
    for file in saved:
        note = f"[Attached file: {file.path} ({file.media_type}, {file.size} bytes)]"
        content.append({"type": "input_text", "text": note})
        if vision and file.media_type in IMAGE_TYPES:
            content.append({"type": "input_image", "image_url": file.data_url, "detail": "auto"})
    return content


async def saved_user_item(
    settings: Settings, user_id: str, text: str, attachments: list[Attachment]
) -> dict[str, Any]:
    """Save `attachments` into `user_id`'s space (in a worker thread) and return the user item that
    asks `text` with them (`user_content`; images as image input with AGENT_VISION)."""
    space = FileSpace(settings.resolved_files_root, user_id, settings.files_limits)
    saved = await anyio.to_thread.run_sync(save_attachments, space, attachments)
    return {"role": "user", "content": user_content(text, saved, vision=settings.agent_vision)}
