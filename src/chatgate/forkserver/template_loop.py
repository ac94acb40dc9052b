"""The fork template's loop: authenticate requests, hand each a fresh child, reap and limit them.

The loop is single-threaded on purpose: forking a multi-threaded process copies locks held by
threads that do not exist in the child. It selects over the listening socket, pending requests,
a SIGCHLD wake-up pipe and stdin (EOF there means the API process is gone: kill every child, exit).
Between batches of events it tops up the spares: unbound children forked ahead of demand, each
waiting on its own control pipe for the one bind request that makes it a user's tool server.
"""

from __future__ import annotations

import hmac
import logging
import os
import selectors
import signal
import socket
import struct
import time
from collections import deque
from contextlib import suppress
from dataclasses import dataclass, field
from typing import Any, cast

from chatgate.forkserver import protocol
from chatgate.forkserver.forked import ChildLimits
from chatgate.forkserver.spares import Spare, fork_spare, kill_child
from chatgate.mcp_server.server import StrictMCPServer

logger = logging.getLogger("chatgate.forkserver.template")

REQUEST_DEADLINE_SECONDS = 2.0
_NO_DEADLINE = float("inf")
_UCRED = struct.Struct("3i")


@dataclass
class _Pending:
    """A connection that has not yet sent a complete request."""

    conn: socket.socket
    deadline: float
    buffer: bytearray = field(default_factory=bytearray)


class Template:
    """Accepts authenticated requests and hands each a fresh child (a spare, or forked on demand)."""

    def __init__(
        self,
        listener: socket.socket,
        token: bytes,
        limits: ChildLimits,
        lifetime: float,
        server: StrictMCPServer,
        spare_count: int,
    ) -> None:
        self._server = server
        self._spare_count = spare_count
        self._spares: deque[Spare] = deque()
        self._listener = listener
        self._token = token
        self._limits = limits
        self._lifetime = lifetime
        self._selector = selectors.DefaultSelector()
        self._pending: dict[int, _Pending] = {}
        self._children: dict[int, float] = {}  # pid -> kill deadline (monotonic)
        self._wake_r, self._wake_w = os.pipe2(os.O_NONBLOCK | os.O_CLOEXEC)
        self._stopping = False

    def serve_forever(self) -> None:
        """Serve until stdin reaches EOF (the API process is gone or stopping us) or SIGTERM."""
        signal.set_wakeup_fd(self._wake_w)
        signal.signal(signal.SIGCHLD, lambda *_: None)
        signal.signal(signal.SIGTERM, self._on_term)
        signal.signal(signal.SIGINT, signal.SIG_IGN)  # the API process decides when we stop
        self._listener.setblocking(False)
        self._selector.register(self._listener, selectors.EVENT_READ, "accept")
        self._selector.register(self._wake_r, selectors.EVENT_READ, "wake")
        self._selector.register(0, selectors.EVENT_READ, "parent")
        while not self._stopping:
            # Forking replacements between batches of requests keeps a burst from waiting on them.
            self._top_up_spares()
            for key, _ in self._selector.select(self._next_timeout()):
                if key.data == "accept":
                    self._accept()
                elif key.data == "wake":
                    _drain(self._wake_r)
                elif key.data == "parent":
                    if not os.read(0, 4096):
                        self._stopping = True
                else:
                    self._read_request(key.fd)
            self._reap()
            self._enforce_deadlines()
        self.kill_all_children()

    # Requests ---------------------------------------------------------------------------------

    def _accept(self) -> None:
        while True:
            try:
                conn, _ = self._listener.accept()
            except (BlockingIOError, InterruptedError):
                return
            # Defense in depth behind the 0700 directory: only our own uid may even send a request,
            # and only from the API process that started us; a tool server (our own child, which
            # inherited the token with our memory) must not be able to ask for another user's.
            pid, uid, _gid = _UCRED.unpack(
                conn.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, _UCRED.size)
            )
            if uid != os.geteuid() or pid != os.getppid():
                logger.warning("refused a channel connection from uid %d (pid %d)", uid, pid)
                conn.close()
                continue
            conn.setblocking(False)
            self._pending[conn.fileno()] = _Pending(conn, time.monotonic() + REQUEST_DEADLINE_SECONDS)
            self._selector.register(conn, selectors.EVENT_READ, "request")

    def _read_request(self, fd: int) -> None:
        pending = self._pending[fd]
        try:
            chunk = pending.conn.recv(65536)
        except (BlockingIOError, InterruptedError):
            return
        except OSError:
            chunk = b""
        if not chunk:
            self._drop(fd)
            return
        pending.buffer += chunk
        try:
            framed = protocol.split_frame(pending.buffer)
        except protocol.ProtocolError:
            self._refuse(fd, protocol.ERROR_BAD_REQUEST)
            return
        if framed is None:
            return
        request, _ = framed
        self._selector.unregister(pending.conn)
        del self._pending[fd]
        self._handle(pending.conn, request)

    def _handle(self, conn: socket.socket, request: dict[str, Any]) -> None:
        with conn:
            conn.setblocking(True)
            conn.settimeout(REQUEST_DEADLINE_SECONDS)
            token = request.get("token")
            if not isinstance(token, str) or not hmac.compare_digest(token.encode(), self._token):
                logger.warning("refused an unauthenticated child request")
                _send_quietly(conn, {"ok": False, "error": protocol.ERROR_UNAUTHORIZED})
                return
            env, cwd = request.get("env"), request.get("cwd")
            if not protocol.is_str_map(env) or not (cwd is None or isinstance(cwd, str)):
                _send_quietly(conn, {"ok": False, "error": protocol.ERROR_BAD_REQUEST})
                return
            self._fork_child(conn, cast(dict[str, str], env), cwd)

    def _fork_child(self, conn: socket.socket, env: dict[str, str], cwd: str | None) -> None:
        spare = self._spares.popleft() if self._spares else self._spawn_spare()
        if spare is None:
            _send_quietly(conn, {"ok": False, "error": protocol.ERROR_FORK_FAILED})
            return
        self._children[spare.pid] = time.monotonic() + self._lifetime
        try:
            # The bind frame is small and the spare is blocked reading it: this write does not stall.
            os.write(spare.control_w, protocol.encode_frame({"env": env, "cwd": cwd}))
            reply = protocol.encode_frame({"ok": True, "pid": spare.pid})
            socket.send_fds(conn, [reply], spare.reply_fds())
        except (OSError, protocol.ProtocolError):
            # The requester is gone (or the frame is unusable): nobody will ever talk to this child.
            kill_child(spare.pid)
        finally:
            spare.close()

    def _spawn_spare(self) -> Spare | None:
        spare = fork_spare(self._limits, self._server)
        if spare is not None:
            self._children[spare.pid] = _NO_DEADLINE  # idle spares live until used or retired
        return spare

    def _top_up_spares(self) -> None:
        while len(self._spares) < self._spare_count and not self._stopping:
            spare = self._spawn_spare()
            if spare is None:
                return
            self._spares.append(spare)

    def _refuse(self, fd: int, error: str) -> None:
        pending = self._pending.pop(fd)
        self._selector.unregister(pending.conn)
        with pending.conn:
            pending.conn.setblocking(True)
            pending.conn.settimeout(REQUEST_DEADLINE_SECONDS)
            _send_quietly(pending.conn, {"ok": False, "error": error})

    def _drop(self, fd: int) -> None:
        pending = self._pending.pop(fd)
        self._selector.unregister(pending.conn)
        pending.conn.close()

    # Children ---------------------------------------------------------------------------------

    def _reap(self) -> None:
        while self._children:
            try:
                pid, _status = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                self._children.clear()
                return
            if pid == 0:
                return
            self._children.pop(pid, None)
            for spare in [spare for spare in self._spares if spare.pid == pid]:
                self._spares.remove(spare)  # a spare that died idle is never handed out
                spare.close()

    def _enforce_deadlines(self) -> None:
        now = time.monotonic()
        for pid, deadline in list(self._children.items()):
            if deadline <= now:
                logger.warning("tool server %d exceeded its lifetime; killing it", pid)
                kill_child(pid)
                self._children[pid] = now + 3600  # reaped on SIGCHLD; do not kill a recycled pid twice
        for fd, pending in list(self._pending.items()):
            if pending.deadline <= now:
                # A burst of requests is served one fork at a time: a request may have been waiting
                # on us, not we on it. Read what it sent meanwhile before giving up on it.
                self._read_request(fd)
                if fd in self._pending:
                    self._drop(fd)

    def _next_timeout(self) -> float | None:
        deadlines = [d for d in self._children.values() if d != _NO_DEADLINE]
        deadlines += [pending.deadline for pending in self._pending.values()]
        if not deadlines:
            return None
        return max(0.0, min(deadlines) - time.monotonic())

    def kill_all_children(self) -> None:
        while self._spares:
            self._spares.popleft().close()
        for pid in list(self._children):
            kill_child(pid)
        self._reap()

    def _on_term(self, *_: object) -> None:
        self._stopping = True


def _send_quietly(conn: socket.socket, payload: dict[str, Any]) -> None:
    with suppress(OSError):
        conn.sendall(protocol.encode_frame(payload))


def _drain(fd: int) -> None:
    try:
        while os.read(fd, 4096):
            pass
    except (BlockingIOError, InterruptedError):
        pass
