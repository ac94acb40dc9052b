"""The base of chatgate's model wrappers: an Agents SDK `Model` that hands everything to `inner`.

A wrapper (refusing empty answers, measuring calls) overrides `get_response` and `stream_response`;
the rest of the SDK's `Model` interface (closing, retry advice, the run-end cleanup hook) must reach
the wrapped model unchanged, and is written here once.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import TYPE_CHECKING, Any

from agents import Model

if TYPE_CHECKING:
    from agents.retry import ModelRetryAdvice, ModelRetryAdviceRequest


class DelegatingModel(Model):
    """`inner`, with `close`, `get_retry_advice` and the SDK's run-end cleanup passed through."""

    def __init__(self, inner: Model) -> None:
        self.inner = inner

    async def close(self) -> None:
        await self.inner.close()

    def get_retry_advice(self, request: ModelRetryAdviceRequest) -> ModelRetryAdvice | None:
        return self.inner.get_retry_advice(request)

    async def _cleanup_on_run_end(self, owner: object) -> None:
        await self.inner._cleanup_on_run_end(owner)


async def close_stream(events: AsyncIterator[Any]) -> None:
    """Close the provider's stream now (its connection), not when the generator is collected."""
    close = getattr(events, "aclose", None)
    if close is not None:
        await close()
