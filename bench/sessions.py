"""Session-level costs of each launcher: ready latency, teardown, CPU and memory per session.

- ready: `launch()` entered → connected server with its tool list (what the agent needs first).
- teardown: leaving `launch()` — the part a request waits for.
- CPU per session: CPU of the whole service tree (this process, the template, every tool server)
  over N sequential sessions, divided by N.
- memory per live session: L sessions open at once; the tool servers' USS (pages only they hold)
  and PSS (their share of everything they map) per session. The baseline has no tool-server
  processes: its cost is the growth of this process's USS.
"""

from __future__ import annotations

import asyncio
import gc
import time
from contextlib import AsyncExitStack
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import psutil

from bench.baseline import SharedInProcessLauncher
from chatgate.auth.principal import Principal
from chatgate.config import Settings
from chatgate.launcher import Launcher
from chatgate.launcher.exec import ExecLauncher

MIB = 1024 * 1024
WARM_UP_SESSIONS = 3


@dataclass
class SessionResult:
    mode: str
    sessions: int
    ready_ms: list[float] = field(default_factory=list)
    first_call_ms: list[float] = field(default_factory=list)
    teardown_ms: list[float] = field(default_factory=list)
    cpu_ms_per_session: float = 0.0
    live_sessions: int = 0
    uss_mib_per_live_session: float = 0.0
    pss_mib_per_live_session: float = 0.0
    template_pss_mib: float | None = None

    def as_json(self) -> dict[str, Any]:
        return asdict(self)


# Fork without containment (MCP_SANDBOX=off): beside `fork`, it gives the sandbox's own cost.
UNSANDBOXED_FORK = "fork-nosandbox"


def make_launcher(mode: str, settings: Settings) -> Launcher:
    if mode == "baseline":
        return SharedInProcessLauncher(settings)
    if mode in ("fork", UNSANDBOXED_FORK):
        from chatgate.launcher.fork import ForkLauncher

        return ForkLauncher(settings)
    return ExecLauncher(settings)


def bench_settings(state_dir: Path, *, sandbox: str = "auto") -> Settings:
    state_dir.mkdir(parents=True, exist_ok=True)
    return Settings(
        _env_file=None,
        CHATGATE_STATE_DIR=state_dir,
        MCP_SANDBOX=sandbox,
        MCP_CONNECT_TIMEOUT_SECONDS=120,
        MCP_TOOL_TIMEOUT_SECONDS=120,
    )


async def measure_sessions(mode: str, state_dir: Path, *, sessions: int, live: int) -> SessionResult:
    sandbox = "off" if mode == UNSANDBOXED_FORK else "auto"
    launcher = make_launcher(mode, bench_settings(state_dir, sandbox=sandbox))
    await launcher.start()
    try:
        result = SessionResult(mode=mode, sessions=sessions, live_sessions=live)
        for index in range(WARM_UP_SESSIONS):
            await one_session(launcher, f"warm-{index}")
        await settle(launcher)
        gc.collect()
        cpu_before = tree_cpu(launcher)
        for index in range(sessions):
            ready, call, teardown = await one_session(launcher, f"user-{index}")
            result.ready_ms.append(ready)
            result.first_call_ms.append(call)
            result.teardown_ms.append(teardown)
        await settle(launcher)
        result.cpu_ms_per_session = (tree_cpu(launcher) - cpu_before) * 1000 / sessions
        await _measure_memory(launcher, result, live)
        return result
    finally:
        await launcher.stop()


async def one_session(launcher: Launcher, user: str) -> tuple[float, float, float]:
    started = time.perf_counter()
    context = launcher.launch(Principal(user), request_id=f"bench-{user}")
    server = await context.__aenter__()
    try:
        await server.list_tools()
        ready = time.perf_counter()
        await server.call_tool("whoami", {})
        called = time.perf_counter()
    except BaseException as exc:
        await context.__aexit__(type(exc), exc, exc.__traceback__)
        raise
    await context.__aexit__(None, None, None)
    done = time.perf_counter()
    return (ready - started) * 1000, (called - ready) * 1000, (done - called) * 1000


async def _measure_memory(launcher: Launcher, result: SessionResult, live: int) -> None:
    me = psutil.Process()
    before = me.memory_full_info().uss
    known = _tool_server_pids(launcher)
    pids: set[int] = set()
    async with AsyncExitStack() as stack:
        for index in range(live):
            server = await stack.enter_async_context(
                launcher.launch(Principal(f"live-{index}"), request_id=f"bench-live-{index}")
            )
            await server.call_tool("whoami", {})
            # The fork launcher's server names its process; exec's is the one new child.
            pid = getattr(server, "pid", None)
            pids |= {pid} if isinstance(pid, int) else _tool_server_pids(launcher) - known - pids
        gc.collect()
        uss = pss = 0
        for pid in pids:
            try:
                info = psutil.Process(pid).memory_full_info()
            except psutil.NoSuchProcess:
                continue
            uss += info.uss
            pss += info.pss
        if result.mode == "baseline":
            uss = pss = max(0, me.memory_full_info().uss - before)
        template = getattr(launcher, "template_pid", None)
        if template is not None:
            result.template_pss_mib = psutil.Process(template).memory_full_info().pss / MIB
    result.uss_mib_per_live_session = uss / MIB / live
    result.pss_mib_per_live_session = pss / MIB / live


def _tool_server_pids(launcher: Launcher) -> set[int]:
    template = getattr(launcher, "template_pid", None)
    return {child.pid for child in psutil.Process().children(recursive=True) if child.pid != template}


def tree_cpu(launcher: Launcher) -> float:
    """CPU seconds of this process, the template, and every reaped tool server."""
    total = _cpu(psutil.Process())
    template = getattr(launcher, "template_pid", None)
    if template is not None:
        total += _cpu(psutil.Process(template))
    return total


def _cpu(process: psutil.Process) -> float:
    times = process.cpu_times()
    return float(times.user + times.system + times.children_user + times.children_system)


async def settle(launcher: Launcher, within: float = 10.0) -> None:
    """Wait until every tool server has exited and been reaped (its CPU is then accounted).

    Idle fork spares stay: they are forked ahead of demand, and their CPU is part of what a later
    session costs, so it is counted when they are forked.
    """
    spares = (
        getattr(getattr(launcher, "_settings", None), "mcp_fork_spares", 0) if launcher.name == "fork" else 0
    )
    deadline = time.monotonic() + within
    while len(_tool_server_pids(launcher)) > spares and time.monotonic() < deadline:  # noqa: ASYNC110
        await asyncio.sleep(0.01)
    await asyncio.sleep(0.05)  # background client cleanup
