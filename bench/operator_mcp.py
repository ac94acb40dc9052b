"""`python -m bench.operator_mcp`: what an operator MCP server (`[[mcp_servers]]`) adds to every chat.

Each chat spawns the server for its caller, so a chat pays, on its request path, the server's start
(process, interpreter, imports, MCP handshake and tool list), then its teardown (stdin closed, the
process waited for). This runs N sequential sessions of a small Python server on the official MCP SDK
(`bench.echo_mcp_server`) through chatgate's own `OperatorMcpServers.open` and reports:

- ready: open → connected with its tool list (what the agent waits for before the first model call)
- first call: one `echo` tool call
- teardown: leaving the session (the request waits for it)
- CPU per session: this process plus the reaped server processes, divided by N
- memory: USS / PSS of one live server process
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import psutil

from bench.stats import percentile
from chatgate.auth.principal import Principal
from chatgate.mcp_servers import McpServerConfig, OperatorMcpServers

RESULTS = Path(__file__).parent / "results"
MIB = 1024 * 1024


async def _credentials(_principal: Principal, names: Any) -> dict[str, str]:
    return {name: "bench-token-0123456789" for name in names}


def _servers(directory: Path) -> OperatorMcpServers:
    config = McpServerConfig(
        name="echo",
        command=sys.executable,
        args=("-u", "-m", "bench.echo_mcp_server"),
        env={"PYTHONPATH": str(Path(__file__).resolve().parents[1]), "ECHO_TOKEN": "{credential:echo}"},
        timeout_seconds=120,
    )
    return OperatorMcpServers([config], credentials=_credentials, cwd=directory)


def _cpu_seconds() -> float:
    times = os.times()
    return times.user + times.system + times.children_user + times.children_system


async def _session(servers: OperatorMcpServers, user: str) -> tuple[float, float, float]:
    started = time.perf_counter()
    context = servers.open(Principal(user))
    (server,) = await context.__aenter__()
    try:
        await server.list_tools()
        ready = time.perf_counter()
        await server.call_tool("mcp_echo_echo", {"text": "hi"})
        called = time.perf_counter()
    except BaseException as exc:
        await context.__aexit__(type(exc), exc, exc.__traceback__)
        raise
    await context.__aexit__(None, None, None)
    done = time.perf_counter()
    return (ready - started) * 1000, (called - ready) * 1000, (done - called) * 1000


async def _memory(servers: OperatorMcpServers) -> tuple[float, float]:
    before = {child.pid for child in psutil.Process().children(recursive=True)}
    async with servers.open(Principal("live")) as (server,):
        await server.call_tool("mcp_echo_echo", {"text": "hi"})
        (pid,) = {child.pid for child in psutil.Process().children(recursive=True)} - before
        info = psutil.Process(pid).memory_full_info()
    return info.uss / MIB, info.pss / MIB


async def run(sessions: int) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="chatgate-bench-mcp-") as tmp:
        servers = _servers(Path(tmp))
        await _session(servers, "warm-up")
        cpu_before = _cpu_seconds()
        ready, call, teardown = [], [], []
        for index in range(sessions):
            r, c, t = await _session(servers, f"user-{index}")
            ready.append(r)
            call.append(c)
            teardown.append(t)
        cpu_ms = (_cpu_seconds() - cpu_before) * 1000 / sessions
        uss, pss = await _memory(servers)
    return {
        "sessions": sessions,
        "ready_ms": {"p50": percentile(ready, 50), "p99": percentile(ready, 99)},
        "first_call_ms": {"p50": percentile(call, 50)},
        "teardown_ms": {"p50": percentile(teardown, 50), "p99": percentile(teardown, 99)},
        "cpu_ms_per_session": cpu_ms,
        "uss_mib": uss,
        "pss_mib": pss,
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.operator_mcp", description=__doc__)
    parser.add_argument("--sessions", type=int, default=20, help="sequential sessions (~1 s each)")
    args = parser.parse_args(argv)
    result = asyncio.run(run(args.sessions))
    result["machine"] = {
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "python": sys.version.split()[0],
        "cpus": os.cpu_count(),
        "load_avg": os.getloadavg(),
    }
    print(f"operator MCP server per chat ({args.sessions} sessions, small Python server on the MCP SDK):")
    print(f"  ready p50 / p99 (ms):     {result['ready_ms']['p50']:.0f} / {result['ready_ms']['p99']:.0f}")
    print(f"  first call p50 (ms):      {result['first_call_ms']['p50']:.1f}")
    print(
        f"  teardown p50 / p99 (ms):  {result['teardown_ms']['p50']:.0f} / {result['teardown_ms']['p99']:.0f}"
    )
    print(f"  CPU per session (ms):     {result['cpu_ms_per_session']:.0f}")
    print(f"  live server USS / PSS (MiB): {result['uss_mib']:.1f} / {result['pss_mib']:.1f}")
    RESULTS.mkdir(exist_ok=True)
    path = RESULTS / f"operator-mcp-{datetime.now(UTC).strftime('%Y%m%dT%H%M%SZ')}.json"
    path.write_text(json.dumps(result, indent=2) + "\n")
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
