"""Landlock rules of a tool server: which files it may read or write, which TCP ports it may reach.

Built on `landlockpy` (pure ctypes over the three Landlock syscalls; typed; knows every ABI up to
11). A ruleset *handles* access rights, which are then denied everywhere except beneath the paths
and on the ports granted back. Landlock binds root too, and a Landlocked process can neither trace
nor (with scoping) signal processes outside its own domain.

The rules are worked out once, as plain integers, from `landlockpy`'s public flags (`prepare`); each
child then makes them with `landlockpy`'s syscall layer (`landlockpy._syscall`, pinned below 0.3).
Its public `Ruleset` computes `IntFlag` values per rule, which in a freshly forked child costs about
0.4 ms, close to half of the sandbox's whole budget (measured: 0.67 ms against 0.26 ms for the same
20 rules).

Enforcement applies to the calling thread and the threads and processes it creates afterwards
(kernels before Landlock ABI 8 cannot enforce on sibling threads), which is why `contain` insists
on running while the tool server has one thread.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

try:  # Linux-only at import time: `landlockpy` loads libc through ctypes.
    import landlockpy
    from landlockpy import AccessFS, AccessNet, Scope
    from landlockpy import _syscall as syscalls
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


@dataclass(frozen=True)
class PreparedRules:
    """A ruleset as integers: what each child creates, plus its user's folder."""

    handled_fs: int
    handled_net: int
    scoped: int
    paths: tuple[tuple[str, int], ...]  # (path, allowed access)
    user_dir_access: int
    read_write_access: int  # for files known only per child (SQLite's WAL files)
    connect_access: int
    tcp_ports: tuple[int, ...]


def prepare(
    *,
    read_only: Iterable[tuple[str, bool]],
    read_write_files: Iterable[str],
    tcp_ports: Iterable[int],
    allow_unix_sockets: bool,
) -> PreparedRules:
    """The rules for this kernel's ABI.

    Args:
        read_only: (path, is_directory) pairs readable beneath (code, libraries, configuration).
        read_write_files: single files that may be read and written, not created or removed
            (`/dev/null`, the SQLite database and its WAL files).
        tcp_ports: the only TCP ports `connect` may reach; binding any port is denied.
        allow_unix_sockets: keep connecting to Unix-domain socket paths possible (a database
            reached through one); denied otherwise on kernels that can (ABI 9).

    Raises:
        OSError: Landlock is unavailable.
    """
    if landlockpy is None:  # pragma: no cover - non-Linux platforms
        raise OSError("Landlock is not available on this platform")
    abi = landlockpy.abi_version()
    handled_fs = landlockpy.fs_for_abi(abi)
    if allow_unix_sockets:
        handled_fs &= ~AccessFS.RESOLVE_UNIX
    # UDP (ABI 10) is deliberately not handled: name resolution needs it, and TCP is what reaches services.
    handled_net = (AccessNet.BIND_TCP | AccessNet.CONNECT_TCP) & landlockpy.net_for_abi(abi)
    scoped = (Scope.SIGNAL | Scope.ABSTRACT_UNIX_SOCKET) & landlockpy.scope_for_abi(abi)
    directory_read = (AccessFS.READ_FILE | AccessFS.READ_DIR) & handled_fs
    file_read = AccessFS.READ_FILE & handled_fs
    read_write = (AccessFS.READ_FILE | AccessFS.WRITE_FILE | AccessFS.TRUNCATE) & handled_fs
    # Beneath the user's folder: files and folders, no links out, no device or FIFO nodes, no
    # execution; REFER lets files_move go between the user's own folders.
    user_dir = (
        AccessFS.READ_FILE
        | AccessFS.WRITE_FILE
        | AccessFS.READ_DIR
        | AccessFS.REMOVE_DIR
        | AccessFS.REMOVE_FILE
        | AccessFS.MAKE_DIR
        | AccessFS.MAKE_REG
        | AccessFS.TRUNCATE
        | AccessFS.REFER
    ) & handled_fs
    paths = [(path, int(directory_read if is_directory else file_read)) for path, is_directory in read_only]
    paths.extend((path, int(read_write)) for path in read_write_files)
    return PreparedRules(
        handled_fs=int(handled_fs),
        handled_net=int(handled_net),
        scoped=int(scoped),
        paths=tuple(paths),
        user_dir_access=int(user_dir),
        read_write_access=int(read_write),
        connect_access=int(AccessNet.CONNECT_TCP),
        tcp_ports=tuple(sorted(set(tcp_ports))) if handled_net else (),
    )


def enforce(rules: PreparedRules, *, read_write_files: Iterable[str] = (), user_dir: Path | None) -> None:
    """Enforce `rules`, the user's folder and `read_write_files` on the calling thread; nothing else.

    Needs no_new_privs (or CAP_SYS_ADMIN). `user_dir` None grants no folder (no files root).

    Raises:
        OSError: a rule or the enforcement failed (the caller decides whether that is fatal).
    """
    attributes = syscalls.RulesetAttr(
        handled_access_fs=rules.handled_fs, handled_access_net=rules.handled_net, scoped=rules.scoped
    )
    ruleset = syscalls.create_ruleset(attributes)
    try:
        granted = [*rules.paths, *((path, rules.read_write_access) for path in read_write_files)]
        if user_dir is not None:
            granted.append((str(user_dir), rules.user_dir_access))
        rule = syscalls.PathBeneathAttr()  # one structure, refilled per rule
        for path, access in granted:
            handle = os.open(path, os.O_PATH | os.O_CLOEXEC)
            try:
                rule.allowed_access, rule.parent_fd = access, handle
                syscalls.add_path_beneath(ruleset, rule)
            finally:
                os.close(handle)
        port_rule = syscalls.NetPortAttr(allowed_access=rules.connect_access)
        for port in rules.tcp_ports:
            port_rule.port = port
            syscalls.add_net_port(ruleset, port_rule)
        syscalls.restrict_self(ruleset, 0)
    finally:
        os.close(ruleset)


def path_kind(path: str) -> bool | None:
    """True for a directory, False for anything else that exists, None when `path` does not exist."""
    try:
        return os.path.isdir(path) if os.path.exists(path) else None  # noqa: PTH110, PTH112
    except OSError:
        return None
