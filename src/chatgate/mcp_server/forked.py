"""The fork path's child: what runs between `os.fork()` in the template and `os._exit`.

It ends up exactly where `python -m chatgate.mcp_server` ends up — the same `ChildSettings` read
from the same allowlisted environment, the same `serve_stdio` on fds 0 and 1 — only without paying
for an interpreter start and the SDK imports, which the template already did.

Order matters: drop everything inherited from the template (signal handlers, descriptors), bind
the lifetime to the template (PDEATHSIG), apply limits, and only then read the identity and serve.
This function never returns.
"""

from __future__ import annotations

import logging
import os
import resource
import signal
from collections.abc import Mapping
from dataclasses import dataclass
from typing import NoReturn

import anyio

from chatgate.mcp_server import settings as child_settings
from chatgate.mcp_server.lifecycle import die_with_parent, hard_exit
from chatgate.mcp_server.server import StrictMCPServer, serve_stdio

logger = logging.getLogger("chatgate.mcp_server")

EXIT_IDENTITY_MISSING = 2
EXIT_SETUP_FAILED = 70


@dataclass(frozen=True)
class ChildLimits:
    """Per-child resource limits (a runaway tool dies alone)."""

    memory_bytes: int | None
    cpu_seconds: int | None


def run_forked_child(
    *,
    stdin_fd: int,
    stdout_fd: int,
    environ: Mapping[str, str],
    cwd: str | None,
    limits: ChildLimits,
    template_pid: int,
    server: StrictMCPServer,
) -> NoReturn:
    """Become a single-use tool server on `stdin_fd`/`stdout_fd` for the identity in `environ`.

    `server` is the template's prebuilt, unbound server: this child binds its own copy.
    """
    try:
        _reset_signals()
        # The protocol pipes become fds 0/1; every other inherited descriptor (the template's socket,
        # other requests' connections, its selector) is closed so this child can reach nothing else.
        os.dup2(stdin_fd, 0)
        os.dup2(stdout_fd, 1)
        os.closerange(3, _max_fd())
        _apply_limits(limits)
        if cwd:
            os.chdir(cwd)
        env = dict(environ)
        # This child's parent is the template, not the API process the environment was built in.
        env[child_settings.ENV_PARENT_PID] = str(template_pid)
        os.environ.clear()
        os.environ.update(env)
        try:
            settings = child_settings.ChildSettings.from_environ(env)
        except child_settings.IdentityMissingError as exc:
            logger.error("refusing to serve: %s", exc)  # noqa: TRY400 - message only
            hard_exit(EXIT_IDENTITY_MISSING)
        logging.getLogger().setLevel(settings.log_level.upper())
        die_with_parent(template_pid)
        anyio.run(serve_stdio, settings, server)
    except BaseException:
        logger.exception("forked tool server failed")
        hard_exit(1)
    hard_exit(0)
    raise AssertionError("unreachable")  # pragma: no cover - hard_exit does not return


def _reset_signals() -> None:
    signal.set_wakeup_fd(-1)
    for signum in (signal.SIGCHLD, signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        signal.signal(signum, signal.SIG_DFL)


def _apply_limits(limits: ChildLimits) -> None:
    if limits.memory_bytes is not None:
        resource.setrlimit(resource.RLIMIT_AS, (limits.memory_bytes, limits.memory_bytes))
    if limits.cpu_seconds is not None:
        # SIGXCPU at the soft limit, SIGKILL one second later.
        resource.setrlimit(resource.RLIMIT_CPU, (limits.cpu_seconds, limits.cpu_seconds + 1))


def _max_fd() -> int:
    soft, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
    return soft if soft != resource.RLIM_INFINITY else 65536
