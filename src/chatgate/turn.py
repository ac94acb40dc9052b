"""One chat turn as one object: who asks what in which conversation, and what happened.

route ── Turn(principal, message, request_id, conversation_id=from the body)
  └─ ChatService.open_turn(turn)   claims the conversation: sets `conversation_id`
  └─ ChatService.run_turn(turn)    fills `timings` (as phases complete) and `result` (as the run
                                   starts), records the run, returns a `ChatResult`
"""

from __future__ import annotations

import datetime
import logging
from dataclasses import dataclass, field, replace
from typing import Any

from agents import Agent, RunState
from agents.memory import Session
from agents.result import RunResultBase
from sqlalchemy.ext.asyncio import AsyncEngine

from chatgate.approvals import flow
from chatgate.approvals.records import Approval, PausedTurn
from chatgate.approvals.resume import replayed_call_ids
from chatgate.approvals.store import ApprovalStore
from chatgate.auth.principal import Principal
from chatgate.conversations.history import ConversationSession, item_text
from chatgate.conversations.message_index import TurnIds, TurnMarks
from chatgate.conversations.models import INTERRUPTED, ConversationRun
from chatgate.conversations.replacement import Replacement, ThreadCut
from chatgate.run_report import ChatResult, Timings, ToolClock, failed_calls, final_text, tools_used, usage_of
from chatgate.storage.models import utc_now
from chatgate.telemetry import Telemetry

logger = logging.getLogger(__name__)

# How a recorded run ended, besides a catalogue error's code (and INTERRUPTED).
COMPLETED = "completed"
AWAITING_APPROVAL = "awaiting_approval"


@dataclass
class Turn:
    """One message to the agent and its answer.

    `conversation_id` is the client's (None: a new conversation) until `open_turn` claims one.
    `timings` are milliseconds, filled in as phases complete, so a failed turn still reports them.
    `result` is the SDK's run as soon as it starts: its usage so far stays readable if it is cut off.
    `ids` are the message ids the turn is stored under: the client's for the user message, and the
    answer's (announced in the stream's `start` chunk, returned as `message_id`).
    `replaces` (regenerate, edit: `chatgate.conversations.replacement`) is resolved by `open_turn`,
    which then sets `ids.user` (and, for a regenerate, `message` and `asked`) from the stored thread.
    """

    principal: Principal
    message: str
    request_id: str
    conversation_id: str | None = None
    timings: Timings = field(default_factory=Timings)
    result: RunResultBase | None = None
    ids: TurnIds = field(default_factory=TurnIds)
    # A paused run to continue with the user's decisions (`chatgate.approvals`), instead of `message`;
    # the answer continues in its message (`ids.assistant` is that message's id).
    resume: PausedTurn | None = None
    # The calls the run stopped at, waiting for the user.
    approvals: list[Approval] = field(default_factory=list)
    # Whether the conversation had a paused run when claimed (a new message supersedes it).
    paused: bool = False
    # The run's hooks (`approvals.flow.hooks`), and whether its tool server failed to launch.
    hooks: ToolClock | None = None
    launch_failed: bool = False
    # Regenerate or edit: the stored messages this turn replaces (cut when `open_turn` claims).
    replaces: Replacement | None = None
    # The user item asked instead of `message`: a regenerate's stored question, or the message with
    # its attachments (`chatgate.attachments`).
    asked: dict[str, Any] | None = None
    # Set by `open_turn`: the conversation was created by this turn (so it holds nothing else yet).
    new_conversation: bool = False

    def ask_instead(self, cut: ThreadCut) -> None:
        """Ask in place of the question `cut` removed: under its id; a regenerate with its stored
        content (what the client sent is not trusted to match it)."""
        assert cut.question is not None
        self.ids = replace(self.ids, user=cut.question.id)
        if cut.regenerates:
            self.asked = cut.question.item
            self.message = item_text(cut.question.item)

    @property
    def model_input(self) -> str | list[Any]:
        """What the agent is asked: the message, or the item in `asked`."""
        return [self.asked] if self.asked is not None else self.message

    @property
    def claimed_conversation(self) -> str:
        """The conversation `open_turn` claimed for this turn."""
        if self.conversation_id is None:
            raise RuntimeError("the turn's conversation is not claimed yet (open_turn first)")
        return self.conversation_id

    def history(self, engine: AsyncEngine, limit: int | None) -> ConversationSession:
        """The SDK session of the claimed conversation, holding the run's writes after its input."""
        return ConversationSession(
            self.claimed_conversation,
            engine,
            history_limit=limit,
            owner=self.principal.user_id,
            hold_writes=True,
            new=self.new_conversation,
        )

    async def deny_waiting(self, store: ApprovalStore | None, session: Session) -> None:
        """A new message while calls wait for the user's approval denies them (`approvals.flow`)."""
        if self.new_conversation:
            return  # a conversation this turn created has no calls waiting: nothing to look up
        await flow.deny_waiting(
            store, self.resume, self.paused, session, self.principal.user_id, self.claimed_conversation
        )

    def run_hooks(self, store: ApprovalStore | None, telemetry: Telemetry | None) -> ToolClock:
        """The run's hooks: its tool clock; resuming, one recording each approved call as sent."""
        owner, conversation_id = self.principal.user_id, self.claimed_conversation
        self.hooks = flow.hooks(self.timings, telemetry, store, self.resume, owner, conversation_id)
        return self.hooks

    async def input_for(self, agent: Agent[Any]) -> str | list[Any] | RunState[Any, Any]:
        """What the run starts from: `model_input`, or the paused run with the user's decisions."""
        return await flow.run_input(agent, self.model_input, self.resume)

    async def ended(self, store: ApprovalStore | None, result: RunResultBase) -> str:
        """The outcome of a run that finished: `awaiting_approval` when it stopped at calls the user
        must approve (stored, listed in `approvals`), else `completed`."""
        owner, conversation_id = self.principal.user_id, self.claimed_conversation
        self.approvals = await flow.pause(
            store, result, self.resume, owner, conversation_id, self.ids.assistant
        )
        return AWAITING_APPROVAL if self.approvals else COMPLETED

    async def settled(
        self, store: ApprovalStore | None, outcome: str, history: list[str], marks: TurnMarks
    ) -> tuple[list[str], TurnMarks | None]:
        """What a run that ended with `outcome` stores (its `history` and `marks`): all of it, unless
        it resumed a paused run and failed: then nothing, for the paused run is kept and a retry
        writes it all (`approvals.flow.failed`). Never raises (a failure is logged)."""
        if self.resume is None or outcome in (COMPLETED, AWAITING_APPROVAL):
            return history, marks
        owner, conversation_id = self.principal.user_id, self.claimed_conversation
        try:
            await flow.failed(store, self.hooks, self.launch_failed, owner, conversation_id)
        except Exception as exc:
            logger.error("could not record a failed resume: %s", type(exc).__name__)
        return [], None

    def run_record(self, outcome: str, started_at: datetime.datetime | None = None) -> ConversationRun:
        """This turn's conversation-run row; `outcome` is `completed`, `interrupted` or an error code."""
        usage = usage_of(self.result)
        timings = self.timings
        return ConversationRun(
            conversation_id=self.claimed_conversation,
            owner=self.principal.user_id,
            request_id=self.request_id,
            started_at=started_at or utc_now(),
            finished_at=utc_now(),
            outcome=outcome,
            launch_ms=timings.launch,
            model_ms=timings.model,
            tools_ms=timings.tools,
            teardown_ms=timings.teardown,
            requests=usage["requests"],
            input_tokens=usage["input_tokens"],
            output_tokens=usage["output_tokens"],
            total_tokens=usage["total_tokens"],
        )

    def marks(self, outcome: str, started_at: datetime.datetime) -> TurnMarks:
        """What this turn's messages are stored with: their ids, whether the answer was stopped
        (`outcome` `interrupted`), which tool calls failed."""
        return TurnMarks(
            self.ids,
            started_at,
            interrupted=outcome == INTERRUPTED,
            failed_calls=frozenset(failed_calls(self.result)),
        )

    def _resumed_calls(self) -> tuple[dict[str, str] | None, frozenset[str]]:
        # A resumed run's calls were made before it: their names, and those whose stored output
        # (a retry's: the call ran in a failed attempt) is given again.
        if self.resume is None:
            return None, frozenset()
        return self.resume.tool_names(), frozenset(replayed_call_ids(self.resume))

    def chat_result(self, result: RunResultBase, default_agent: str) -> ChatResult:
        """What the caller is told about the finished run `result`."""
        return ChatResult(
            conversation_id=self.claimed_conversation,
            response=final_text(result),
            agent_used=result.last_agent.name if result.last_agent else default_agent,
            tools_used=tools_used(result, *self._resumed_calls()),
            usage=usage_of(result),
            timings=self.timings,
            message_id=self.ids.assistant,
            approvals=self.approvals,
        )
