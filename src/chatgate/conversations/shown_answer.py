"""What a streamed answer showed the user, so a stopped answer keeps it.

The Agents SDK stores a model response's items only once its step is over (the model answered and
its tools ran). A client that stops the answer (closes the stream) cuts the run at any point: the
text already streamed of an unfinished step is shown on the page but not stored. `ShownAnswer`
collects the text of every model response the client was sent; when the run is cut off,
`missing_rows` adds the texts the run's history lacks (as assistant messages) to the rows written
when the run ends, before the answer is marked interrupted, so a reload shows them and the model sees them
next turn. Tool calls are kept only as the SDK stored them: a step whose tools had not all answered
is not a completed step.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Awaitable, Callable, Iterable
from typing import Any, TypeVar

from agents.stream_events import RawResponsesStreamEvent

from chatgate.conversations.history import item_text

Event = TypeVar("Event")


class ShownAnswer:
    """The texts streamed to the client, one per model output message, in order."""

    def __init__(self) -> None:
        self._texts: dict[tuple[int, str], list[str]] = {}
        self._responses = 0

    def following(
        self, sink: Callable[[Event], Awaitable[None]] | None
    ) -> Callable[[Event], Awaitable[None]] | None:
        """`sink`, noting each event once `sink` has sent it (None: a JSON run shows nothing). Events
        other than the SDK's raw response events (tool progress, …) pass through unnoted."""
        if sink is None:
            return None

        async def send(event: Event) -> None:
            await sink(event)
            self.shown(event)

        return send

    def shown(self, event: object) -> None:
        """Note `event`, which the client has just been sent."""
        if not isinstance(event, RawResponsesStreamEvent):
            return
        kind = getattr(event.data, "type", None)
        if kind == "response.created":
            self._responses += 1  # providers may reuse item ids across responses
        elif kind == "response.output_text.delta":
            key = (self._responses, str(getattr(event.data, "item_id", "")))
            self._texts.setdefault(key, []).append(str(getattr(event.data, "delta", "")))

    def missing_items(self, stored: Iterable[Any]) -> list[dict[str, Any]]:
        """Assistant message items for the shown texts that `stored` (this turn's stored items) lacks.

        Returns:
            `[{"type": "message", "role": "assistant", "content": [{"type": "output_text", "text",
            "annotations": []}]}, …]`, in the order they were shown.
        """
        have = Counter(item_text(item) for item in stored if _role(item) == "assistant")
        missing: list[dict[str, Any]] = []
        for parts in self._texts.values():
            text = "".join(parts)
            if not text.strip():
                continue
            if have[text] > 0:
                have[text] -= 1
                continue
            missing.append(
                {
                    "type": "message",
                    "role": "assistant",
                    "content": [{"type": "output_text", "text": text, "annotations": []}],
                }
            )
        return missing


def _role(item: Any) -> Any:
    return item.get("role") if isinstance(item, dict) else getattr(item, "role", None)


def missing_rows(shown: ShownAnswer, history: list[str]) -> list[str]:
    """`history` (the run's rows about to be written, JSON) followed by the texts `shown` it lacks,
    stored the way the session stores items."""
    missing = shown.missing_items(json.loads(row) for row in history)
    return [*history, *(json.dumps(item, separators=(",", ":")) for item in missing)]
