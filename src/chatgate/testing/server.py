"""An ASGI app served by uvicorn on a free loopback port, in a background thread, for tests.

The app's event loop is reachable (`run`), so a test can drive the app's own services (its launcher,
its tool servers) on the loop that owns them.
"""

from __future__ import annotations

import asyncio
import socket
import threading
import time
from collections.abc import Coroutine
from types import TracebackType
from typing import Any, TypeVar

import uvicorn

T = TypeVar("T")


class BackgroundServer:
    """`with BackgroundServer(app) as server: server.url …` — started and stopped around the block."""

    def __init__(self, app: Any, *, startup_timeout: float = 120.0) -> None:
        # Bound now and handed to uvicorn: no window in which another process takes the port.
        self._socket = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._socket.bind(("127.0.0.1", 0))
        self.port: int = self._socket.getsockname()[1]
        self.url = f"http://127.0.0.1:{self.port}"
        config = uvicorn.Config(app, log_config=None, lifespan="on", timeout_graceful_shutdown=5)
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(target=self._serve, name=f"chatgate-test-{self.port}", daemon=True)
        self._startup_timeout = startup_timeout
        self._loop: asyncio.AbstractEventLoop | None = None

    def _serve(self) -> None:
        async def serve() -> None:
            self._loop = asyncio.get_running_loop()
            await self._server.serve(sockets=[self._socket])

        asyncio.run(serve())

    def __enter__(self) -> BackgroundServer:
        self._thread.start()
        deadline = time.monotonic() + self._startup_timeout
        while not self._server.started:
            if not self._thread.is_alive():
                raise RuntimeError("the test server failed to start; its log says why")
            if time.monotonic() > deadline:
                self.__exit__(None, None, None)
                raise TimeoutError(f"the test server did not start within {self._startup_timeout:g}s")
            time.sleep(0.01)
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self._server.should_exit = True
        self._thread.join(timeout=30)
        self._socket.close()

    def run(self, coroutine: Coroutine[Any, Any, T], *, timeout: float) -> T:
        """Run `coroutine` on the server's event loop and wait for its result (from another thread).

        Raises:
            TimeoutError: it did not finish within `timeout` seconds (it is cancelled).
        """
        if self._loop is None:
            coroutine.close()
            raise RuntimeError("the server is not running")
        future = asyncio.run_coroutine_threadsafe(coroutine, self._loop)
        try:
            return future.result(timeout)
        except TimeoutError:
            future.cancel()
            raise
