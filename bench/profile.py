"""`python -m bench.profile`: where chatgate's CPU goes in a chat, for the API process and the tool server.

Needs py-spy (`pip install -e '.[profile]'`). The service is `bench.serve` (fork launcher by default;
`--variant` picks another, or the bare SDK worker) with its configured model client against
`bench.model_stub`, answering sequential chats of one kind.

1. **Counters** (no profiler attached): per chat, the API process's user and system CPU, its
   context switches (all threads), SQL statements by kind, transactions committed and aiosqlite
   thread hops (`bench.counters`); the tool servers' user and system CPU and minor page faults
   (the template's `cutime`, `cstime`, `cminflt`: what its reaped children used).
2. **Stacks**: py-spy samples the API process for the whole run. A tool server lives ~50 ms, too
   short to attach to after it starts; but it is one of the template's idle *spares* before it is
   bound, so py-spy is attached to every spare ahead of each chat and follows whichever one serves
   it, from bind to exit.

Writes the raw py-spy files and `profile.md` (`bench.profile_report`) under `--out`.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import signal
import sys
import tempfile
from collections import defaultdict
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import psutil

from bench.chat import ServiceUnderLoad
from bench.machine import load_average
from bench.per_chat import LABELS, SERVE_MODES, VARIANTS, BareWorker, ChatgateTarget, ModelStub, Target
from bench.proctree import quiet_sample
from bench.profile_report import API_BUCKETS, CHILD_BUCKETS, read_raw, render

PY_SPY = shutil.which("py-spy", path=os.pathsep.join([str(Path(sys.executable).parent), os.environ["PATH"]]))
RESULTS = Path(__file__).parent / "results"


def _stat(pid: int) -> dict[str, float]:
    """utime, stime, cutime, cstime (s), minflt, cminflt of one process, from /proc/<pid>/stat."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    ticks = os.sysconf("SC_CLK_TCK")
    # Fields after the command, numbered from 3 (state): minflt 10, cminflt 11, utime 14 … cstime 17.
    value = {name: float(fields[index - 3]) for name, index in [("minflt", 10), ("cminflt", 11)]}
    for name, index in [("utime", 14), ("stime", 15), ("cutime", 16), ("cstime", 17)]:
        value[name] = float(fields[index - 3]) / ticks
    return value


def _threads(pid: int) -> dict[str, float]:
    """Per-process sums over live threads: context switches, and run / runqueue-wait time (ms).

    `schedstat` is in nanoseconds (exact, unlike the tick-rounded `stat`); "loop" is the main
    thread (the event loop), "others" every other live thread (aiosqlite's, executors').
    """
    totals: defaultdict[str, float] = defaultdict(float)
    for thread in psutil.Process(pid).threads():
        where = "loop" if thread.id == pid else "others"
        try:
            status = Path(f"/proc/{pid}/task/{thread.id}/status").read_text()
            run_ns, wait_ns, _ = Path(f"/proc/{pid}/task/{thread.id}/schedstat").read_text().split()
        except OSError:
            continue
        for line in status.splitlines():
            if line.startswith(("voluntary_ctxt_switches:", "nonvoluntary_ctxt_switches:")):
                key = f"{where}_{line.split('_ctxt')[0]}_switches"
                totals[key] = totals.get(key, 0.0) + float(line.split(":")[1])
        totals[f"{where}_run_ms"] = totals.get(f"{where}_run_ms", 0.0) + int(run_ns) / 1e6
        totals[f"{where}_runqueue_wait_ms"] = (
            totals.get(f"{where}_runqueue_wait_ms", 0.0) + int(wait_ns) / 1e6
        )
    return totals


def _template_pid(api_pid: int) -> int | None:
    for child in psutil.Process(api_pid).children():
        if child.name() == "chatgate-tmpl":
            return int(child.pid)
    return None


async def measure_counters(target: ChatgateTarget, url: str, kind: str, chats: int) -> dict[str, Any]:
    api, template = target.pid, _template_pid(target.pid) or target.pid
    # Without a template (no isolation) the tool-server rows read the API process's own children: none.
    async with httpx.AsyncClient() as client:
        before_db = (await client.get(f"{url}/bench/counters")).json()
        await quiet_sample(api)
        before_api, before_tmpl, before_threads = _stat(api), _stat(template), _threads(api)
        await target.run(kind, chats)
        await quiet_sample(api)
        after_api, after_tmpl, after_threads = _stat(api), _stat(template), _threads(api)
        after_db = (await client.get(f"{url}/bench/counters")).json()

    def per_chat(after: float, before: float, scale: float = 1.0) -> float:
        return round((after - before) * scale / chats, 2)

    statements = {
        key: per_chat(value, before_db["statements"].get(key, 0))
        for key, value in after_db["statements"].items()
    }
    texts = {
        key: per_chat(value, before_db["statement_texts"].get(key, 0))
        for key, value in sorted(after_db["statement_texts"].items(), key=lambda item: -item[1])
    }
    return {
        "chats": chats,
        "api_user_ms": per_chat(after_api["utime"], before_api["utime"], 1000),
        "api_system_ms": per_chat(after_api["stime"], before_api["stime"], 1000),
        **{
            f"api_{key}": per_chat(value, before_threads.get(key, 0.0))
            for key, value in sorted(after_threads.items())
        },
        "api_minor_faults": per_chat(after_api["minflt"], before_api["minflt"]),
        "sql_statements": statements,
        "sql_statement_texts": {key: value for key, value in texts.items() if value},
        "sql_commits": per_chat(after_db["commits"], before_db["commits"]),
        "aiosqlite_thread_hops": per_chat(
            after_db["aiosqlite_thread_hops"], before_db["aiosqlite_thread_hops"]
        ),
        "tool_server_user_ms": per_chat(after_tmpl["cutime"], before_tmpl["cutime"], 1000),
        "tool_server_system_ms": per_chat(after_tmpl["cstime"], before_tmpl["cstime"], 1000),
        "tool_server_minor_faults": per_chat(after_tmpl["cminflt"], before_tmpl["cminflt"]),
        "template_own_ms": per_chat(
            after_tmpl["utime"] + after_tmpl["stime"], before_tmpl["utime"] + before_tmpl["stime"], 1000
        ),
    }


class Spy:
    """One `py-spy record` on one pid, raw output to `path`."""

    def __init__(self, pid: int, path: Path, rate: int) -> None:
        self.pid, self.path, self.rate = pid, path, rate
        self.process: asyncio.subprocess.Process | None = None

    async def start(self) -> None:
        assert PY_SPY, "py-spy is not installed: pip install -e '.[profile]'"
        self.process = await asyncio.create_subprocess_exec(
            *[PY_SPY, "record", "-p", str(self.pid), "-r", str(self.rate), "-f", "raw"],
            *["--nolineno", "--threads", "--nonblocking", "--gil", "-o", str(self.path)],
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.DEVNULL,
        )
        assert self.process.stdout is not None
        # Sampling starts after this line; a chat sent earlier would be partly missed.
        while b"Sampling process" not in (line := await self.process.stdout.readline()):
            if not line:
                return

    async def stop(self) -> None:
        if self.process is not None and self.process.returncode is None:
            self.process.send_signal(signal.SIGINT)
        if self.process is not None:
            assert self.process.stdout is not None
            await self.process.stdout.read()
            await self.process.wait()


async def profile_stacks(target: Target, kind: str, chats: int, rate: int, out: Path) -> None:
    template = _template_pid(target.pid)
    api_spy = Spy(target.pid, out / "api.raw", rate)
    await api_spy.start()
    spies: dict[int, Spy] = {}
    try:
        if template is None:  # no tool-server processes to follow
            await target.run(kind, chats)
            return
        for _ in range(chats):
            await quiet_sample(target.pid)  # the last child gone; its spy wrote its file
            for child in psutil.Process(template).children():
                if child.pid not in spies and child.name() == "chatgate-spare":
                    spies[child.pid] = Spy(child.pid, out / f"child-{child.pid}.raw", rate)
                    await spies[child.pid].start()
            await target.run(kind, 1)
    finally:
        await api_spy.stop()
        for spy in spies.values():
            await spy.stop()


async def run(args: argparse.Namespace) -> Path:
    out = args.out or RESULTS / f"profile-{datetime.now(UTC).strftime('%Y%m%dT%H%M%SZ')}"
    out.mkdir(parents=True, exist_ok=True)
    load_before = load_average()
    counters: dict[str, Any] = {}
    with tempfile.TemporaryDirectory(prefix="chatgate-profile-") as tmp:
        async with ModelStub() as stub:
            model_url = f"{stub.url}/v1"
            if args.variant.startswith("bare"):
                async with BareWorker(
                    model_url, "catalog" if args.variant == "bare-catalog" else "whoami"
                ) as bare:
                    await bare.run(args.kind, 5)
                    await profile_stacks(bare, args.kind, args.chats, args.rate, out)
            else:
                mode = SERVE_MODES[args.variant]
                # Two services: the counters' event hooks must not show up in the stacks.
                counted = ServiceUnderLoad(
                    mode, Path(tmp) / "counted", model_url=model_url, extra_args=("--counters",)
                )
                async with ChatgateTarget(counted) as target:
                    await target.run(args.kind, 5)
                    counters = await measure_counters(target, counted.url, args.kind, args.counter_chats)
                print(json.dumps(counters, indent=2), flush=True)
                sampled = ServiceUnderLoad(mode, Path(tmp) / "sampled", model_url=model_url)
                async with ChatgateTarget(sampled) as target:
                    await target.run(args.kind, 5)
                    await profile_stacks(target, args.kind, args.chats, args.rate, out)
    report = [
        f"# Profile: {LABELS[args.variant]}, sequential chats of kind `{args.kind}`",
        "",
        f"Counters over {args.counter_chats} chats, stacks over {args.chats} (py-spy {args.rate} Hz,"
        f" non-blocking, GIL holder only); load average {load_before} before, {load_average()} after.",
        "",
        *_counter_tables(counters),
        render(
            "The bare SDK's process" if args.variant.startswith("bare") else "API process",
            read_raw([out / "api.raw"]),
            API_BUCKETS,
        ),
    ]
    children = sorted(out.glob("child-*.raw"))
    if children:
        report.append(
            render("Tool server (the bound child, from bind to exit)", read_raw(children), CHILD_BUCKETS)
        )
    (out / "profile.md").write_text("\n".join(report) + "\n")
    (out / "counters.json").write_text(json.dumps(counters, indent=2) + "\n")
    return out


def _counter_tables(counters: dict[str, Any]) -> list[str]:
    if not counters:
        return []
    return [
        "## Counters per chat (no profiler attached)",
        "",
        "| counter | per chat |",
        "|---|---|",
        *[
            f"| {key} | {value} |"
            for key, value in counters.items()
            if key not in ("chats", "sql_statement_texts")
        ],
        "",
        "| SQL statement (first 100 characters) | per chat |",
        "|---|---|",
        *[f"| `{text}` | {count} |" for text, count in counters["sql_statement_texts"].items()],
        "",
    ]


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.profile", description=__doc__)
    parser.add_argument("--variant", choices=VARIANTS[:-1], default="fork", help="what to profile")
    parser.add_argument("--kind", choices=["tool", "none"], default="tool")
    parser.add_argument("--chats", type=int, default=200, help="chats profiled with py-spy")
    parser.add_argument("--counter-chats", type=int, default=100, help="chats counted without a profiler")
    parser.add_argument("--rate", type=int, default=500, help="py-spy samples per second")
    parser.add_argument("--out", type=Path, help="directory for the raw files and profile.md")
    args = parser.parse_args()
    out = asyncio.run(run(args))
    print(f"wrote {out / 'profile.md'}")


if __name__ == "__main__":
    main()
