"""The one entry point: contain this tool server now that its identity is bound.

Called once per tool server, after the identity is known and before the first protocol byte (the
exec child at start, the fork child right after its bind request), while the process has a single
thread: Landlock (before ABI 8) and the seccomp filter bind the calling thread and what it creates
later, so a thread started earlier would stay free. Steps, each irreversible:

1. the user's folder (and the files root) exist, and on SQLite the WAL files do, so the rules can
   name them and nothing needs creating outside the user's folder later;
2. not dumpable;
3. Landlock: read-only code and configuration, the user's folder read-write, TCP to the needed
   ports, no signals or abstract sockets outside the tool server (sets no_new_privs);
4. every capability dropped;
5. the seccomp filter (no programs, tracing, new processes or Unix sockets).

`auto` applies whatever this kernel supports and skips the rest; `required` raises `SandboxError`
unless every step succeeds; `off` does nothing.
"""

from __future__ import annotations

import contextlib
import logging
import os
import stat
from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Protocol

from chatgate.files.encoding import space_dir_name
from chatgate.sandbox import landlock, privileges, seccomp
from chatgate.sandbox.plan import SandboxPlan, make_plan
from chatgate.sandbox.support import SandboxLevel, kernel_support
from chatgate.spawn import SandboxMode

logger = logging.getLogger("chatgate.sandbox")

_DIR_MODE = 0o700
_FILE_MODE = 0o600


class BoundUser(Protocol):
    """The user a tool server serves (`chatgate.mcp_server.settings.BoundIdentity`)."""

    @property
    def user_id(self) -> str: ...


class ContainedSettings(Protocol):
    """What containment reads of a tool server's settings (`chatgate.mcp_server.settings.ChildSettings`).

    A protocol, so the sandbox does not import the tool server that imports it.
    """

    @property
    def identity(self) -> BoundUser: ...
    @property
    def sandbox_mode(self) -> SandboxMode: ...
    @property
    def files_root(self) -> Path | None: ...
    @property
    def database_url(self) -> str | None: ...
    @property
    def config_file(self) -> Path | None: ...
    @property
    def apis_catalog(self) -> Path | None: ...


class SandboxError(RuntimeError):
    """`MCP_SANDBOX=required` and some part of the containment could not be applied."""


@dataclass(frozen=True)
class Containment:
    """What `contain` did."""

    mode: SandboxMode
    applied: tuple[str, ...] = ()
    missing: tuple[str, ...] = ()

    @property
    def level(self) -> SandboxLevel:
        if self.mode == "off":
            return "off"
        return "partial" if self.missing else "full"


def prepare(settings: ContainedSettings) -> None:
    """Do the identity-free work ahead of time (the fork template, before it forks any child).

    Probes the kernel, works out the plan and compiles the seccomp filter; children inherit the
    results and only apply them.
    """
    if settings.sandbox_mode == "off":
        return
    support = kernel_support()
    plan = plan_for(settings)
    privileges.prepare()
    if support.seccomp:
        seccomp.prepare_load(seccomp.compiled_filter(allow_unix_sockets=plan.allow_unix_sockets))
    if support.landlock_abi:
        _landlock_rules(plan)


def plan_for(settings: ContainedSettings) -> SandboxPlan:
    """The plan for tool servers with `settings`' configuration (cached per configuration)."""
    # Keyed by strings: cheap to hash in a freshly forked child.
    return _cached_plan(
        _text(settings.files_root),
        settings.database_url,
        _text(settings.config_file),
        _text(settings.apis_catalog),
        os.getcwd(),  # noqa: PTH109
    )


def _text(path: Path | None) -> str | None:
    return None if path is None else str(path)


@lru_cache(maxsize=4)
def _cached_plan(
    files_root: str | None,
    database_url: str | None,
    config_file: str | None,
    apis_catalog: str | None,
    working_dir: str,
) -> SandboxPlan:
    return make_plan(
        files_root=None if files_root is None else Path(files_root),
        database_url=database_url,
        config_file=None if config_file is None else Path(config_file),
        apis_catalog=None if apis_catalog is None else Path(apis_catalog),
        working_dir=Path(working_dir),
    )


def contain(settings: ContainedSettings) -> Containment:
    """Contain the calling process for `settings.identity`; see the module docstring.

    Raises:
        SandboxError: `required` mode and a step is unavailable or failed (the caller must not serve).
    """
    mode = settings.sandbox_mode
    if mode == "off":
        return Containment(mode)
    required = mode == "required"
    support = kernel_support()
    missing = list(support.missing)
    if required and missing:
        raise SandboxError(f"MCP_SANDBOX=required but this machine lacks {'; '.join(missing)}")
    threads = _thread_count()
    if threads != 1:
        # Tests pin this: a thread started before this point would escape every rule below.
        problem = f"the tool server has {threads} threads; containment binds only the calling one"
        if required:
            raise SandboxError(problem)
        missing.append(problem)
    plan = plan_for(settings)
    if plan.allow_unix_sockets:
        problem = "Unix sockets stay allowed (the database is reached through one)"
        if required:
            raise SandboxError(problem + "; give the database a TCP host in DATABASE_TOOLS_URL")
        missing.append(problem)

    applied: list[str] = []

    def step(name: str, action: Callable[[], object]) -> None:
        try:
            action()
        except (OSError, ValueError) as exc:
            if required:
                raise SandboxError(f"could not apply {name}: {exc}") from exc
            missing.append(f"{name} ({exc})")
        else:
            applied.append(name)

    user_dir = _user_dir(plan, settings.identity.user_id, required=required)
    if plan.sqlite_database is not None:
        step("SQLite WAL files", lambda: _ensure_sqlite_companions(plan.sqlite_database))
    step("not dumpable", privileges.set_not_dumpable)
    step("no new privileges", privileges.set_no_new_privs)
    if support.landlock_abi:
        step(
            "Landlock",
            lambda: landlock.enforce(
                _landlock_rules(plan),
                read_write_files=_sqlite_companions(plan.sqlite_database),
                user_dir=user_dir,
            ),
        )
    step("capabilities dropped", privileges.drop_capabilities)
    if support.seccomp:
        step(
            "seccomp",
            lambda: seccomp.load(seccomp.compiled_filter(allow_unix_sockets=plan.allow_unix_sockets)),
        )
    result = Containment(mode, tuple(applied), tuple(missing))
    if result.missing and len(result.missing) > len(support.missing):
        # What the API process could not foresee (it logged the kernel's gaps once at start-up).
        logger.warning("tool server partly contained; missing: %s", "; ".join(result.missing))
    return result


def _thread_count() -> int:
    try:
        return len(os.listdir("/proc/self/task"))  # noqa: PTH208 - a count, no Path objects needed
    except OSError:
        return 1  # no /proc (not Linux): nothing to count, nothing this module can enforce anyway


def _user_dir(plan: SandboxPlan, user_id: str, *, required: bool) -> Path | None:
    """Create the user's folder (and the files root) now: afterwards only the folder is writable."""
    if plan.files_root is None:
        return None
    plan.files_root.mkdir(mode=_DIR_MODE, parents=True, exist_ok=True)
    folder = plan.files_root / space_dir_name(user_id)
    with contextlib.suppress(FileExistsError):
        folder.mkdir(mode=_DIR_MODE)
    # A symlink planted in place of the folder would make the rule grant its target instead.
    if not stat.S_ISDIR(os.lstat(folder).st_mode):
        problem = f"the user's folder {os.path.basename(folder)} is not a plain directory"  # noqa: PTH119
        if required:
            raise SandboxError(problem)
        logger.warning("%s; the tool server gets no file access", problem)
        return None
    return Path(folder)


def _ensure_sqlite_companions(database: str | None) -> None:
    """Create the WAL and shared-memory files if absent: the tool server may not create files there.

    SQLite accepts empty ones (no frames; the index is rebuilt by the first connection). A tool
    server's failed attempt to delete them when it closes the last connection is ignored by SQLite.
    """
    if database is None or not os.path.exists(database):  # noqa: PTH110
        return
    for suffix in ("-wal", "-shm"):
        fd = os.open(database + suffix, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC, _FILE_MODE)
        os.close(fd)


@lru_cache(maxsize=4)
def _landlock_rules(plan: SandboxPlan) -> landlock.PreparedRules:
    return landlock.prepare(
        read_only=plan.read_only,
        read_write_files=[path for path in plan.read_write_files if os.path.exists(path)],  # noqa: PTH110
        tcp_ports=plan.tcp_ports,
        allow_unix_sockets=plan.allow_unix_sockets,
    )


def _sqlite_companions(database: str | None) -> list[str]:
    if database is None:
        return []
    return [
        database + suffix
        for suffix in ("", "-wal", "-shm", "-journal")
        if os.path.exists(database + suffix)  # noqa: PTH110
    ]
