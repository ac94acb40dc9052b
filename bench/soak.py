"""Soak test: `python -m bench.soak` (`make soak`) — a real `chatgate serve` under concurrent JSON and
streamed chats, with faults injected, against loopback peers only.

Faults (each chat's message names its own, so every outcome is checked against what was designed):
tool servers SIGKILLed in the middle of a tool call (an API tool whose upstream kills its caller),
model 5xx, model calls outliving the chat deadline, clients disconnecting at random points, tokens
signed with an unknown key, and a JWKS outage in the middle of the run.

Reports errors by code (designed or not), p50/p99 of unfaulted chats, tool servers left, and the
server's open file descriptors and RSS (API process and fork template) after warm-up and at the end.
Exits 1 if any outcome was not a designed one or a tool server was left behind.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import signal
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import asdict
from pathlib import Path
from typing import Any

import httpx
import psutil
import uvicorn

from bench.soak_report import WEIGHTS, Footprint, Outcome, Report, print_report, stream_code, summarise
from bench.soak_servers import SLOW_API_NAME, SlowApi, SoakIssuer, SoakModel
from chatgate.forkserver.protocol import PROCESS_NAME_TEMPLATE, PROCESS_NAME_TOOL_SERVER

RESULTS = Path(__file__).parent / "results"
# The chat deadline of the server under test: a model call planned to time out sleeps past it. Generous
# enough that an unfaulted chat on a busy machine never meets it.
CHAT_TIMEOUT_SECONDS = 15.0


class Peer:
    """An ASGI app on a free loopback port, in a thread."""

    def __init__(self, app: Any) -> None:
        config = uvicorn.Config(app, host="127.0.0.1", port=0, log_level="warning", lifespan="off")
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    def __enter__(self) -> str:
        self.thread.start()
        while not self.server.started:
            time.sleep(0.01)
        port = self.server.servers[0].sockets[0].getsockname()[1]
        return f"http://127.0.0.1:{port}"

    def __exit__(self, *_: object) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=10)


def footprint(server: psutil.Process) -> Footprint:
    processes = [server] + [child for child in server.children() if _name(child) == PROCESS_NAME_TEMPLATE]
    fds = rss = 0
    for process in processes:
        try:
            fds += process.num_fds()
            rss += process.memory_info().rss
        except psutil.NoSuchProcess:
            continue
    return Footprint(fds=fds, rss_mib=round(rss / 2**20, 1))


def _running(process: psutil.Process) -> bool:
    try:
        return bool(process.is_running() and process.status() != psutil.STATUS_ZOMBIE)
    except psutil.NoSuchProcess:
        return False


def _name(process: psutil.Process) -> str:
    try:
        return str(process.name())
    except psutil.NoSuchProcess:
        return ""


def tool_servers(server: psutil.Process) -> int:
    return len(tool_server_processes(server))


def tool_server_processes(server: psutil.Process) -> list[psutil.Process]:
    found = []
    for child in server.children(recursive=True):
        try:
            if child.status() == psutil.STATUS_ZOMBIE:
                continue
            name = child.name()
            if name in (PROCESS_NAME_TEMPLATE, "chatgate-spare"):
                continue  # the fork launcher's machinery, not tool servers
            if name == PROCESS_NAME_TOOL_SERVER or "chatgate.mcp_server" in " ".join(child.cmdline()):
                found.append(child)
        except psutil.NoSuchProcess:
            continue
    return found


def describe(process: psutil.Process) -> str:
    try:
        age = time.time() - process.create_time()
        return f"pid {process.pid} {process.name()} {process.status()} age {age:.0f}s"
    except psutil.NoSuchProcess:
        return f"pid {process.pid} (gone)"


async def one_chat(
    client: httpx.AsyncClient,
    url: str,
    issuer: SoakIssuer,
    kind: str,
    stream: bool,
    user: str,
    rng: random.Random,
) -> Outcome:
    tag = kind if kind in ("tool", "kill_tool", "model_5xx", "model_timeout") else "plain"
    token = issuer.token(user, unknown_kid=kind == "unknown_kid")
    body = {"message": f"soak:{tag} please", "stream": stream}
    headers = {"Authorization": f"Bearer {token}"}
    started = time.perf_counter()
    mode = "stream" if stream else "json"
    try:
        if not stream:
            request = client.post(f"{url}/api/agents/chat", json=body, headers=headers)
            if kind == "disconnect":
                response = await asyncio.wait_for(request, timeout=rng.uniform(0.005, 0.3))
            else:
                response = await request
            code = "ok" if response.status_code == 200 else response.json()["error"]["code"]
            return Outcome(kind, mode, response.status_code, code, time.perf_counter() - started)
        async with client.stream("POST", f"{url}/api/agents/chat", json=body, headers=headers) as response:
            if response.status_code != 200:
                await response.aread()
                code = response.json()["error"]["code"]
                return Outcome(kind, mode, response.status_code, code, time.perf_counter() - started)
            leave_after = rng.randint(0, 6) if kind == "disconnect" else None
            lines: list[str] = []
            async for line in response.aiter_lines():
                if line:
                    lines.append(line)
                if leave_after is not None and len(lines) > leave_after:
                    return Outcome(kind, mode, 0, "client_closed", time.perf_counter() - started)
            return Outcome(kind, mode, 200, stream_code(lines), time.perf_counter() - started)
    except TimeoutError:
        return Outcome(kind, mode, 0, "client_closed", time.perf_counter() - started)


async def drive(
    args: argparse.Namespace, url: str, issuer: SoakIssuer, count: int, faults: bool
) -> list[Outcome]:
    """`count` chats by `args.concurrency` workers; without `faults`, plain tool chats (the warm-up)."""
    rng = random.Random(args.seed)
    users = max(args.concurrency * 4, count // 20)
    weights = (
        {kind: weight for kind, weight in WEIGHTS.items() if kind in args.kinds} if faults else {"tool": 1}
    )
    plan = [
        (rng.choices(list(weights), weights=list(weights.values()))[0], rng.random() < 0.5)
        for _ in range(count)
    ]
    outcomes: list[Outcome] = []
    queue: asyncio.Queue[int] = asyncio.Queue()
    for index in range(count):
        queue.put_nowait(index)
    limits = httpx.Limits(max_connections=args.concurrency * 2, max_keepalive_connections=args.concurrency)
    async with httpx.AsyncClient(timeout=60, limits=limits) as client:

        async def worker() -> None:
            while not queue.empty():
                index = queue.get_nowait()
                if faults and index == int(count * 0.4):
                    issuer.down = True  # the JWKS outage, through the middle fifth of the run
                if faults and index == int(count * 0.6):
                    issuer.down = False
                kind, stream = plan[index]
                outcomes.append(
                    await one_chat(client, url, issuer, kind, stream, f"soak-{index % users}", rng)
                )

        await asyncio.gather(*(worker() for _ in range(args.concurrency)))
    return outcomes


def start_server(
    args: argparse.Namespace, state: Path, model_url: str, api_url: str, jwks_url: str
) -> subprocess.Popen[bytes]:
    config = state / "chatgate.toml"
    config.write_text(
        f'[[apis]]\nname = "{SLOW_API_NAME}"\nbase_url = "{api_url}"\nopenapi = "{api_url}/openapi.json"\n'
        "allow_private = true\nmax_retries = 0\ntimeout_seconds = 5\ncache_ttl_seconds = 0\n"
    )
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("OPENAI_", "JWT_", "CHATGATE_"))
    }
    env.update(
        CHATGATE_STATE_DIR=str(state),
        CHATGATE_CONFIG=str(config),
        JWKS_URL=jwks_url,
        OPENAI_BASE_URL=f"{model_url}/v1",
        AGENT_MODEL="soak",
        MCP_LAUNCHER=args.launcher,
        MAX_CONCURRENT_SESSIONS=str(max(32, args.concurrency)),
        ADMISSION_WAIT_SECONDS="10",
        CHAT_TIMEOUT_SECONDS=str(CHAT_TIMEOUT_SECONDS),
        LOG_LEVEL="WARNING",
    )
    log = (state / "server.log").open("wb")
    return subprocess.Popen(
        [sys.executable, "-m", "chatgate", "serve", "--port", str(args.port)], env=env, cwd=state, stderr=log
    )


def run(args: argparse.Namespace) -> Report:
    report = Report(concurrency=args.concurrency, requests=args.requests, launcher=args.launcher)
    model, api, issuer = SoakModel(timeout_sleep_seconds=CHAT_TIMEOUT_SECONDS + 2), SlowApi(), SoakIssuer()
    with (
        tempfile.TemporaryDirectory(prefix="chatgate-soak-") as directory,
        Peer(model.app) as model_url,
        Peer(api.app) as api_url,
        Peer(issuer.app) as issuer_url,
    ):
        api.port = int(api_url.rsplit(":", 1)[1])
        process = start_server(args, Path(directory), model_url, api_url, f"{issuer_url}/jwks")
        url = f"http://127.0.0.1:{args.port}"
        descendants: list[psutil.Process] = []
        try:
            _wait_ready(url, process)
            server = psutil.Process(process.pid)
            asyncio.run(drive(args, url, issuer, args.concurrency * 4, faults=False))  # warm-up
            report.before = footprint(server)
            started = time.perf_counter()
            outcomes = asyncio.run(drive(args, url, issuer, args.requests, faults=True))
            report.seconds = round(time.perf_counter() - started, 1)
            deadline = time.monotonic() + 15
            while tool_servers(server) and time.monotonic() < deadline:
                time.sleep(0.1)
            left = tool_server_processes(server)
            report.tool_servers_left = len(left)
            report.leftovers = [describe(child) for child in left]
            report.after = footprint(server)
            descendants = server.children(recursive=True)
        finally:
            process.send_signal(signal.SIGTERM)
            try:
                report.server_exit_code = process.wait(timeout=90)
            except subprocess.TimeoutExpired:
                process.kill()
        # Whatever the server had started must be gone once it exited (no orphans; a moment to be reaped).
        deadline = time.monotonic() + 10
        while any(_running(child) for child in descendants) and time.monotonic() < deadline:
            time.sleep(0.1)
        report.orphans_after_exit = sum(1 for child in descendants if _running(child))
        report.tool_servers_killed = api.kills
    summarise(report, outcomes)
    return report


def _wait_ready(url: str, process: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise SystemExit(f"chatgate serve exited with {process.returncode} (see its server.log)")
        try:
            if httpx.get(f"{url}/readyz", timeout=5).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise SystemExit("chatgate serve did not become ready")


def main() -> None:
    parser = argparse.ArgumentParser(prog="bench.soak", description=__doc__.splitlines()[0])
    parser.add_argument("--concurrency", type=int, default=64)
    parser.add_argument("--requests", type=int, default=10_000)
    parser.add_argument("--launcher", choices=["fork", "exec"], default="fork")
    parser.add_argument("--port", type=int, default=18765)
    parser.add_argument("--seed", type=int, default=17)
    parser.add_argument(
        "--kinds",
        type=lambda text: [kind for kind in text.split(",") if kind],
        default=list(WEIGHTS),
        help=f"comma-separated subset of the chat kinds (default all: {','.join(WEIGHTS)})",
    )
    args = parser.parse_args()
    report = run(args)
    print_report(report)
    RESULTS.mkdir(exist_ok=True)
    path = RESULTS / f"soak-{time.strftime('%Y%m%d-%H%M%S')}.json"
    path.write_text(json.dumps(asdict(report), indent=2))
    print(f"  written to {path}")
    ok = (
        not report.undesigned
        and report.tool_servers_left == 0
        and report.orphans_after_exit == 0
        and report.server_exit_code == 0
    )
    raise SystemExit(0 if ok else 1)


if __name__ == "__main__":
    main()
