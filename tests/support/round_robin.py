"""A round-robin TCP load balancer on loopback (asyncio, in a background thread), for tests that run
several chatgate instances behind one address.

Each new client connection goes to the next backend in turn and stays there (as an L4 balancer does):
a test that opens one connection per request (httpx without a shared client) alternates instances.
`routed` records which backend (index) each connection went to, in order; `send_next_to(i)` makes
the next connection go to backend `i` (the turn goes on from there), so a test can say "the other
instance" without counting every connection it made.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import Sequence
from types import TracebackType


class RoundRobinProxy:
    """`with RoundRobinProxy([url_a, url_b]) as proxy: httpx.get(f"{proxy.url}/…")`."""

    def __init__(self, backends: Sequence[tuple[str, int]]) -> None:
        self.backends = list(backends)
        self.routed: list[int] = []
        self.url = ""
        self._next = 0
        self._loop = asyncio.new_event_loop()
        self._server: asyncio.Server | None = None
        self._started = threading.Event()
        self._thread = threading.Thread(target=self._run, name="round-robin-proxy", daemon=True)

    def send_next_to(self, index: int) -> None:
        self._next = index

    def __enter__(self) -> RoundRobinProxy:
        self._thread.start()
        if not self._started.wait(timeout=30):
            raise TimeoutError("the proxy did not start")
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=15)

    def _run(self) -> None:
        asyncio.set_event_loop(self._loop)
        self._server = self._loop.run_until_complete(asyncio.start_server(self._accept, "127.0.0.1", 0))
        port = self._server.sockets[0].getsockname()[1]
        self.url = f"http://127.0.0.1:{port}"
        self._started.set()
        try:
            self._loop.run_forever()
        finally:
            self._server.close()
            for task in asyncio.all_tasks(self._loop):
                task.cancel()
            self._loop.run_until_complete(asyncio.sleep(0))
            self._loop.close()

    async def _accept(self, client_reader: asyncio.StreamReader, client_writer: asyncio.StreamWriter) -> None:
        index = self._next % len(self.backends)
        self._next += 1
        self.routed.append(index)
        host, port = self.backends[index]
        try:
            backend_reader, backend_writer = await asyncio.open_connection(host, port)
        except OSError:
            client_writer.close()  # that instance is gone: the client sees its connection closed
            return
        await asyncio.gather(
            _pipe(client_reader, backend_writer), _pipe(backend_reader, client_writer), return_exceptions=True
        )


async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        while data := await reader.read(65536):
            writer.write(data)
            await writer.drain()
    finally:
        with contextlib.suppress(OSError):
            writer.close()
