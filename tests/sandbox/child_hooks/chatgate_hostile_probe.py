"""Test-only: the hostile-code corpus, run inside a bound tool server by the `hostile_probe` tool.

Each attempt is what code inside a tool server (a buggy tool, an operator's module, a parser fed by
a crafted upstream answer) might try to reach beyond its user. The tool returns, per attempt,
`reached: …` or `blocked: <error>`; the tests decide which outcome each mode must give. Attempts
never disturb what they target: signals are signal 0 (a permission check), `execve` gets an
invalid argument vector (the kernel checks permission first and answers EFAULT only when it would
have run the program), memory reads copy a few bytes, the one ptrace attaches without stopping.
"""

from __future__ import annotations

import ctypes
import json
import os
import socket
import subprocess
import threading
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

Attempt = Callable[[dict[str, Any]], str]

_libc = ctypes.CDLL(None, use_errno=True)
_PTRACE_SEIZE = 0x4206
_PTRACE_DETACH = 17


class _IoVec(ctypes.Structure):
    _fields_ = [("base", ctypes.c_void_p), ("length", ctypes.c_size_t)]


def _read(path: str) -> str:
    with open(path, "rb") as handle:
        return f"read {len(handle.read(256))} bytes"


def _errno_error() -> OSError:
    code = ctypes.get_errno()
    return OSError(code, os.strerror(code))


def _vm_read(pid: int, address: int) -> str:
    buffer = ctypes.create_string_buffer(16)
    local = _IoVec(ctypes.addressof(buffer), 16)
    remote = _IoVec(address, 16)
    read = _libc.process_vm_readv(pid, ctypes.byref(local), 1, ctypes.byref(remote), 1, 0)
    if read < 0:
        raise _errno_error()
    return f"copied {read} bytes of its memory"


def _ptrace_seize(pid: int) -> str:
    if _libc.ptrace(_PTRACE_SEIZE, pid, None, None) != 0:
        raise _errno_error()
    _libc.ptrace(_PTRACE_DETACH, pid, None, None)  # may fail on a running tracee; ends with us anyway
    return "attached"


def _execve_probe() -> str:
    # argv points at an unmapped page: a permitted execve fails only while copying it (EFAULT).
    result = _libc.execve(b"/bin/sh", ctypes.c_void_p(8), None)
    code = ctypes.get_errno()
    if result == -1 and code == 14:  # EFAULT
        return "the kernel would have run /bin/sh"
    raise OSError(code, os.strerror(code))


def _open_mem(pid: int) -> str:
    fd = os.open(f"/proc/{pid}/mem", os.O_RDONLY)
    os.close(fd)
    return "opened its memory"


def _in_new_thread(attempt: Attempt, targets: dict[str, Any]) -> str:
    """Run `attempt` on a thread started now: threads must inherit the containment."""
    result: list[str] = []
    failure: list[BaseException] = []

    def run() -> None:
        try:
            result.append(attempt(targets))
        except BaseException as exc:  # reported by the caller
            failure.append(exc)

    thread = threading.Thread(target=run)
    thread.start()
    thread.join()
    if failure:
        raise failure[0]
    return result[0] + " (from a new thread)"


def _write(path: str) -> str:
    with open(path, "w", encoding="utf-8") as handle:
        handle.write("planted by a hostile tool")
    return f"wrote {path}"


def _symlink_out(targets: dict[str, Any]) -> str:
    link = Path(targets["own_dir"]) / "link-out"
    os.symlink(targets["other_user_file"], link)
    return "created; " + _read(str(link))


def _hardlink_out(targets: dict[str, Any]) -> str:
    os.link(targets["other_user_file"], Path(targets["own_dir"]) / "hardlink-out")
    return "created"


def _connect_tcp(port: int) -> str:
    with socket.create_connection(("127.0.0.1", port), timeout=3):
        return f"connected to port {port}"


def _connect_unix(path: str) -> str:
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as client:
        client.settimeout(3)
        client.connect(path)
        return "connected"


def _run_program() -> str:
    done = subprocess.run(["/bin/true"], check=False, timeout=10)
    return f"ran /bin/true (exit {done.returncode})"


ATTEMPTS: dict[str, Attempt] = {
    "own_dir_write": lambda t: _write(str(Path(t["own_dir"]) / "mine.txt")),  # control: always allowed
    "read_other_user_file": lambda t: _read(t["other_user_file"]),
    "read_other_user_file_via_proc_root": lambda t: _read("/proc/self/root" + t["other_user_file"]),
    "list_files_root": lambda t: f"listed {len(os.listdir(t['files_root']))} folders",
    "read_dev_secret": lambda t: _read(t["dev_secret"]),
    "read_env_file": lambda t: _read(t["env_file"]),
    "read_other_sqlite_file": lambda t: _read(t["other_sqlite"]),
    "read_sibling_environ": lambda t: _read(f"/proc/{t['sibling_pid']}/environ"),
    "open_sibling_mem": lambda t: _open_mem(t["sibling_pid"]),
    "read_api_environ": lambda t: _read(f"/proc/{t['api_pid']}/environ"),
    "ptrace_sibling": lambda t: _ptrace_seize(t["sibling_pid"]),
    "vm_read_sibling": lambda t: _vm_read(t["sibling_pid"], t["sibling_address"]),
    "vm_read_api": lambda t: _vm_read(t["api_pid"], t["api_address"]),
    "signal_sibling": lambda t: (os.kill(t["sibling_pid"], 0), "may signal it")[1],
    "signal_api": lambda t: (os.kill(t["api_pid"], 0), "may signal it")[1],
    "execve_sh": lambda t: _execve_probe(),
    "run_program": lambda t: _run_program(),
    "connect_unconfigured_port": lambda t: _connect_tcp(t["unconfigured_port"]),
    "connect_unix_socket": lambda t: _connect_unix(t["unix_socket"]),
    "write_other_user_dir": lambda t: _write(str(Path(t["other_user_file"]).parent / "planted.txt")),
    "write_state_dir": lambda t: _write(str(Path(t["state_dir"]) / "planted.txt")),
    "write_tmp": lambda t: _write(f"/tmp/chatgate-planted-{os.getpid()}.txt"),
    "symlink_out": _symlink_out,
    "hardlink_out": _hardlink_out,
    "read_other_user_file_from_new_thread": lambda t: _in_new_thread(
        lambda t: _read(t["other_user_file"]), t
    ),
}


async def _postgres_attempts(targets: dict[str, Any]) -> dict[str, str]:
    """Row-level security from inside: the tool server's own connection (DATABASE_URL)."""
    import asyncpg
    from sqlalchemy.engine import make_url

    dsn = (
        make_url(os.environ["DATABASE_URL"])
        .set(drivername="postgresql")
        .render_as_string(hide_password=False)
    )
    own_token = os.environ.get("CHATGATE_DATABASE_IDENTITY", "")
    victim = targets["other_user"]
    outcomes: dict[str, str] = {}
    connection = await asyncpg.connect(dsn, timeout=5)
    try:

        async def count_as(table: str, *, user_id: str = "", identity: str = "") -> int:
            async with connection.transaction():
                await connection.execute(
                    "SELECT set_config('app.user_id', $1, true), set_config('chatgate.identity', $2, true)",
                    user_id,
                    identity,
                )
                return int(await connection.fetchval(f"SELECT count(*) FROM {table}"))  # noqa: S608

        async def attempt(name: str, run: Callable[[], Awaitable[str]]) -> None:
            try:
                outcomes[name] = "reached: " + await run()
            except Exception as exc:
                outcomes[name] = f"blocked: {type(exc).__name__}"

        async def rows(table: str, **presented: str) -> str:
            found = await count_as(table, **presented)
            if not found:
                raise LookupError("no rows visible")
            return f"{found} rows of {table}"

        forged = own_token.rsplit(".", 1)[0] + "." + victim if own_token else ""
        await attempt("pg_own_records_control", lambda: rows("records", identity=own_token))
        await attempt("pg_set_app_user_id", lambda: rows("records", user_id=victim))
        await attempt("pg_forge_identity", lambda: rows("records", identity=forged))
        await attempt(
            "pg_replay_expired_identity", lambda: rows("records", identity=targets["expired_token"])
        )
        for table in ("agent_messages", "agent_sessions", "conversations", "api_credentials"):
            await attempt(f"pg_read_{table}", lambda table=table: rows(table, user_id=victim))

        async def mint_with_key() -> str:
            import hashlib
            import hmac
            import time

            secret = await connection.fetchval("SELECT secret FROM chatgate_identity_key WHERE id = 1")
            expires = int(time.time()) + 60
            signature = hmac.new(bytes(secret), f"{expires}:{victim}".encode(), hashlib.sha256).hexdigest()
            return "read the key; " + await rows("records", identity=f"v1.{expires}.{signature}.{victim}")

        await attempt("pg_sign_with_identity_key", mint_with_key)
    finally:
        await connection.close()
    return outcomes


def register(server: Any) -> None:
    """Add the `hostile_probe` tool to `server`."""

    @server.tool()
    async def hostile_probe(targets: str) -> str:
        """Run the containment corpus against the JSON targets and report what was reached."""
        parsed: dict[str, Any] = json.loads(targets)
        # As the files tools would: the user's own folder exists (the sandbox creates it up front).
        os.makedirs(parsed["own_dir"], exist_ok=True)
        outcomes: dict[str, str] = {}
        for name, run in ATTEMPTS.items():
            if name in parsed.get("skip", ()):
                continue
            try:
                outcomes[name] = "reached: " + run(parsed)
            except Exception as exc:
                outcomes[name] = f"blocked: {type(exc).__name__}: {exc}"[:200]
        if (
            parsed.get("other_user")
            and parsed.get("expired_token")
            and "postgresql" in os.environ.get("DATABASE_URL", "")
        ):
            outcomes.update(await _postgres_attempts(parsed))
        return json.dumps(outcomes)
