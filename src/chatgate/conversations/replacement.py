"""Regenerate and edit: cutting a stored thread back to the question that is answered again.

    regenerate <answer id>     drop the answer's question and everything after it; the question is
                               asked again (same id, same stored content), so the model sees it once
                               and never sees the answer it replaces
    regenerate <question id>   the same, named by the question (`useChat`'s `regenerate()` without a
                               `messageId` sends the question last)
    edit <question id>         drop that user message and everything after it; the new text is asked
                               under the same id

The cut runs in the transaction that claims the conversation (`ConversationStore.claim(..., then=)`):
an unknown id (or another user's) is a 404 and nothing changes; a busy conversation is a 409 and
nothing changes. Once the claim commits, the old answer is gone: a regenerate whose model then
fails leaves the question without an answer, exactly like any failed turn (README: "Regenerate and
edit").
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from chatgate.conversations.message_index import ASSISTANT, USER, StoredMessage, read_thread
from chatgate.conversations.models import SDK_MESSAGES_TABLE, ConversationMessage
from chatgate.errors import InvalidRequestError
from chatgate.storage.errors import RowNotFoundError

REGENERATE = "regenerate"
EDIT = "edit"
M = ConversationMessage.__table__  # type: ignore[attr-defined]
_ITEMS = sa.table(SDK_MESSAGES_TABLE, sa.column("id", sa.Integer), sa.column("session_id", sa.String))
ANSWER_NOT_EDITABLE = (
    "messageId names an answer: to answer again send trigger 'regenerate-message'; to edit, name the "
    "user message."
)


@dataclass(frozen=True)
class Replacement:
    """A request that replaces part of a stored thread.

    `kind` is `regenerate` (answer again the question of `message_id`, an answer or the question
    itself) or `edit` (replace user message `message_id` and all after it). `approvals`: the request
    carries tool approval answers, so a `messageId` naming an answer is the approvals continuation,
    not an edit, and is left to it. `or_new`: an id not in the thread is a new message (a client
    that names the message it sends), not a 404.
    """

    kind: str
    message_id: str
    approvals: bool = False
    or_new: bool = False


@dataclass(frozen=True)
class Question:
    """The user message a replacing turn asks (again): its id and its stored model item."""

    id: str
    item: dict[str, Any]


async def cut_thread(
    connection: AsyncConnection, owner: str, conversation_id: str, replacement: Replacement
) -> Question | None:
    """Delete, on `connection` (the claim's transaction), the question `replacement` names and every
    message after it: their history rows and their ids.

    Returns:
        The removed question (re-asked by a regenerate), or None when the request is not a
        replacement after all (an answer's id with tool approval answers: the approvals
        continuation; a new message's own id with `or_new`).

    Raises:
        RowNotFoundError: the id is not a message of this owner's conversation.
        InvalidRequestError: `edit` naming an answer (without approval answers).
    """
    messages = await read_thread(connection, owner, conversation_id)
    position = next((i for i, m in enumerate(messages) if m.id == replacement.message_id), None)
    if position is None:
        if replacement.or_new:
            return None
        raise RowNotFoundError("message")
    named = messages[position]
    if named.role == ASSISTANT and replacement.kind == EDIT:
        if replacement.approvals:
            return None
        raise InvalidRequestError(ANSWER_NOT_EDITABLE)
    question = _question_of(messages[: position + 1])
    if question is None:
        raise RowNotFoundError("message")
    first = question.first_item
    await connection.execute(
        _ITEMS.delete().where(_ITEMS.c.session_id == conversation_id, _ITEMS.c.id >= first)
    )
    await connection.execute(
        M.delete().where(M.c.conversation_id == conversation_id, M.c.owner == owner, M.c.first_item >= first)
    )
    return Question(id=question.id, item=question.items[0].item)


def _question_of(messages: list[StoredMessage]) -> StoredMessage | None:
    """The last user message of `messages` (the named one, or the one the named answer answers)."""
    return next((m for m in reversed(messages) if m.role == USER), None)


class ThreadCut:
    """One replacing turn's cut: `run` is the claim's `then`; `question` what it removed."""

    def __init__(self, owner: str, conversation_id: str, replacement: Replacement) -> None:
        self._owner, self._conversation_id, self._replacement = owner, conversation_id, replacement
        self.question: Question | None = None

    async def run(self, connection: AsyncConnection) -> None:
        self.question = await cut_thread(connection, self._owner, self._conversation_id, self._replacement)

    @property
    def regenerates(self) -> bool:
        """A regenerate: the removed question is asked again as stored."""
        return self._replacement.kind == REGENERATE
