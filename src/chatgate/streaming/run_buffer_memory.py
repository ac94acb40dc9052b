"""The run buffer in this process: right for one instance (several need `run_buffer_redis`)."""

from __future__ import annotations

from collections.abc import AsyncGenerator

import anyio

from chatgate.streaming.run_buffer import ABORT_CHUNK, MAX_CHUNKS_PER_RUN, TERMINAL_TYPES, Chunk


class _Run:
    """One run's chunks; readers `wait` for the next append or the end."""

    def __init__(self) -> None:
        self.chunks: list[Chunk] = []
        self.done = False
        self._changed = anyio.Event()
        self._waited = False

    def append(self, chunk: Chunk) -> None:
        self.chunks.append(chunk)
        self._wake()

    def end(self) -> None:
        if self.done:
            return
        if not self.chunks or self.chunks[-1].get("type") not in TERMINAL_TYPES:
            self.chunks.append(ABORT_CHUNK)
        self.done = True
        self._wake()

    async def wait(self) -> None:
        self._waited = True
        await self._changed.wait()

    def _wake(self) -> None:
        # A new event only when someone waits: a run with no reader appends at list speed.
        if self._waited:
            self._waited = False
            self._changed.set()
            self._changed = anyio.Event()


class _Publisher:
    def __init__(self, buffer: InProcessRunBuffer, key: str, run: _Run) -> None:
        self._buffer = buffer
        self._key = key
        self._run = run

    async def publish(self, chunk: Chunk) -> None:
        if self._run.done:
            return
        if len(self._run.chunks) >= self._buffer.max_chunks:
            self._run.end()  # too long to keep: readers stop here with `abort`
            return
        self._run.append(chunk)

    async def pump(self) -> None:
        return None  # chunks are in the readers' hands as soon as they are published

    async def finish(self) -> None:
        self._run.end()
        self._buffer.forget(self._key, self._run)


class InProcessRunBuffer:
    """Runs in progress by key; a finished run is dropped at once (its readers keep their reference)."""

    def __init__(self, *, max_chunks: int = MAX_CHUNKS_PER_RUN) -> None:
        self.max_chunks = max_chunks
        self._runs: dict[str, _Run] = {}

    async def start(self, key: str) -> _Publisher:
        run = _Run()
        self._runs[key] = run
        return _Publisher(self, key, run)

    async def follow(self, key: str) -> AsyncGenerator[Chunk, None] | None:
        run = self._runs.get(key)
        if run is None or run.done:
            return None
        return _follow(run)

    def forget(self, key: str, run: _Run) -> None:
        if self._runs.get(key) is run:
            del self._runs[key]

    async def aclose(self) -> None:
        for run in self._runs.values():
            run.end()
        self._runs.clear()


async def _follow(run: _Run) -> AsyncGenerator[Chunk, None]:
    index = 0
    while True:
        while index < len(run.chunks):
            chunk = run.chunks[index]
            index += 1
            yield chunk
            if chunk.get("type") in TERMINAL_TYPES:
                return
        if run.done:
            return
        # Nothing awaited since the length was read: no append can have slipped in between.
        await run.wait()
