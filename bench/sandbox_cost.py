"""What `chatgate.sandbox.contain` costs a forked tool server, measured where it runs.

Like the fork template: this process prepares the plan and the seccomp filter once, then forks N
children; each binds a user, times `contain()` (wall clock and its own CPU) and exits. The session
ready figures of `fork` against `fork-nosandbox` say the same end to end, but on a shared machine
their noise is larger than the cost itself; this isolates it.
"""

from __future__ import annotations

import os
import resource
import struct
import tempfile
import time
from pathlib import Path
from typing import Any

from bench.stats import percentile
from chatgate.mcp_server.settings import BoundIdentity, ChildSettings
from chatgate.sandbox import contain, prepare

_RESULT = struct.Struct("dd")


def measure_contain(children: int = 200) -> dict[str, Any]:
    """p50/p90 wall and CPU milliseconds of `contain()` in `children` forked children."""
    with tempfile.TemporaryDirectory(prefix="chatgate-sandbox-cost-") as tmp:
        state = Path(tmp)
        database = state / "chatgate.db"
        database.write_bytes(b"")
        settings = ChildSettings(
            identity=BoundIdentity("warm-up"),
            files_root=state / "files",
            database_url=f"sqlite+aiosqlite:///{database}",
            sandbox_mode="auto",
        )
        previous = Path.cwd()
        os.chdir(state)
        try:
            prepare(settings)
            wall, cpu = [], []
            for index in range(children):
                read_end, write_end = os.pipe()
                pid = os.fork()
                if pid == 0:  # pragma: no cover - the child
                    _child(settings, f"user-{index}", write_end)
                os.close(write_end)
                with os.fdopen(read_end, "rb") as result:
                    elapsed, used = _RESULT.unpack(result.read(_RESULT.size))
                os.waitpid(pid, 0)
                wall.append(elapsed)
                cpu.append(used)
        finally:
            os.chdir(previous)
    return {
        "children": children,
        "contain_wall_ms_p50": round(percentile(wall, 50) or 0.0, 3),
        "contain_wall_ms_p90": round(percentile(wall, 90) or 0.0, 3),
        "contain_cpu_ms_p50": round(percentile(cpu, 50) or 0.0, 3),
        "load_avg_1m": round(os.getloadavg()[0], 2),
    }


def _child(settings: ChildSettings, user: str, write_end: int) -> None:
    try:
        bound = ChildSettings(
            identity=BoundIdentity(user),
            files_root=settings.files_root,
            database_url=settings.database_url,
            sandbox_mode=settings.sandbox_mode,
        )
        cpu_started = resource.getrusage(resource.RUSAGE_SELF)
        started = time.perf_counter()
        contain(bound)
        elapsed = (time.perf_counter() - started) * 1000
        cpu_done = resource.getrusage(resource.RUSAGE_SELF)
        used = (cpu_done.ru_utime + cpu_done.ru_stime - cpu_started.ru_utime - cpu_started.ru_stime) * 1000
        os.write(write_end, _RESULT.pack(elapsed, used))
    finally:
        os._exit(0)
