"""Per-chat cost against the floor: the bare Agents SDK beside chatgate (no isolation, fork, exec).

Every variant answers the same scripted chats from the same model stub (`bench.model_stub`, its own
process), sequentially, one chat at a time:

- **tool**: "Who am I?" — the model calls `whoami`, then answers (2 model calls);
- **none**: "Say hello." — the model answers at once (1 model call).

Variants: `bare` (`bench.bare_sdk`: `Runner.run` with one in-process function tool), `bare-catalog`
(the same with chatgate's whole catalog as function tools), and chatgate itself (`bench.serve`
with its configured model client) as `no-isolation`, `fork` and `exec`, each chat a
`POST /api/agents/chat` with a fresh conversation over one keep-alive connection.

Measured per chat: wall time at the client (p50, p99), CPU of the variant's whole process tree
and of its API process alone (`bench.proctree`: sampled at quiescent moments around each batch,
exited tool servers included through their reaper's `cutime`), and the stub's request count and
bytes (what a chat sends the model). Batches rotate through the variants for `rounds` rounds, so a
change in the machine's load lands on every variant alike; the spread between rounds is reported.
"""

from __future__ import annotations

import asyncio
import json
import math
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import httpx

from bench.chat import ServiceUnderLoad
from bench.machine import load_average
from bench.proctree import CpuSample, quiet_sample

START_TIMEOUT_SECONDS = 120.0
VARIANTS = ["bare", "bare-catalog", "no-isolation", "fork", "exec"]
KINDS = ["tool", "none"]
MESSAGES = {"tool": "Who am I?", "none": "Say hello."}
MODEL_CALLS = {"tool": 2, "none": 1}
LABELS = {
    "bare": "bare SDK, 1 function tool",
    "bare-catalog": "bare SDK, chatgate's catalog",
    "no-isolation": "chatgate, no isolation",
    "fork": "chatgate, fork",
    "exec": "chatgate, exec",
}
SERVE_MODES = {"no-isolation": "baseline", "fork": "fork", "exec": "exec"}


@dataclass
class Batch:
    """One batch of sequential chats of one kind on one variant."""

    chats: int
    wall_ms: list[float]
    failures: int
    cpu: CpuSample
    model_requests: int
    model_request_bytes: int
    load_average: str
    launch_ms: list[float] = field(default_factory=list)
    run_ms: list[float] = field(default_factory=list)


class Target(Protocol):
    pid: int

    async def run(self, kind: str, chats: int) -> tuple[list[float], int, list[float], list[float]]:
        """Run `chats` sequential chats: (wall ms each, failures, server launch ms, server run ms)."""
        ...


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class ModelStub:
    """`python -m bench.model_stub` on a free port, for the whole comparison."""

    def __init__(self, latency_ms: float = 0.0) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.latency_ms = latency_ms
        self._process: subprocess.Popen[bytes] | None = None

    async def __aenter__(self) -> ModelStub:
        self._process = subprocess.Popen(  # noqa: ASYNC220 - started once, stopped in __aexit__
            [sys.executable, "-m", "bench.model_stub", "--port", str(self.port)]
            + ["--latency-ms", str(self.latency_ms)]
        )
        deadline = time.monotonic() + START_TIMEOUT_SECONDS
        async with httpx.AsyncClient() as client:
            while True:
                try:
                    await client.get(f"{self.url}/stats")
                    return self
                except httpx.TransportError:
                    if self._process.poll() is not None or time.monotonic() > deadline:
                        raise RuntimeError("the model stub did not start") from None
                    await asyncio.sleep(0.05)

    async def __aexit__(self, *_: object) -> None:
        if self._process is not None:
            self._process.terminate()
            self._process.wait(15)

    async def stats(self) -> dict[str, int]:
        async with httpx.AsyncClient(timeout=30) as client:
            data: dict[str, int] = (await client.get(f"{self.url}/stats")).json()
        return data

    async def round_trip_ms(self, calls: int = 30) -> list[float]:
        """Keep-alive round trips of a minimal chat request (Nagle would show as ~40 ms each)."""
        times = []
        body = {"model": "scripted", "messages": [{"role": "user", "content": "ping"}]}
        async with httpx.AsyncClient(base_url=self.url) as client:
            for _ in range(calls):
                started = time.perf_counter()
                (await client.post("/v1/chat/completions", json=body)).raise_for_status()
                times.append((time.perf_counter() - started) * 1000)
        return times


class BareWorker:
    """`python -m bench.bare_sdk`: chats on command, over its stdin and stdout."""

    def __init__(self, model_url: str, tools: str) -> None:
        self._args = ["--model-url", model_url, "--tools", tools]
        self._process: asyncio.subprocess.Process | None = None
        self.pid = 0

    async def __aenter__(self) -> BareWorker:
        self._process = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "bench.bare_sdk", *self._args, stdin=subprocess.PIPE, stdout=subprocess.PIPE
        )
        self.pid = self._process.pid
        return self

    async def __aexit__(self, *_: object) -> None:
        if self._process is not None and self._process.stdin is not None:
            self._process.stdin.close()
            await self._process.wait()

    async def run(self, kind: str, chats: int) -> tuple[list[float], int, list[float], list[float]]:
        assert self._process is not None and self._process.stdin and self._process.stdout
        self._process.stdin.write(json.dumps({"kind": kind, "chats": chats}).encode() + b"\n")
        await self._process.stdin.drain()
        line = await self._process.stdout.readline()
        if not line:
            raise RuntimeError("bench.bare_sdk exited")
        answer = json.loads(line)
        return answer["wall_ms"], answer["failures"], [], []


class ChatgateTarget:
    """chatgate (`bench.serve`) answering `POST /api/agents/chat`, one keep-alive connection."""

    def __init__(self, service: ServiceUnderLoad) -> None:
        self._service = service
        self._tokens = [service.token(f"user-{index}") for index in range(8)]
        self._client: httpx.AsyncClient | None = None
        self._sent = 0
        self.pid = 0

    async def __aenter__(self) -> ChatgateTarget:
        await self._service.__aenter__()
        self.pid = self._service.process.pid
        self._client = httpx.AsyncClient(base_url=self._service.url, timeout=300)
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self._client is not None:
            await self._client.aclose()
        await self._service.__aexit__(*exc)

    async def run(self, kind: str, chats: int) -> tuple[list[float], int, list[float], list[float]]:
        assert self._client is not None
        wall: list[float] = []
        launch: list[float] = []
        run: list[float] = []
        failures = 0
        for _ in range(chats):
            token = self._tokens[self._sent % len(self._tokens)]
            self._sent += 1
            started = time.perf_counter()
            response = await self._client.post(
                "/api/agents/chat",
                json={"message": MESSAGES[kind]},
                headers={"Authorization": f"Bearer {token}"},
            )
            elapsed = (time.perf_counter() - started) * 1000
            body = response.json()
            called = [tool.get("name") for tool in body.get("tools_used", [])]
            if response.status_code != 200 or called != (["whoami"] if kind == "tool" else []):
                failures += 1
                continue
            wall.append(elapsed)
            launch.append(float(body["timings_ms"].get("launch", 0.0)))
            run.append(float(body["timings_ms"].get("run", 0.0)))
        return wall, failures, launch, run


async def run_batch(target: Target, stub: ModelStub, kind: str, chats: int) -> Batch:
    load = load_average()
    stats_before = await stub.stats()
    cpu_before = await quiet_sample(target.pid)
    wall, failures, launch, run = await target.run(kind, chats)
    cpu = await quiet_sample(target.pid) - cpu_before
    stats_after = await stub.stats()
    return Batch(
        chats=chats,
        wall_ms=wall,
        failures=failures,
        cpu=cpu,
        model_requests=stats_after["requests"] - stats_before["requests"],
        model_request_bytes=stats_after["request_bytes"] - stats_before["request_bytes"],
        load_average=load,
        launch_ms=launch,
        run_ms=run,
    )


def make_target(variant: str, stub: ModelStub, state_dir: Path) -> Any:
    model_url = f"{stub.url}/v1"
    if variant in ("bare", "bare-catalog"):
        return BareWorker(model_url, "catalog" if variant == "bare-catalog" else "whoami")
    service = ServiceUnderLoad(SERVE_MODES[variant], state_dir / variant, model_url=model_url)
    return ChatgateTarget(service)


async def measure_per_chat(
    variants: list[str], state_dir: Path, *, chats: int, exec_chats: int, rounds: int, warm_up: int = 3
) -> dict[str, Any]:
    """Run the comparison; returns the raw batches per variant and kind, and the stub's round trip."""
    batches: dict[str, dict[str, list[Batch]]] = {v: {k: [] for k in KINDS} for v in variants}
    async with ModelStub() as stub:
        stub_round_trip = await stub.round_trip_ms()
        targets = {v: make_target(v, stub, state_dir) for v in variants}
        # Started one after another: several interpreters importing at once on 2 cores only slows all.
        for variant, target in targets.items():
            print(f"[per-chat] starting {LABELS[variant]} …", flush=True)
            await target.__aenter__()
        try:
            for variant, target in targets.items():
                for kind in KINDS:
                    await target.run(kind, 1 if variant == "exec" else warm_up)
            for round_index in range(rounds):
                # Rotating the order spreads a drift in the machine's load over every variant.
                order = variants[round_index % len(variants) :] + variants[: round_index % len(variants)]
                print(f"[per-chat] round {round_index + 1}/{rounds}, load {load_average()} …", flush=True)
                for kind in KINDS:
                    for variant in order:
                        total = exec_chats if variant == "exec" else chats
                        size = max(1, math.ceil(total / rounds))
                        batch = await run_batch(targets[variant], stub, kind, size)
                        batches[variant][kind].append(batch)
        finally:
            for target in reversed(list(targets.values())):
                await target.__aexit__(None, None, None)
    return {"batches": batches, "stub_round_trip_ms": stub_round_trip}
