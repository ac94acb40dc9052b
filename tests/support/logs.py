"""Capturing a live app's log records in tests, waiting for the ones written after a response."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager


class CapturedLogs:
    """Records a logger emitted, in order; `wait_for` blocks until one matches (the server writes
    the request line after the response has gone out, so a test must wait for it, not assume it)."""

    def __init__(self) -> None:
        self.records: list[logging.LogRecord] = []
        self._changed = threading.Condition()

    def keep(self, record: logging.LogRecord) -> None:
        with self._changed:
            self.records.append(record)
            self._changed.notify_all()

    def wait_for(
        self, matches: Callable[[logging.LogRecord], bool], timeout: float = 30
    ) -> logging.LogRecord:
        with self._changed:
            found = self._changed.wait_for(lambda: next(filter(matches, self.records), None), timeout)
        assert found is not None, f"no matching log record within {timeout} s"
        return found


@contextmanager
def captured_logs(logger_name: str) -> Iterator[CapturedLogs]:
    captured = CapturedLogs()
    handler = logging.Handler()
    handler.emit = captured.keep  # type: ignore[method-assign]
    logger = logging.getLogger(logger_name)
    logger.addHandler(handler)
    try:
        yield captured
    finally:
        logger.removeHandler(handler)
