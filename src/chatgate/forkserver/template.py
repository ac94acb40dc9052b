"""The fork template: a warm, user-less process that forks one tool server per request.

Run by the fork launcher as `python -m chatgate.forkserver.template --socket PATH --parent-pid N`,
with a start frame on stdin (the channel token and the shared tool configuration: never in argv or
the environment, both readable in /proc) and an environment holding no secrets.

Why not `multiprocessing`'s forkserver: it is the same idea, but (in 3.11) its socket is not
authenticated, its children get `/dev/null` as stdin and talk back over pickled objects, there is
no way to hand their stdio to a client that is not their parent, and nothing kills them when the
API process dies. What this needs on top is small: a uid check and a token, two pipes per child
sent back with SCM_RIGHTS, per-child limits, reaping, spares, and death with the parent
(`template_loop` has the loop, `forked` the child's side).
"""

from __future__ import annotations

import argparse
import gc
import logging
import os
import socket
import threading
from pathlib import Path
from typing import cast

from chatgate.forkserver import protocol
from chatgate.forkserver.forked import ChildLimits
from chatgate.forkserver.template_loop import Template
from chatgate.forkserver.warmup import warm_up
from chatgate.mcp_server.lifecycle import hard_exit, set_parent_death_signal, set_process_name
from chatgate.mcp_server.logs import configure_child_logging

logger = logging.getLogger("chatgate.forkserver.template")


def _read_start_frame() -> tuple[bytes, dict[str, str]]:
    """The channel token and the shared child environment, sent by the API process on stdin."""
    buffer = bytearray()
    while (framed := protocol.split_frame(buffer)) is None:
        chunk = os.read(0, 65536)
        if not chunk:
            raise SystemExit("no start frame on stdin")
        buffer += chunk
    start, _ = framed
    token, environ = start.get("token"), start.get("env")
    if not isinstance(token, str) or not protocol.is_str_map(environ):
        raise SystemExit("malformed start frame")
    return token.encode(), cast(dict[str, str], environ)


def _parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="chatgate.forkserver.template")
    parser.add_argument("--socket", required=True, type=Path)
    parser.add_argument("--parent-pid", required=True, type=int)
    parser.add_argument("--memory-mb", type=int, default=0, help="RLIMIT_AS per child; 0 for none")
    parser.add_argument("--lifetime", type=float, default=300.0, help="seconds before a child is killed")
    parser.add_argument("--spares", type=int, default=2, help="unbound children kept forked ahead of demand")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> None:
    configure_child_logging()  # JSON lines on stderr; forked children keep it
    args = _parse_args(argv)
    set_parent_death_signal()
    set_process_name(protocol.PROCESS_NAME_TEMPLATE)
    if os.getppid() != args.parent_pid:  # the API process died before the signal was armed
        hard_exit(1)
    token, base_environ = _read_start_frame()
    warm = warm_up(base_environ)
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    listener.bind(str(args.socket))
    args.socket.chmod(0o600)
    # A burst of chats reaching their first tool call at once connects at once: room for all of them.
    listener.listen(socket.SOMAXCONN)
    limits = ChildLimits(
        memory_bytes=args.memory_mb * 1024 * 1024 if args.memory_mb > 0 else None,
        cpu_seconds=max(1, int(args.lifetime)),
    )
    template = Template(listener, token, limits, args.lifetime, warm.server, max(0, args.spares))
    # Children must not inherit a half-written stdout buffer, and the fork loop needs one thread.
    assert threading.active_count() == 1, "warm-up left threads behind; forking would be unsafe"
    # Objects that exist now are shared with every child; freezing them keeps the child's garbage
    # collector from writing to (and so copying) those pages.
    gc.collect()
    gc.freeze()
    ready = protocol.encode_frame({"ready": True, "pid": os.getpid(), "tools": warm.tools})
    os.write(1, ready)
    try:
        template.serve_forever()
    except Exception:
        logger.exception("fork template failed")
        template.kill_all_children()
        hard_exit(1)
    hard_exit(0)


if __name__ == "__main__":
    main()
