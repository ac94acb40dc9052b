"""One user's file space: list, read, write, delete, move, search. Blocking I/O; no MCP types.

Every operation opens the space afresh and walks to its target with `walk` (no-follow, fd-relative).
Changes hold the user's write lock (`flock` on a reserved file in the space), which serializes
writers across this user's concurrent tool processes: quota checks are exact and appends do not
lose each other. Writes go to a temporary file in the target folder, are fsynced, then renamed over
the target and the folder fsynced: a reader sees the old content or the new, never a mix.
"""

from __future__ import annotations

import logging
import os
import stat
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, BinaryIO, Literal

from chatgate.files.encoding import space_dir_name
from chatgate.files.errors import (
    AlreadyExists,
    FileSpaceError,
    PathNotFound,
    PathRefused,
    StorageUnavailable,
    translated,
)
from chatgate.files.limits import (
    LIST_DEFAULT_ENTRIES,
    LIST_MAX_ENTRIES,
    MAX_DEPTH,
    FileLimits,
)
from chatgate.files.lock import write_lock
from chatgate.files.paths import parse_path
from chatgate.files.quota import check_quota, check_size, usage
from chatgate.files.reading import read_bytes, read_lines
from chatgate.files.search import SearchScope, search_tree
from chatgate.files.text import BINARY_SAMPLE_BYTES, looks_binary, media_type
from chatgate.files.walk import (
    closing_fd,
    describe_entry,
    existing_folders,
    fsync_dir,
    lstat_at,
    open_dir,
    open_file,
    open_file_below,
    open_space,
    require_plain_file,
    tree_height,
    walk_tree,
)
from chatgate.files.writing import replace_atomically, sweep_temp_files

logger = logging.getLogger(__name__)

WriteMode = Literal["create", "overwrite", "append"]
ReadUnit = Literal["lines", "bytes"]
WRITE_MODES = ("create", "overwrite", "append")


class FileSpace:
    """The files of one user: a folder below `root` named by a safe encoding of `user_id`."""

    def __init__(self, root: Path, user_id: str, limits: FileLimits | None = None) -> None:
        self.root = root
        self.dir_name = space_dir_name(user_id)
        self.limits = limits or FileLimits()

    # Reading ---------------------------------------------------------------------------------

    def list(self, path: str = ".", *, recursive: bool = False, limit: int | None = None) -> dict[str, Any]:
        """The entries of a folder (with `recursive`, of its whole tree), sorted, at most `limit`.

        Returns `{"path": str, "entries": [{"name": str (relative to path), "type": "file" | "folder"
        | ..., "size": int (bytes, files only), "modified": str (ISO 8601 UTC)}], "truncated"?: str}`.
        """
        rel = parse_path(path, allow_root=True)
        cap = max(1, min(limit or LIST_DEFAULT_ENTRIES, LIST_MAX_ENTRIES))
        entries: list[dict[str, Any]] = []
        result: dict[str, Any] = {"path": rel.display, "entries": entries}
        with self._opened() as space_fd, translated(rel.display):
            folder_fd = open_dir(space_fd, rel)
            try:
                for entry in walk_tree(folder_fd, rel, max_depth=MAX_DEPTH if recursive else 1):
                    if len(entries) == cap:
                        result["truncated"] = (
                            f"showing the first {cap} entries; list a subfolder or raise limit "
                            f"(up to {LIST_MAX_ENTRIES})"
                        )
                        break
                    entries.append(describe_entry(entry, rel))
            finally:
                os.close(folder_fd)
        return result

    def read(
        self, path: str, *, offset: int = 0, limit: int | None = None, unit: ReadUnit = "lines"
    ) -> dict[str, Any]:
        """The text of a file from `offset` (lines or bytes), at most `limit` and the read cap.

        Binary files are described (size, media type, first bytes), not returned.

        Returns `{"path": str, **read_lines or read_bytes}` (see `chatgate.files.reading`), or for a
        binary file `{"path", "binary": True, "size": int, "media_type": str, "first_bytes_hex": str,
        "note": str}`.
        """
        rel = parse_path(path)
        if offset < 0 or (limit is not None and limit < 1):
            raise FileSpaceError("offset must be 0 or more and limit 1 or more")
        if unit not in ("lines", "bytes"):
            raise FileSpaceError("unit must be 'lines' or 'bytes'")
        with self._opened() as space_fd, translated(rel.display):
            fd, st = open_file_below(space_fd, rel)
            try:
                head = os.pread(fd, BINARY_SAMPLE_BYTES, 0)
                if looks_binary(head):
                    return {
                        "path": rel.display,
                        "binary": True,
                        "size": st.st_size,
                        "media_type": media_type(rel.name),
                        "first_bytes_hex": head[:16].hex(),
                        "note": "binary content is not shown",
                    }
                reader = read_bytes if unit == "bytes" else read_lines
                body = reader(fd, st.st_size, offset, limit, self.limits.max_read_bytes)
            finally:
                os.close(fd)
        return {"path": rel.display, **body}

    def open_binary(self, path: str) -> tuple[BinaryIO, int]:
        """`path` opened for its raw bytes (checked like `read`), and its size; the caller closes it."""
        rel = parse_path(path)
        with self._opened() as space_fd, translated(rel.display):
            fd, st = open_file_below(space_fd, rel)
        return os.fdopen(fd, "rb"), st.st_size

    def search(
        self,
        query: str,
        path: str = ".",
        *,
        kind: Literal["substring", "glob"] = "substring",
        scope: SearchScope = "all",
        limit: int | None = None,
    ) -> dict[str, Any]:
        """Names and text lines below `path` matching `query`; bounded in results and bytes scanned.

        Returns what `chatgate.files.search.search_tree` returns.
        """
        rel = parse_path(path, allow_root=True)
        with self._opened() as space_fd, translated(rel.display):
            folder_fd = open_dir(space_fd, rel)
            try:
                return search_tree(
                    folder_fd, rel, query, kind=kind, scope=scope, limit=limit, limits=self.limits
                )
            finally:
                os.close(folder_fd)

    def usage(self) -> dict[str, int]:
        """Bytes and entries (files and folders) in the space, against the quota."""
        with self._opened() as space_fd:
            used_bytes, used_entries = usage(space_fd, sweep=False)
        return {
            "bytes": used_bytes,
            "entries": used_entries,
            "quota_bytes": self.limits.quota_bytes,
            "quota_files": self.limits.quota_files,
        }

    # Changing --------------------------------------------------------------------------------

    def write(self, path: str, content: str | bytes, *, mode: WriteMode = "create") -> dict[str, Any]:
        """Write text (or raw bytes: uploads) to a file atomically, creating missing folders.

        Returns `{"path": str, "size": int (bytes after the write), "created": bool}`.

        `create` refuses an existing file; `overwrite` replaces or creates; `append` adds or creates.
        Size and quota are checked before anything is written; on any failure the old content stays.
        """
        rel = parse_path(path)
        if mode not in WRITE_MODES:
            raise FileSpaceError("mode must be create, overwrite or append")
        try:
            data = content if isinstance(content, bytes) else content.encode("utf-8")
        except UnicodeEncodeError:
            raise FileSpaceError("the content is not valid unicode text; nothing was written") from None
        check_size(self.limits, rel, len(data))
        with self._locked() as space_fd, translated(rel.display):
            missing = len(rel.parent.parts) - existing_folders(space_fd, rel.parent)
            found = None
            if not missing:
                with closing_fd(open_dir(space_fd, rel.parent)) as parent_fd:
                    found = lstat_at(parent_fd, rel.name)
            if found is not None:
                require_plain_file(found, rel)
                if mode == "create":
                    raise AlreadyExists(f"{rel.display} already exists; use mode overwrite or append")
            old_size = found.st_size if found is not None else 0
            new_size = old_size + len(data) if mode == "append" else len(data)
            check_size(self.limits, rel, new_size)
            check_quota(self.limits, space_fd, rel, new_size - old_size, missing + (found is None))
            with closing_fd(open_dir(space_fd, rel.parent, create=True)) as parent_fd:
                if mode == "append" and found is not None:
                    old_fd, _ = open_file(parent_fd, rel)
                    with closing_fd(old_fd):
                        new_size = replace_atomically(parent_fd, rel, data, self.limits, prefix_fd=old_fd)
                else:
                    new_size = replace_atomically(parent_fd, rel, data, self.limits)
        return {"path": rel.display, "size": new_size, "created": found is None}

    def delete(self, path: str) -> dict[str, Any]:
        """Delete a file or an empty folder; never the root of the space.

        Returns `{"deleted": str (the path), "type": "file" | "folder"}`.
        """
        rel = parse_path(path)
        with (
            self._locked() as space_fd,
            translated(rel.display),
            closing_fd(open_dir(space_fd, rel.parent)) as parent_fd,
        ):
            found = lstat_at(parent_fd, rel.name)
            if found is None:
                raise PathNotFound(f"{rel.display} was not found")
            if stat.S_ISDIR(found.st_mode):
                sweep_temp_files(parent_fd, rel.name)
                os.rmdir(rel.name, dir_fd=parent_fd)
                kind = "folder"
            else:
                require_plain_file(found, rel)
                os.unlink(rel.name, dir_fd=parent_fd)
                kind = "file"
            fsync_dir(parent_fd)
        return {"deleted": rel.display, "type": kind}

    def move(self, source: str, destination: str) -> dict[str, Any]:
        """Move or rename a file or folder within the space; never over an existing entry.

        Returns `{"moved": str (the source path), "to": str (the destination path)}`.
        """
        src, dst = parse_path(source), parse_path(destination)
        if dst.is_within(src):
            raise PathRefused(f"cannot move {src.display} to {dst.display}: that is inside itself")
        with (
            self._locked() as space_fd,
            translated(src.display),
            closing_fd(open_dir(space_fd, src.parent)) as src_parent,
        ):
            found = lstat_at(src_parent, src.name)
            if found is None:
                raise PathNotFound(f"{src.display} was not found")
            if stat.S_ISDIR(found.st_mode):
                if len(dst.parts) + tree_height(src_parent, src) > MAX_DEPTH:
                    raise PathRefused(f"moving {src.display} there would nest folders over {MAX_DEPTH} deep")
            else:
                require_plain_file(found, src)
            with translated(dst.display):
                missing = len(dst.parent.parts) - existing_folders(space_fd, dst.parent)
                check_quota(self.limits, space_fd, dst, 0, missing)
                with closing_fd(open_dir(space_fd, dst.parent, create=True)) as dst_parent:
                    if lstat_at(dst_parent, dst.name) is not None:
                        raise AlreadyExists(f"{dst.display} already exists")
                    os.rename(src.name, dst.name, src_dir_fd=src_parent, dst_dir_fd=dst_parent)
                    fsync_dir(dst_parent)
            fsync_dir(src_parent)
        return {"moved": src.display, "to": dst.display}

    # Internals -------------------------------------------------------------------------------

    @contextmanager
    def _opened(self) -> Iterator[int]:
        try:
            space_fd = open_space(self.root, self.dir_name)
        except OSError as exc:
            logger.warning("cannot open a file space: errno=%s", exc.errno)
            raise StorageUnavailable("your file space is not available right now") from exc
        try:
            yield space_fd
        finally:
            os.close(space_fd)

    @contextmanager
    def _locked(self) -> Iterator[int]:
        """The open space with this user's write lock held."""
        with self._opened() as space_fd, write_lock(space_fd):
            yield space_fd
