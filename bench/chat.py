"""End-to-end chat load: the real app in its own process, one scripted tool call per chat.

For each mode the service runs as `python -m bench.serve`; this process is the load generator
(httpx, HTTP/1.1 keep-alive), sending `POST /api/agents/chat` at a fixed concurrency. Reported per
concurrency level: throughput (chats/s), client latency p50/p99, failures, the server's own
launch/teardown timings, and CPU of the service's process tree per chat (`bench.proctree`).
"""

from __future__ import annotations

import asyncio
import os
import secrets
import socket
import subprocess
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import httpx
import jwt
import psutil

from bench.proctree import quiet_sample
from bench.stats import percentile

START_TIMEOUT_SECONDS = 120.0


@dataclass
class ChatLevel:
    mode: str
    concurrency: int
    chats: int
    failures: int = 0
    seconds: float = 0.0
    throughput: float = 0.0
    latency_ms: list[float] = field(default_factory=list)
    server_launch_ms: list[float] = field(default_factory=list)
    server_teardown_ms: list[float] = field(default_factory=list)
    cpu_ms_per_chat: float = 0.0
    error_codes: dict[str, int] = field(default_factory=dict)

    def summary(self) -> dict[str, Any]:
        data = asdict(self)
        for key in ("latency_ms", "server_launch_ms", "server_teardown_ms"):
            values = data.pop(key)
            data[f"{key}_p50"] = percentile(values, 50)
            data[f"{key}_p99"] = percentile(values, 99)
        return data


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class ServiceUnderLoad:
    """`python -m bench.serve` on a free port, started and stopped around a block."""

    def __init__(
        self,
        mode: str,
        state_dir: Path,
        *,
        model_latency_ms: float = 0.0,
        model_url: str | None = None,
        extra_args: tuple[str, ...] = (),
    ) -> None:
        self.mode = mode
        self.extra_args = extra_args
        self.model_latency_ms = model_latency_ms
        self.model_url = model_url
        self.port = _free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.secret = secrets.token_hex(32)
        self._state_dir = state_dir
        self._process: subprocess.Popen[bytes] | None = None

    async def __aenter__(self) -> ServiceUnderLoad:
        self._state_dir.mkdir(parents=True, exist_ok=True)
        env = {**os.environ, "JWT_SECRET": self.secret, "PYTHONPATH": os.pathsep.join(sys.path)}
        self._process = subprocess.Popen(  # noqa: ASYNC220 - started once, stopped in __aexit__
            [sys.executable, "-m", "bench.serve", "--mode", self.mode, "--port", str(self.port)]
            + ["--state", str(self._state_dir), "--model-latency-ms", str(self.model_latency_ms)]
            + (["--model-url", self.model_url] if self.model_url else [])
            + list(self.extra_args),
            env=env,
        )
        deadline = time.monotonic() + START_TIMEOUT_SECONDS
        async with httpx.AsyncClient() as client:
            while True:
                if self._process.poll() is not None:
                    raise RuntimeError(f"bench.serve ({self.mode}) exited at start")
                try:
                    if (await client.get(f"{self.url}/healthz")).status_code == 200:
                        return self
                except httpx.TransportError:
                    pass
                if time.monotonic() > deadline:
                    raise TimeoutError("bench.serve did not start")
                await asyncio.sleep(0.05)

    async def __aexit__(self, *_: object) -> None:
        if self._process is not None:
            self._process.terminate()
            try:
                self._process.wait(15)
            except subprocess.TimeoutExpired:
                self._process.kill()
                self._process.wait()

    @property
    def process(self) -> psutil.Process:
        assert self._process is not None
        return psutil.Process(self._process.pid)

    def token(self, user: str) -> str:
        now = int(time.time())
        return jwt.encode({"sub": user, "iat": now, "exp": now + 3600}, self.secret, algorithm="HS256")


async def run_level(service: ServiceUnderLoad, concurrency: int, chats: int) -> ChatLevel:
    level = ChatLevel(mode=service.mode, concurrency=concurrency, chats=chats)
    tokens = [service.token(f"user-{index}") for index in range(min(chats, 256))]
    queue: asyncio.Queue[int] = asyncio.Queue()
    for index in range(chats):
        queue.put_nowait(index)
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)

    async with httpx.AsyncClient(base_url=service.url, limits=limits, timeout=300) as client:

        async def worker() -> None:
            while True:
                try:
                    index = queue.get_nowait()
                except asyncio.QueueEmpty:
                    return
                started = time.perf_counter()
                try:
                    response = await client.post(
                        "/api/agents/chat",
                        json={"message": "who am I?"},
                        headers={"Authorization": f"Bearer {tokens[index % len(tokens)]}"},
                    )
                except httpx.HTTPError as exc:
                    level.failures += 1
                    level.error_codes[type(exc).__name__] = level.error_codes.get(type(exc).__name__, 0) + 1
                    continue
                elapsed = (time.perf_counter() - started) * 1000
                if response.status_code != 200:
                    level.failures += 1
                    code = response.json().get("error", {}).get("code", str(response.status_code))
                    level.error_codes[code] = level.error_codes.get(code, 0) + 1
                    continue
                level.latency_ms.append(elapsed)
                timings = response.json().get("timings_ms", {})
                level.server_launch_ms.append(float(timings.get("launch", 0.0)))
                level.server_teardown_ms.append(float(timings.get("teardown", 0.0)))

        cpu_before = await quiet_sample(service.process.pid)
        started = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        level.seconds = time.perf_counter() - started
        # Quiet again: the last tool servers exited and were reaped, so their CPU is accounted.
        cpu = await quiet_sample(service.process.pid) - cpu_before
        level.cpu_ms_per_chat = cpu.tree * 1000 / max(1, chats)
    level.throughput = (chats - level.failures) / level.seconds if level.seconds else 0.0
    return level


async def measure_chat(
    mode: str,
    state_dir: Path,
    *,
    concurrencies: list[int],
    chats_for: dict[int, int],
    model_latency_ms: float = 0.0,
) -> list[ChatLevel]:
    levels: list[ChatLevel] = []
    async with ServiceUnderLoad(mode, state_dir, model_latency_ms=model_latency_ms) as service:
        await run_level(service, 1, 3)  # warm-up: template ready, first imports done
        for concurrency in concurrencies:
            levels.append(await run_level(service, concurrency, chats_for[concurrency]))
    return levels
