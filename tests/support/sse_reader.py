"""A streamed HTTP response read in a background thread, so a test can watch it arrive and act
meanwhile (start another reader, release a model, leave early)."""

from __future__ import annotations

import threading
from typing import Any

import httpx

from support.processes import wait_until


class StreamReader:
    """`reader = StreamReader("GET", url, headers=…)`; `reader.wait_for("finish")`, `reader.leave()`,
    `reader.join()`; then `status`, `headers` and `text`."""

    def __init__(self, method: str, url: str, **request: Any) -> None:
        self.status: int | None = None
        self.headers: httpx.Headers | None = None
        self.error: BaseException | None = None
        self._parts: list[str] = []
        self._lock = threading.Lock()
        self._leave = threading.Event()
        self._thread = threading.Thread(target=self._read, args=(method, url, request), daemon=True)
        self._thread.start()

    @property
    def text(self) -> str:
        with self._lock:
            return "".join(self._parts)

    def wait_for(self, fragment: str, timeout: float = 60.0) -> bool:
        """True once `fragment` has arrived (a ceiling, not a speed)."""
        return wait_until(lambda: fragment in self.text, timeout=timeout)

    def wait_status(self, timeout: float = 60.0) -> int | None:
        wait_until(lambda: self.status is not None or not self._thread.is_alive(), timeout=timeout)
        return self.status

    def leave(self) -> None:
        """Stop reading and close the connection, as a browser tab that is closed."""
        self._leave.set()
        self.join()

    def join(self, timeout: float = 90.0) -> None:
        self._thread.join(timeout)
        assert not self._thread.is_alive(), "the stream did not end"

    def _read(self, method: str, url: str, request: dict[str, Any]) -> None:
        try:
            with httpx.stream(method, url, timeout=120, **request) as response:
                self.headers = response.headers
                self.status = response.status_code
                for piece in response.iter_text():
                    with self._lock:
                        self._parts.append(piece)
                    if self._leave.is_set():
                        return
        except BaseException as exc:  # reported by the test that reads `error`
            self.error = exc
