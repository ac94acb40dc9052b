"""Landlock rules of a tool server: which files it may read or write, which TCP ports it may reach.

Applied with `landlockpy` (pure ctypes over the three Landlock syscalls; typed; knows every ABI up
to 11). A ruleset *handles* access rights, which are then denied everywhere except beneath the paths
and on the ports granted back. Landlock binds root too, and a Landlocked process can neither trace
nor (with scoping) signal processes outside its own domain.

Enforcement applies to the calling thread and the threads and processes it creates afterwards
(kernels before Landlock ABI 8 cannot enforce on sibling threads), which is why `contain` insists
on running while the tool server has one thread.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterable
from pathlib import Path

logger = logging.getLogger(__name__)

try:  # Linux-only at import time: `landlockpy` loads libc through ctypes.
    import landlockpy
    from landlockpy import AccessFS, AccessNet, Scope
except (ImportError, OSError):  # pragma: no cover - non-Linux platforms
    landlockpy = None  # type: ignore[assignment]


def abi_version() -> int:
    """The kernel's Landlock ABI version; 0 when Landlock is unavailable."""
    if landlockpy is None:  # pragma: no cover - non-Linux platforms
        return 0
    try:
        return landlockpy.abi_version()
    except OSError:  # pragma: no cover - seccomp'd or exotic environments
        return 0


def _read_access() -> tuple[AccessFS, AccessFS]:
    # (for a directory, for a single file): reading a file or listing a folder, never executing.
    return AccessFS.READ_FILE | AccessFS.READ_DIR, AccessFS.READ_FILE


def enforce(
    *,
    read_only: Iterable[tuple[str, bool]],
    read_write_files: Iterable[str],
    user_dir: Path | None,
    tcp_ports: Iterable[int],
    allow_unix_sockets: bool,
) -> None:
    """Enforce a ruleset on the calling thread; everything not granted here is denied.

    Args:
        read_only: (path, is_directory) pairs readable beneath (code, libraries, configuration).
        read_write_files: single files that may be read and written, not created or removed
            (`/dev/null`, the SQLite database and its WAL files).
        user_dir: the bound user's folder: read, write, create and remove beneath it; no links
            out, no device or FIFO nodes, no execution. None when no files root is configured.
        tcp_ports: the only TCP ports `connect` may reach; binding any port is denied.
        allow_unix_sockets: keep connecting to Unix-domain socket paths possible (a database
            reached through one); denied otherwise on kernels that can (ABI 9).

    Raises:
        OSError: a rule or the enforcement failed (the caller decides whether that is fatal).
    """
    if landlockpy is None:  # pragma: no cover - non-Linux platforms
        raise OSError("Landlock is not available on this platform")
    handled_fs = landlockpy.fs_for_abi(landlockpy.abi_version())
    if allow_unix_sockets:
        handled_fs &= ~AccessFS.RESOLVE_UNIX
    # UDP (ABI 10) is deliberately not handled: name resolution needs it, and TCP is what reaches services.
    handled_net = AccessNet.BIND_TCP | AccessNet.CONNECT_TCP
    directory_read, file_read = _read_access()
    with landlockpy.Ruleset(
        handled_fs=handled_fs,
        handled_net=handled_net,
        scoped=Scope.SIGNAL | Scope.ABSTRACT_UNIX_SOCKET,
        best_effort=True,  # rights this kernel lacks are dropped; `KernelSupport` says which
    ) as ruleset:
        for path, is_directory in read_only:
            ruleset.allow_path(path, directory_read if is_directory else file_read)
        for path in read_write_files:
            ruleset.allow_path(path, AccessFS.READ_FILE | AccessFS.WRITE_FILE | AccessFS.TRUNCATE)
        if user_dir is not None:
            ruleset.allow_path(
                user_dir,
                AccessFS.READ_FILE
                | AccessFS.WRITE_FILE
                | AccessFS.READ_DIR
                | AccessFS.REMOVE_DIR
                | AccessFS.REMOVE_FILE
                | AccessFS.MAKE_DIR
                | AccessFS.MAKE_REG
                | AccessFS.TRUNCATE
                | AccessFS.REFER,  # files_move between the user's own folders
            )
        if ruleset.handled_net:
            for port in sorted(set(tcp_ports)):
                ruleset.allow_port(port, AccessNet.CONNECT_TCP)
        ruleset.restrict()  # also sets no_new_privs


def path_kind(path: str) -> bool | None:
    """True for a directory, False for anything else that exists, None when `path` does not exist."""
    try:
        return os.path.isdir(path) if os.path.exists(path) else None  # noqa: PTH110, PTH112
    except OSError:
        return None
