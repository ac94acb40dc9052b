"""Cancel work when the HTTP client goes away.

Uvicorn keeps running a handler after its client disconnects; for a chat that means a model call and
a live tool server nobody will read. Here the work is cancelled as soon as `http.disconnect` arrives,
and the launcher's shielded teardown still reaps the process.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TypeVar

import anyio
from starlette.requests import Request

T = TypeVar("T")


class ClientDisconnectedError(Exception):
    """The client closed the connection before the answer was ready."""


async def cancel_on_disconnect(request: Request, work: Callable[[], Awaitable[T]]) -> T:
    """Run `work()`; cancel it if the client disconnects first.

    Raises:
        ClientDisconnectedError: the client went away; `work` was cancelled.
        Exception: whatever `work` raised, unwrapped.
    """
    outcome: list[T] = []
    failure: list[BaseException] = []

    async with anyio.create_task_group() as group:

        async def run() -> None:
            try:
                outcome.append(await work())
            except Exception as exc:  # re-raised below, outside the task group, unwrapped
                failure.append(exc)
            finally:
                group.cancel_scope.cancel()

        async def watch() -> None:
            while True:
                message = await request.receive()
                if message["type"] == "http.disconnect":
                    group.cancel_scope.cancel()
                    return

        group.start_soon(run)
        group.start_soon(watch)

    if failure:
        raise failure[0]
    if not outcome:
        raise ClientDisconnectedError()
    return outcome[0]
