"""Conversation history on the Agents SDK's SQLAlchemy session memory, and how it is shown to clients."""

from __future__ import annotations

import asyncio
import json
from collections import defaultdict, deque
from typing import Any

from agents.items import TResponseInputItem
from sqlalchemy import Connection, event
from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker
from sqlalchemy.orm import Session

from chatgate.conversations.models import SDK_MESSAGES_TABLE, SDK_SESSIONS_TABLE
from chatgate.conversations.sdk_rows import append_history
from chatgate.conversations.shielded_session import ShieldedSQLAlchemySession, started
from chatgate.model_wire.normalise import new_call_id
from chatgate.storage.engine import owner_transaction, present_owner
from chatgate.surrogates import without_lone_surrogates

API_SQLITE_BUSY_TIMEOUT_MS = 30_000


class ConversationSession(ShieldedSQLAlchemySession):
    """The SDK session for one conversation, read back in a form a model API always accepts.

    A run cut off mid-turn (client gone, deadline) or a history window cut at `limit` can leave a tool
    call without its output, or an output without its call; model APIs reject both. They are dropped
    on read, so one interrupted answer never breaks the conversation. History stored before chatgate
    normalised model output is repaired on read too: tool-call ids a provider reused are made
    distinct, lone surrogates become U+FFFD.

    With `hold_writes`, the items the SDK adds during a run after its input (written at once, so an
    instance killed mid-run keeps what the user said) are kept in memory, read back with the stored
    ones, until `take_held` hands them over to be written in the one transaction that ends the run
    (`ConversationStore.finish`) instead of one transaction per SDK call. Afterwards (an SDK run loop
    that outlives the request, say) writes go straight through.

    The input's write runs to its end even when the run is cancelled during it; `take_held` waits
    for it, so the run's end knows whether the user's message is stored (and where) and writes it
    exactly once.
    """

    def __init__(
        self,
        conversation_id: str,
        engine: AsyncEngine,
        *,
        history_limit: int | None,
        owner: str | None = None,
        hold_writes: bool = False,
        new: bool = False,
    ) -> None:
        super().__init__(
            conversation_id,
            engine=engine,
            create_tables=False,
            sessions_table=SDK_SESSIONS_TABLE,
            messages_table=SDK_MESSAGES_TABLE,
        )
        self._history_limit = history_limit
        # Serialized like the stored rows, so later changes to the SDK's item objects cannot leak in.
        self._held: list[str] | None = [] if hold_writes else None
        # The write of the run's input (the first `add_items` while holding), once begun.
        self._input_write: asyncio.Task[None] | None = None
        self._owner = owner
        # A conversation this request created (and holds the claim of) has stored nothing but what
        # this session writes: while writes are held, its history is read from here, not the database.
        self._written: list[str] | None = [] if new and hold_writes and owner is not None else None
        if owner is not None:
            # On PostgreSQL the history tables sit behind the conversations policy: every transaction
            # the SDK begins presents the owner's identity, or it sees (and may add) nothing.
            self._session_factory = async_sessionmaker(
                engine, expire_on_commit=False, sync_session_class=_OwnerSession, info={_OWNER_KEY: owner}
            )

    async def get_items(self, limit: int | None = None) -> list[TResponseInputItem]:
        effective = limit if limit is not None else self._history_limit
        held = [json.loads(row) for row in self._held or ()]
        if effective is not None and 0 < effective <= len(held):
            items = held[-effective:]  # the window lies within this run's items: no read
        elif self._written is not None and self._held is not None:
            items = [*map(json.loads, self._written), *held]  # a new conversation: nothing else stored
            if effective is not None and effective > 0:
                items = items[-effective:]
        else:
            items = [*await super().get_items(effective), *held]
            if effective is not None and effective > 0:
                items = items[-effective:]
        return paired_tool_items(distinct_call_ids(without_lone_surrogates(items)))

    async def add_items(self, items: list[TResponseInputItem]) -> None:
        if self._held is None:
            await super().add_items(items)
        elif self._input_write is None:
            # The run's input is written at once: an instance killed mid-run must not lose what the
            # user said. Only the items after it are held. A cancelled caller cannot tell whether the
            # write landed, so the task is kept for `take_held` to ask.
            if self._written is not None and self._owner is not None:
                self._input_write = started(self._write_new(items, self._owner, self._written))
            else:
                self._input_write = self.start_adding(items)
            await asyncio.shield(self._input_write)
        else:
            self._held.extend([await self._serialize_item(item) for item in items])

    async def pop_item(self) -> TResponseInputItem | None:
        self._written = None  # the stored history is no longer just what was written: read it back
        return await super().pop_item()

    async def clear_session(self) -> None:
        self._written = None
        await super().clear_session()

    async def _write_new(self, items: list[TResponseInputItem], owner: str, written: list[str]) -> None:
        # The SDK's `add_items` locks the session row (a lookup, a savepoint to create it, an update)
        # because it cannot know the conversation is new; the claim already serializes its writers.
        rows = [await self._serialize_item(item) for item in items]
        if rows:
            async with owner_transaction(self._engine, owner, write=True) as connection:
                await append_history(connection, self.session_id, rows, first=not written)
            written.extend(rows)

    async def take_held(self, *, user_message: str | None = None) -> list[str]:
        """The held items as stored rows (JSON), oldest first; from now on writes go straight through.

        Waits for the input's write if it is still running (it is short, bounded by the database's
        lock timeout), so nothing of this run is written after the rows returned here; call it
        shielded from cancellation. With `user_message`, a run cut off before the SDK stored its
        input (during launch, or a write that failed) still keeps what the user said: it is put
        first unless the held items already carry it.
        """
        input_stored = await self._input_stored()
        held, self._held = self._held or [], None
        if (
            user_message  # an approval answer carries none
            and not input_stored
            and not any(
                _get(item, "role") == "user" and content_text(_get(item, "content")) == user_message
                for item in map(json.loads, held)
            )
        ):
            held.insert(0, user_message_row(user_message))
        return held

    async def _input_stored(self) -> bool:
        write = self._input_write
        if write is None:
            return False
        await asyncio.wait({write})  # never raises: the write's own failure is read below
        return not write.cancelled() and write.exception() is None


def user_message_row(message: str) -> str:
    """`message` as a user item, stored the way the SDK session stores items (ASCII-safe JSON)."""
    return json.dumps({"role": "user", "content": message}, separators=(",", ":"))


_OWNER_KEY = "chatgate_owner"


class _OwnerSession(Session):
    """A SQLAlchemy session acting for the owner in its `info` (see `ConversationSession`)."""


@event.listens_for(_OwnerSession, "after_begin")
def _present_owner(session: Session, _transaction: Any, connection: Connection) -> None:
    present_owner(connection, session.info[_OWNER_KEY])


def prepare_engine(engine: AsyncEngine) -> None:
    """Let the SDK configure `engine` once, before any traffic.

    The SDK's session registers SQLite connection listeners the first time a session is built on an
    engine; doing that while other requests are opening connections mutates the listener list under
    them ("deque mutated during iteration"). One throwaway session at start-up does it safely.
    """
    ConversationSession("chatgate-engine-warmup", engine, history_limit=None)
    if engine.dialect.name == "sqlite":
        # The SDK's listener sets a 5 s busy timeout; the API process would rather wait (inside the
        # chat deadline) than lose a run record when many chats write at once. Registered after the
        # SDK's, so it wins.
        @event.listens_for(engine.sync_engine, "connect")
        def _patient_writer(dbapi_connection: Any, _record: Any) -> None:
            cursor = dbapi_connection.cursor()
            try:
                cursor.execute(f"PRAGMA busy_timeout = {API_SQLITE_BUSY_TIMEOUT_MS}")
            finally:
                cursor.close()


def distinct_call_ids(items: list[TResponseInputItem]) -> list[TResponseInputItem]:
    """`items` with every tool call's id unique, each output keeping its call's (new) id.

    A provider that reuses ids (`whoami:0` on every turn) would otherwise make history a model API
    refuses. A repeated id gets a fresh one; outputs follow their calls in order, so the first output
    with an id answers the first unanswered call that had it.
    """
    seen: set[str] = set()
    waiting: defaultdict[str, deque[str]] = defaultdict(deque)  # original id -> ids of unanswered calls
    repaired: list[TResponseInputItem] = []
    for item in items:
        kind, call_id = _get(item, "type"), _get(item, "call_id")
        if kind == "function_call" and isinstance(call_id, str):
            new_id = call_id if call_id and call_id not in seen else new_call_id()
            seen.add(new_id)
            waiting[call_id].append(new_id)
            item = _with_call_id(item, new_id)
        elif kind == "function_call_output" and isinstance(call_id, str) and waiting[call_id]:
            item = _with_call_id(item, waiting[call_id].popleft())
        repaired.append(item)
    return repaired


def _with_call_id(item: TResponseInputItem, call_id: str) -> TResponseInputItem:
    if _get(item, "call_id") == call_id or not isinstance(item, dict):
        return item
    return {**item, "call_id": call_id}  # type: ignore[return-value]


def paired_tool_items(items: list[TResponseInputItem]) -> list[TResponseInputItem]:
    """`items` without tool calls that lack an output and outputs that lack a call."""
    calls = {_get(item, "call_id") for item in items if _get(item, "type") == "function_call"}
    outputs = {_get(item, "call_id") for item in items if _get(item, "type") == "function_call_output"}
    paired = calls & outputs
    return [
        item
        for item in items
        if _get(item, "type") not in ("function_call", "function_call_output")
        or _get(item, "call_id") in paired
    ]


def transcript(items: list[TResponseInputItem]) -> list[dict[str, Any]]:
    """The conversation as clients show it: messages and tool calls in order.

    Each entry is `{"type": "message", "role": str, "text": str}`, `{"type": "tool_call", "call_id":
    str, "name": str, "arguments": JSON value (or the raw text)}` or `{"type": "tool_result",
    "call_id": str, "output": str}`.
    """
    shown: list[dict[str, Any]] = []
    for item in items:
        kind = _get(item, "type")
        role = _get(item, "role")
        if kind == "function_call":
            shown.append(
                {
                    "type": "tool_call",
                    "call_id": _get(item, "call_id"),
                    "name": _get(item, "name"),
                    "arguments": _json_or_text(_get(item, "arguments") or ""),
                }
            )
        elif kind == "function_call_output":
            shown.append(
                {
                    "type": "tool_result",
                    "call_id": _get(item, "call_id"),
                    "output": content_text(_get(item, "output")),
                }
            )
        elif role in ("user", "assistant", "system", "developer"):
            shown.append({"type": "message", "role": role, "text": content_text(_get(item, "content"))})
    return shown


def item_text(item: Any) -> str:
    """The text of a stored model item (its content's text parts joined)."""
    return content_text(_get(item, "content"))


def _get(item: Any, key: str) -> Any:
    return item.get(key) if isinstance(item, dict) else getattr(item, key, None)


def content_text(content: Any) -> str:
    """The text of an item's `content` or a tool's `output`: a string as is, a list of parts joined
    (each part's `text`), None as ""."""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "".join(
            content_text(part.get("text", "")) if isinstance(part, dict) else str(part) for part in content
        )
    return "" if content is None else str(content)


def _json_or_text(raw: str) -> Any:
    try:
        return json.loads(raw)
    except (json.JSONDecodeError, TypeError):
        return raw
