"""Entry point: `python -m chatgate.mcp_server` (the exec launcher's child)."""

from __future__ import annotations

import logging
import os

import anyio

from chatgate.mcp_server.lifecycle import die_with_parent, hard_exit
from chatgate.mcp_server.logs import configure_child_logging
from chatgate.mcp_server.server import serve_stdio
from chatgate.mcp_server.settings import ChildSettings, IdentityMissingError
from chatgate.sandbox import contain

logger = logging.getLogger("chatgate.mcp_server")


def main() -> None:
    # stdout is the protocol channel: every log line goes to stderr, as JSON.
    configure_child_logging()
    try:
        settings = ChildSettings.from_environ(os.environ)
    except IdentityMissingError as exc:
        logger.error("refusing to serve: %s", exc)  # message only, no traceback needed
        hard_exit(2)
        return
    logging.getLogger().setLevel(settings.log_level.upper())
    try:
        contain(settings)  # while single-threaded: before the watchdog thread and the event loop
        die_with_parent(settings.parent_pid)
        anyio.run(serve_stdio, settings)
    except Exception:
        logger.exception("tool server failed")
        hard_exit(1)
    hard_exit(0)


if __name__ == "__main__":
    main()
