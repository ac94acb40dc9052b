"""Many waiting chats: `python -m bench.waiting`.

The service (`bench.serve`, fork launcher, its configured model client) talks to `bench.model_stub`
with a think time per answer (`--model-latency-ms`, 2000 by default: a real model's pace). The load
generator sends `--chats` chats **at once** (one connection each) and waits for every answer, while
a sampler reads the service's whole process tree (API process, fork template, spares, tool servers)
every `--sample-seconds`:

- **no-tool chats** ("Say hello.": one model call, no tool server when tool servers are lazy): how
  many the service holds with 0 errors, the tree's RSS at the moment most chats were waiting on the
  model (the stub counts them), and so the memory per waiting chat: (that RSS - the idle tree's RSS)
  / the chats waiting then (an upper bound: chats still queued in the service hold memory too; the
  same growth per chat in flight at that moment is reported beside it);
- **one-tool chats** ("Who am I?", `--tool-chats` of them): each holds a bound tool server from its
  tool call to its end, across its second model call; the sum of the tool servers' unshared memory
  (USS) at the moment most were alive, divided by how many were alive: memory per live tool server.

Not a timed test: a bench mode. Errors are counted by HTTP status and error code.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import tempfile
import time
from collections import Counter
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import httpx
import psutil

from bench.chat import ServiceUnderLoad
from bench.machine import load_average, machine
from bench.per_chat import MESSAGES, ModelStub
from bench.stats import percentile
from chatgate.forkserver.protocol import PROCESS_NAME_TOOL_SERVER

MIB = 1024 * 1024
RESULTS = Path(__file__).parent / "results"


@dataclass
class TreeMemory:
    """One look at the service's process tree."""

    rss: int  # bytes, summed over the tree (pages shared between processes counted in each)
    api_rss: int  # the API process alone
    processes: int
    tool_servers: int  # bound tool servers alive
    tool_server_uss: int  # their unshared memory, summed
    waiting: int  # model answers the stub was thinking about at that moment
    in_flight: int = 0  # chats sent and not yet answered, at that moment


@dataclass
class WaveResult:
    kind: str
    chats: int
    seconds: float = 0.0
    ok: int = 0
    errors: dict[str, int] = field(default_factory=dict)
    latency_ms: list[float] = field(default_factory=list)
    idle: TreeMemory | None = None
    busiest: TreeMemory | None = None  # the sample with the most chats waiting on the model
    most_tool_servers: TreeMemory | None = None
    launches: list[float] = field(default_factory=list)
    answered: int = 0  # so far, counting errors

    def summary(self) -> dict[str, Any]:
        data = asdict(self)
        data.pop("latency_ms")
        data.pop("launches")
        data["latency_ms_p50"] = percentile(self.latency_ms, 50)
        data["latency_ms_p99"] = percentile(self.latency_ms, 99)
        data["chats_that_launched"] = sum(1 for launch in self.launches if launch > 0)
        if self.idle and self.busiest and self.busiest.waiting:
            grown = self.busiest.rss - self.idle.rss
            data["mib_per_waiting_chat"] = grown / self.busiest.waiting / MIB
            data["mib_per_chat_in_flight"] = grown / max(1, self.busiest.in_flight) / MIB
        top = self.most_tool_servers
        if top and top.tool_servers:
            data["mib_uss_per_live_tool_server"] = top.tool_server_uss / top.tool_servers / MIB
        return data


def tree_memory(root_pid: int, waiting: int) -> TreeMemory:
    """RSS of the tree under `root_pid`, and the USS of its bound tool servers."""
    root = psutil.Process(root_pid)
    api_rss = root.memory_info().rss
    rss, count, servers, server_uss = api_rss, 1, 0, 0
    for child in root.children(recursive=True):
        try:
            rss += child.memory_info().rss
            count += 1
            if child.name() == PROCESS_NAME_TOOL_SERVER:
                server_uss += child.memory_full_info().uss
                servers += 1
        except psutil.Error:
            continue  # exited while being read
    return TreeMemory(rss, api_rss, count, servers, server_uss, waiting)


async def _sample(
    service: ServiceUnderLoad, stub: ModelStub, wave: WaveResult, stop: asyncio.Event, every: float
) -> None:
    waiting = 0
    while not stop.is_set():
        # The stub may be too busy accepting the wave's connections to answer: keep the last count.
        with contextlib.suppress(httpx.HTTPError):
            waiting = (await stub.stats())["waiting"]
        memory = await asyncio.to_thread(tree_memory, service.process.pid, waiting)
        memory.in_flight = wave.chats - wave.answered
        if wave.busiest is None or memory.waiting > wave.busiest.waiting:
            wave.busiest = memory
        if wave.most_tool_servers is None or memory.tool_servers > wave.most_tool_servers.tool_servers:
            wave.most_tool_servers = memory
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), every)


async def _one_chat(client: httpx.AsyncClient, token: str, kind: str, wave: WaveResult) -> None:
    started = time.perf_counter()
    try:
        response = await client.post(
            "/api/agents/chat", json={"message": MESSAGES[kind]}, headers={"Authorization": f"Bearer {token}"}
        )
    except httpx.HTTPError as exc:
        wave.answered += 1
        wave.errors[type(exc).__name__] = wave.errors.get(type(exc).__name__, 0) + 1
        return
    wave.answered += 1
    if response.status_code != 200:
        try:
            code = response.json()["error"]["code"]
        except (ValueError, KeyError, TypeError):
            code = "?"
        key = f"{response.status_code} {code}"
        wave.errors[key] = wave.errors.get(key, 0) + 1
        return
    wave.ok += 1
    wave.latency_ms.append((time.perf_counter() - started) * 1000)
    wave.launches.append(float(response.json()["timings_ms"].get("launch", 0.0)))


async def run_wave(
    service: ServiceUnderLoad, stub: ModelStub, kind: str, chats: int, every: float
) -> WaveResult:
    """`chats` chats of `kind` sent at once; the tree sampled until all are answered."""
    wave = WaveResult(kind=kind, chats=chats)
    await asyncio.sleep(1.0)  # let the previous wave's tool servers exit
    wave.idle = await asyncio.to_thread(tree_memory, service.process.pid, 0)
    tokens = [service.token(f"user-{index}") for index in range(min(chats, 50))]
    limits = httpx.Limits(max_connections=chats + 10, max_keepalive_connections=chats + 10)
    stop = asyncio.Event()
    async with httpx.AsyncClient(base_url=service.url, timeout=900, limits=limits) as client:
        sampler = asyncio.create_task(_sample(service, stub, wave, stop, every))
        started = time.perf_counter()
        await asyncio.gather(*(_one_chat(client, tokens[i % len(tokens)], kind, wave) for i in range(chats)))
        wave.seconds = time.perf_counter() - started
        stop.set()
        await sampler
    return wave


def _line(wave: WaveResult) -> str:
    data = wave.summary()
    busiest, idle = wave.busiest, wave.idle
    assert busiest is not None and idle is not None
    per_chat = data.get("mib_per_waiting_chat")
    per_in_flight = data.get("mib_per_chat_in_flight")
    per_server = data.get("mib_uss_per_live_tool_server")
    return (
        f"  {wave.kind:<5} {wave.chats:>6} {wave.ok:>6} {sum(wave.errors.values()):>6} {wave.seconds:>7.1f}"
        f" {busiest.waiting:>8} {busiest.in_flight:>9} {idle.rss / MIB:>9.0f} {busiest.rss / MIB:>9.0f}"
        f" {per_chat if per_chat is not None else float('nan'):>9.3f}"
        f" {per_in_flight if per_in_flight is not None else float('nan'):>10.3f}"
        f" {data['chats_that_launched']:>8}"
        f" {(wave.most_tool_servers.tool_servers if wave.most_tool_servers else 0):>6}"
        f" {per_server if per_server is not None else float('nan'):>9.2f}"
    )


async def measure(args: argparse.Namespace, state: Path) -> dict[str, Any]:
    waves: list[WaveResult] = []
    async with ModelStub(latency_ms=args.model_latency_ms) as stub:
        service = ServiceUnderLoad(
            "fork",
            state,
            model_url=f"{stub.url}/v1",
            extra_args=(
                *("--max-sessions", str(max(args.chats, args.tool_chats) + 16)),
                *("--chat-timeout-seconds", str(args.chat_timeout_seconds)),
            ),
        )
        async with service:
            print(f"[waiting] {args.chats} no-tool chats at once, load {load_average()} …", flush=True)
            waves.append(await run_wave(service, stub, "none", args.chats, args.sample_seconds))
            if args.tool_chats:
                chats = args.tool_chats
                print(f"[waiting] {chats} one-tool chats at once, load {load_average()} …", flush=True)
                waves.append(await run_wave(service, stub, "tool", args.tool_chats, args.sample_seconds))
    header = (
        "  kind   chats     ok errors       s  waiting in flight  idle MiB  busy MiB  MiB/wait"
        " MiB/flight launched  tools  USS/tool"
    )
    print(f"\nmany waiting chats, model think time {args.model_latency_ms:g} ms per answer (fork launcher)")
    print(header)
    for wave in waves:
        print(_line(wave))
        if wave.errors:
            print(f"    errors: {dict(Counter(wave.errors))}")
    print(
        "waiting: most model answers in progress at one sample; idle/busy MiB: RSS of the whole tree"
        " before the wave and at that sample; MiB/wait, MiB/flight: their difference per waiting chat, per"
        " chat in flight (sent, not answered) then;"
        " launched: chats whose"
        " timings_ms.launch > 0; tools, USS/tool: most bound tool servers alive at one sample, their"
        f" unshared memory each (MiB). load average now: {load_average()}"
    )
    return {"waves": [wave.summary() for wave in waves], "model_latency_ms": args.model_latency_ms}


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.waiting", description=__doc__)
    parser.add_argument("--chats", type=int, default=1000, help="no-tool chats sent at once")
    parser.add_argument("--tool-chats", type=int, default=100, help="one-tool chats sent at once (0: none)")
    parser.add_argument("--model-latency-ms", type=float, default=2000.0, help="model think time per answer")
    parser.add_argument("--chat-timeout-seconds", type=float, default=120.0, help="the service's deadline")
    parser.add_argument("--sample-seconds", type=float, default=0.5, help="how often the tree is read")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="chatgate-waiting-") as tmp:
        result = asyncio.run(measure(args, Path(tmp) / "state"))
    result["machine"] = machine()
    RESULTS.mkdir(exist_ok=True)
    out = RESULTS / f"waiting-{time.strftime('%Y%m%dT%H%M%SZ', time.gmtime())}.json"
    out.write_text(json.dumps(result, indent=2, default=str))
    print(f"\nwrote {out}")


if __name__ == "__main__":
    main()
