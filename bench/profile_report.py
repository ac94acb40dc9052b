"""Reading py-spy's raw output (`--format raw --nolineno --threads`) into shares of CPU.

A raw file has one line per distinct stack: `thread (tid);frame;…;leaf count`, root first, each
frame `function (package/module.py)`. `bench.profile` records with `--gil`: only the thread holding
the GIL is sampled, so a share of samples is a share of the time Python code ran. Without it,
py-spy's non-blocking mode also counts threads that are runnable but waiting for a CPU (after every
wake-up of the event loop or of aiosqlite's thread), which on a loaded machine buried the profile
under the loop's entry point. What `--gil` leaves out: C code that releases the GIL (sqlite3's own
statement execution, the loop's `epoll_wait`); time in the kernel on behalf of a frame (page
faults, syscalls) is charged to that frame.

Views:
- **by package**: each sample charged to the innermost frame outside the standard library (so a
  `json.dumps` called by the OpenAI client counts as openai); stacks with none are "stdlib: <module>".
  The shares add up to 100%.
- **buckets**: named groups of frames (the questions item 2 asks); a sample counts for a bucket if
  any of its frames matches, so buckets overlap.
- **functions**: self (leaf) and inclusive (anywhere in the stack) shares of single functions.
"""

from __future__ import annotations

import re
import sys
from collections import Counter
from collections.abc import Callable, Iterable
from pathlib import Path

Stack = tuple[str, ...]
FRAME = re.compile(r"^(?P<function>.*) \((?P<file>[^()]*)\)$")

# Named groups of frames; each is tested against every frame of a sample (file path or function).
Matcher = Callable[[str, str], bool]


def _in(*prefixes: str) -> Matcher:
    return lambda _function, file: file.startswith(prefixes)


def _calls(file_prefix: str, *functions: str) -> Matcher:
    return lambda function, file: file.startswith(file_prefix) and function.endswith(functions)


API_BUCKETS: dict[str, Matcher] = {
    "SDK session memory (SQLAlchemySession get_items/add_items)": _in("agents/extensions/memory/"),
    "chatgate conversation bookkeeping (claim, finish with history)": _in("chatgate/conversations/"),
    "SQLAlchemy (all statement work: compile, execute, pool, results)": _in("sqlalchemy/"),
    "aiosqlite (loop side of the thread hop, and the worker thread)": _in("aiosqlite/"),
    "MCP tools → SDK function tools (per turn)": _calls("agents/mcp/util.py", "get_all_function_tools"),
    "SDK → Chat Completions request conversion": _in("agents/models/chatcmpl_converter.py"),
    "OpenAI client (request building, transforms, response parsing)": _in("openai/"),
    "OpenAI client: _transform (request params)": _in("openai/_utils/_transform.py"),
    "httpx/httpcore (model HTTP)": _in("httpx/", "httpcore/"),
    "MCP client session (JSON-RPC over the pipes)": _in("mcp/"),
    "chatgate launcher (fork: template client, pipes)": _in("chatgate/launcher/"),
    "FastAPI / Starlette (routing, middleware, responses)": _in("fastapi/", "starlette/"),
    "uvicorn (HTTP protocol)": _in("uvicorn/protocols/"),
    "auth (JWT verification)": _in("chatgate/auth/verify.py", "jwt/"),
    "pydantic (validation, serialization)": _in("pydantic/", "pydantic_core/"),
    "logging": _in("logging/"),
}

CHILD_BUCKETS: dict[str, Matcher] = {
    "bind + serve start (chatgate forked child, lifecycle)": _in(
        "chatgate/forkserver/forked.py", "chatgate/mcp_server/lifecycle.py"
    ),
    "MCP server (session, JSON-RPC, tool dispatch)": _in("mcp/"),
    "chatgate tool server (strict server, tools, context)": _in("chatgate/mcp_server/"),
    "pydantic (validation, serialization)": _in("pydantic/", "pydantic_core/"),
    "anyio": _in("anyio/"),
    "json": _in("json/"),
}


def read_raw(paths: Iterable[Path]) -> Counter[Stack]:
    """All samples of the files, by stack (root first, the thread frame included)."""
    stacks: Counter[Stack] = Counter()
    for path in paths:
        if not path.exists():
            continue
        for line in path.read_text(errors="replace").splitlines():
            stack, _, count = line.rpartition(" ")
            if stack and count.isdigit():
                frames = stack.split(";")
                # `--threads` puts the thread first; keep it as the one frame without a file.
                if not frames[0].startswith("thread ("):
                    frames.insert(0, "thread (?)")
                stacks[tuple(frames)] += int(count)
    return stacks


def split_frame(frame: str) -> tuple[str, str]:
    """(function, file) of `function (file)`; the frame itself and "" if it has no file."""
    match = FRAME.match(frame)
    return (match["function"], match["file"]) if match else (frame, "")


def package_of(file: str) -> str:
    top = file.split("/", 1)[0].removesuffix(".py")
    return top if top else "?"


def is_stdlib(file: str) -> bool:
    top = package_of(file)
    return top in sys.stdlib_module_names or top.startswith("<") or file == ""


def thread_kind(stack: Stack) -> str:
    text = " ".join(stack)
    if "_connection_worker_thread" in text:
        return "aiosqlite worker thread"
    if "concurrent/futures/thread.py" in text:
        return "executor thread (run_in_executor)"
    if "WorkerThread.run (anyio/" in text:
        return "anyio worker thread (to_thread.run_sync)"
    return "event loop thread"


# A sample whose innermost Python frame is the loop's entry point is in the loop's C code (uvloop's
# I/O and callback dispatch), or was runnable but waiting for a CPU after a wake-up: py-spy's
# non-blocking mode counts a runnable thread as active. Under load the second kind grows.
EVENT_LOOP_LEAVES = frozenset(
    {
        "Runner.run (asyncio/runners.py)",
        "EpollSelector.select (selectors.py)",
        "BaseEventLoop.run_forever (asyncio/base_events.py)",
    }
)
EVENT_LOOP = "event loop: C code, or a wake-up waiting for a CPU"


def by_package(stacks: Counter[Stack]) -> Counter[str]:
    shares: Counter[str] = Counter()
    for stack, count in stacks.items():
        if stack[-1] in EVENT_LOOP_LEAVES:
            shares[EVENT_LOOP] += count
            continue
        frames = [split_frame(frame) for frame in stack[1:]]
        owner = next((package_of(file) for _, file in reversed(frames) if not is_stdlib(file)), None)
        if owner is None:
            leaf = frames[-1][1] if frames else ""
            owner = f"stdlib: {package_of(leaf)}"
        shares[owner] += count
    return shares


def by_bucket(stacks: Counter[Stack], buckets: dict[str, Matcher]) -> Counter[str]:
    shares: Counter[str] = Counter()
    for stack, count in stacks.items():
        frames = [split_frame(frame) for frame in stack[1:]]
        for name, matches in buckets.items():
            if any(matches(function, file) for function, file in frames):
                shares[name] += count
    return shares


def by_thread(stacks: Counter[Stack]) -> Counter[str]:
    shares: Counter[str] = Counter()
    for stack, count in stacks.items():
        shares[thread_kind(stack)] += count
    return shares


def functions(stacks: Counter[Stack]) -> tuple[Counter[str], Counter[str]]:
    """(self, inclusive) samples per frame; inclusive counts a frame once per sample."""
    own: Counter[str] = Counter()
    inclusive: Counter[str] = Counter()
    for stack, count in stacks.items():
        frames = stack[1:]
        if frames:
            own[frames[-1]] += count
        for frame in set(frames):
            inclusive[frame] += count
    return own, inclusive


def render(title: str, stacks: Counter[Stack], buckets: dict[str, Matcher], top: int = 25) -> str:
    total = sum(stacks.values())
    if not total:
        return f"## {title}\n\nno samples\n"

    def table(counter: Counter[str], heading: str, limit: int, skip_above: float = 1.01) -> list[str]:
        rows = [f"| {heading} | share of CPU samples |", "|---|---|"]
        kept = [(name, n) for name, n in counter.most_common() if n / total <= skip_above][:limit]
        rows += [f"| `{name}` | {n / total:.1%} |" for name, n in kept]
        return rows

    own, inclusive = functions(stacks)
    lines = [f"## {title}", "", f"{total} samples.", ""]
    lines += [*table(by_thread(stacks), "thread", 5), ""]
    lines += [*table(by_package(stacks), "package (innermost non-stdlib frame)", top), ""]
    lines += [*table(by_bucket(stacks, buckets), "bucket (overlapping)", len(buckets)), ""]
    lines += [*table(own, "function, self", top), ""]
    # The outermost frames (the event loop, `run`) are in nearly every sample and say nothing.
    lines += [*table(inclusive, "function, inclusive (frames in < 60% of samples)", 2 * top, 0.6), ""]
    return "\n".join(lines)
