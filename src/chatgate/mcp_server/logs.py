"""The tool server's logs: JSON lines on stderr and nothing else (stdout is the MCP channel).

Everything that could write to stderr goes through one JSON formatter: the logging records, but
also what Python prints by itself (an uncaught exception in a thread, an unraisable exception
during garbage collection, a logging handler that failed), which would otherwise be multi-line
tracebacks interleaved with the log lines.
"""

from __future__ import annotations

import logging
import sys
import threading
from typing import Any

from chatgate.observability import JsonFormatter

logger = logging.getLogger("chatgate.mcp_server")


def configure_child_logging(level: str = "WARNING") -> None:
    """Route every log record and every stray traceback of this process to stderr as JSON lines."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    # A handler that fails (stderr gone, a record that cannot be formatted under MemoryError) must
    # not print its own traceback to stderr.
    logging.raiseExceptions = False
    sys.excepthook = _log_uncaught
    threading.excepthook = _log_thread_exception
    sys.unraisablehook = _log_unraisable


def _log_uncaught(kind: type[BaseException], error: BaseException, traceback: Any) -> None:
    logger.error("uncaught %s", kind.__name__, exc_info=(kind, error, traceback))


def _log_thread_exception(args: threading.ExceptHookArgs) -> None:
    if args.exc_type is SystemExit:
        return
    name = args.thread.name if args.thread is not None else "?"
    error = (args.exc_type, args.exc_value, args.exc_traceback) if args.exc_value is not None else None
    logger.error("thread %s failed: %s", name, args.exc_type.__name__, exc_info=error)


def _log_unraisable(unraisable: Any) -> None:
    logger.warning("ignored %s: %s", type(unraisable.exc_value).__name__, unraisable.err_msg or "")
