"""The audit log: one row per tool call (owner, tool, outcome, duration, request id), never contents."""

from __future__ import annotations

import logging
import uuid

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine

from chatgate.storage.engine import owner_transaction
from chatgate.storage.models import AuditEntry, utc_now

logger = logging.getLogger(__name__)

audit_log = AuditEntry.__table__  # type: ignore[attr-defined]


async def record_tool_call(
    engine: AsyncEngine, *, owner: str, tool: str, outcome: str, duration_ms: float, request_id: str
) -> None:
    """Append one entry in its own transaction, so a rolled-back write is still audited.

    A failure to audit is logged and swallowed, whatever it is (a database error, but also a
    process out of threads or memory): the call it records has already happened, and reporting it
    as failed would make the model repeat a write that committed.
    """
    values = {
        "id": uuid.uuid4(),
        "at": utc_now(),
        "owner": owner,
        "tool": tool[:128],
        "outcome": outcome[:32],
        "duration_ms": round(duration_ms, 3),
        "request_id": request_id[:128],
    }
    try:
        async with owner_transaction(engine, owner, write=True) as connection:
            await connection.execute(sa.insert(audit_log).values(**values))
    except Exception as exc:
        logger.warning(
            "audit entry for %s (request %s, outcome %s) was not recorded: %s",
            tool,
            request_id,
            outcome,
            type(exc).__name__,
        )
