"""The fork path's child: what runs between `os.fork()` in the template and `os._exit`.

It ends up exactly where `python -m chatgate.mcp_server` ends up — the same `ChildSettings` read
from the same allowlisted environment, the same `serve_stdio` on fds 0 and 1 — only without paying
for an interpreter start, the SDK imports and building the server, which the template already did.

Every child is forked *unbound* and first waits on a private control pipe for its one bind request
(the environment and working directory). The template keeps a few such spares forked ahead of
demand, so a request pays neither the fork nor this setup. Order matters: drop everything
inherited from the template (signal handlers, descriptors), bind the lifetime to the template
(PDEATHSIG), apply limits, then read the identity, contain the process (`chatgate.sandbox`), and
serve. This function never returns.
"""

from __future__ import annotations

import logging
import os
import resource
import signal
from dataclasses import dataclass
from typing import Any, NoReturn

import anyio

from chatgate import spawn
from chatgate.forkserver import protocol
from chatgate.mcp_server import settings as child_settings
from chatgate.mcp_server.lifecycle import (
    hard_exit,
    set_parent_death_signal,
    set_process_name,
    start_parent_watchdog,
)
from chatgate.mcp_server.server import StrictMCPServer, serve_stdio
from chatgate.sandbox import contain

logger = logging.getLogger("chatgate.mcp_server")

CONTROL_FD = 3


@dataclass(frozen=True)
class ChildLimits:
    """Per-child resource limits (a runaway tool dies alone)."""

    memory_bytes: int | None
    cpu_seconds: int | None


def run_forked_child(
    *,
    stdin_fd: int,
    stdout_fd: int,
    control_fd: int,
    limits: ChildLimits,
    template_pid: int,
    server: StrictMCPServer,
) -> NoReturn:
    """Wait for a bind request on `control_fd`, then serve it on `stdin_fd`/`stdout_fd`.

    `server` is the template's prebuilt, unbound server: this child binds its own copy.
    """
    try:
        set_process_name(protocol.PROCESS_NAME_SPARE)
        _reset_signals()
        # The protocol pipes become fds 0/1 and the control pipe fd 3; every other inherited
        # descriptor (the template's socket, other requests' connections, other children's pipes,
        # its selector) is closed, so this child can reach nothing else.
        os.dup2(stdin_fd, 0)
        os.dup2(stdout_fd, 1)
        os.dup2(control_fd, CONTROL_FD)
        os.closerange(CONTROL_FD + 1, _max_fd())
        _apply_limits(limits)
        set_parent_death_signal()
        if os.getppid() != template_pid:  # the template died before the signal was armed
            hard_exit(1)
        anyio.run(_wait_and_serve, template_pid, server)
    except BaseException:
        logger.exception("forked tool server failed")
        hard_exit(1)
    hard_exit(0)
    raise AssertionError("unreachable")  # pragma: no cover - hard_exit does not return


async def _wait_and_serve(template_pid: int, server: StrictMCPServer) -> None:
    # The event loop exists before the request arrives; threads (the parent watchdog, the worker
    # that reads stdin) start only after `contain`, which must run while this process has one thread.
    request = await _read_bind_request()
    os.close(CONTROL_FD)
    if request is None:  # the template retired this spare unused
        return
    set_process_name(protocol.PROCESS_NAME_TOOL_SERVER)
    settings = _bind_environment(request, template_pid)
    if settings is not None:
        contain(settings)
        start_parent_watchdog(template_pid)
        await serve_stdio(settings, server)


def _bind_environment(request: dict[str, Any], template_pid: int) -> child_settings.ChildSettings | None:
    """Adopt the request's environment and working directory; None (after logging) if unusable."""
    environ, cwd = request.get("env"), request.get("cwd")
    if not isinstance(environ, dict):
        logger.error("refusing to serve: malformed bind request")
        return None
    if isinstance(cwd, str) and cwd:
        os.chdir(cwd)
    env = {str(key): str(value) for key, value in environ.items()}
    # This child's parent is the template, not the API process the environment was built in.
    env[spawn.ENV_PARENT_PID] = str(template_pid)
    os.environ.clear()
    os.environ.update(env)
    try:
        settings = child_settings.ChildSettings.from_environ(env)
    except child_settings.IdentityMissingError as exc:
        logger.error("refusing to serve: %s", exc)  # message only
        return None
    root, level = logging.getLogger(), logging.getLevelName(settings.log_level.upper())
    if root.level != level:
        # Only on a change: `setLevel` clears the cache of every logger the imports created, writing
        # to pages this child would otherwise share with the template (5% of a child's CPU).
        root.setLevel(level)
    return settings


async def _read_bind_request() -> dict[str, Any] | None:
    """The one frame the template writes on the control pipe; None if it closes it unused."""
    os.set_blocking(CONTROL_FD, False)
    buffer = bytearray()
    while (framed := protocol.split_frame(buffer)) is None:
        await anyio.wait_readable(CONTROL_FD)
        try:
            chunk = os.read(CONTROL_FD, 65536)
        except BlockingIOError:
            continue
        if not chunk:
            return None
        buffer += chunk
    return framed[0]


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
