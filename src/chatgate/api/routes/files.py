"""`/api/files`: the caller's own file space over HTTP — list, download, upload, delete.

The same `chatgate.files` service the file tools use, on the same folder and under the same limits:
paths are checked there (no `..`, no absolute paths, no symlinks followed), writes are atomic, size
and quota are enforced. Errors map to statuses in `chatgate.api.error_handlers` (422 `invalid_path`,
404, 403 `unsafe_entry`, 409, 413 `file_too_large`, 507 `quota_exceeded`).

The file space is blocking I/O: every call runs in a worker thread, never on the event loop.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Annotated, BinaryIO
from urllib.parse import quote

from fastapi import APIRouter, Path, Query, Request, Response
from fastapi.responses import StreamingResponse
from pydantic import BaseModel
from starlette.background import BackgroundTask
from starlette.concurrency import run_in_threadpool

from chatgate.api.deps import UserFiles
from chatgate.api.schemas import ErrorResponse
from chatgate.errors import FileTooLargeError
from chatgate.files.limits import LIST_MAX_ENTRIES, human_bytes
from chatgate.files.paths import parse_path
from chatgate.files.text import media_type

PREFIX = "/api/files"
router = APIRouter(prefix=PREFIX, tags=["files"])

_ERRORS: dict[int | str, dict[str, object]] = {
    status: {"model": ErrorResponse} for status in (401, 403, 404, 409, 413, 422, 503, 507)
}
_CHUNK_BYTES = 64 * 1024
FilePath = Annotated[str, Path(description="A path relative to your files, like notes/todo.md.")]


class FileEntry(BaseModel):
    name: str
    type: str  # file, folder, or why it is off limits: symlink, hardlink, special
    size: int | None = None
    modified: str | None = None


class FileListing(BaseModel):
    path: str
    entries: list[FileEntry]
    truncated: str | None = None


class FileWritten(BaseModel):
    path: str
    size: int
    created: bool


@router.get("", response_model=FileListing, response_model_exclude_none=True, responses=_ERRORS)
async def list_files(
    files: UserFiles,
    path: Annotated[str, Query(max_length=4096)] = ".",
    recursive: bool = False,
    limit: Annotated[int | None, Query(ge=1, le=LIST_MAX_ENTRIES)] = None,
) -> FileListing:
    """List a folder of your files (the top by default; with `recursive`, its whole tree), sorted."""
    listing = await run_in_threadpool(files.list, path or ".", recursive=recursive, limit=limit)
    return FileListing(**listing)


@router.get(
    "/{path:path}",
    response_class=StreamingResponse,
    responses={**_ERRORS, 200: {"content": {"application/octet-stream": {}}}},
)
async def download_file(path: FilePath, files: UserFiles) -> StreamingResponse:
    """Download one of your files as it is stored, as an attachment."""
    handle, size = await run_in_threadpool(files.open_binary, path)
    name = parse_path(path).name
    headers = {
        "content-length": str(size),
        "content-disposition": attachment(name),
        # The body is the user's (or the model's) bytes: never sniffed, scripted or cached as a page
        # of this origin, whatever its name says.
        "x-content-type-options": "nosniff",
        "content-security-policy": "default-src 'none'; sandbox",
        "cache-control": "private, no-store",
    }
    return StreamingResponse(
        _chunks(handle), media_type=media_type(name), headers=headers, background=BackgroundTask(handle.close)
    )


@router.put("/{path:path}", response_model=FileWritten, status_code=201, responses=_ERRORS)
async def upload_file(path: FilePath, request: Request, response: Response, files: UserFiles) -> FileWritten:
    """Store the raw request body as one of your files (replacing it if it exists), atomically.

    201 when the file is new, 200 when it replaced one. Over `FILES_MAX_FILE_BYTES` is 413 and over
    the quota 507; either way nothing is stored.
    """
    parse_path(path)  # a bad path is refused before the body is read
    limit = files.limits.max_file_bytes
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        raise _too_large(limit)
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > limit:
            raise _too_large(limit)
    written = await run_in_threadpool(files.write, path, bytes(body), mode="overwrite")
    if not written["created"]:
        response.status_code = 200
    return FileWritten(**written)


@router.delete("/{path:path}", status_code=204, response_class=Response, responses=_ERRORS)
async def delete_file(path: FilePath, files: UserFiles) -> Response:
    """Delete one of your files, or an empty folder."""
    await run_in_threadpool(files.delete, path)
    return Response(status_code=204)


def attachment(name: str) -> str:
    """`Content-Disposition` for `name`: a plain-ASCII fallback and the exact UTF-8 name (RFC 6266)."""
    fallback = "".join(ch if 0x20 <= ord(ch) < 0x7F and ch not in '"\\' else "_" for ch in name)
    return f"attachment; filename=\"{fallback}\"; filename*=UTF-8''{quote(name, safe='')}"


def _chunks(handle: BinaryIO) -> Iterator[bytes]:
    # A plain iterator: Starlette runs it in a worker thread, so the reads do not block the loop.
    with handle:
        while chunk := handle.read(_CHUNK_BYTES):
            yield chunk


def _too_large(limit: int) -> FileTooLargeError:
    return FileTooLargeError(
        f"the upload is over the {human_bytes(limit)} limit per file; nothing was written"
    )
