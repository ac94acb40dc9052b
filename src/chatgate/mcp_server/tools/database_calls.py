"""What every database tool call shares: the engine, error curation and the audit entry."""

from __future__ import annotations

import logging
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import anyio
from mcp.server.mcpserver import Context
from mcp.server.mcpserver.exceptions import ToolError
from sqlalchemy.ext.asyncio import AsyncEngine

from chatgate.mcp_server.context import ToolResources, resources_of
from chatgate.storage.audit import record_tool_call
from chatgate.storage.errors import DatabaseUnavailableError, InvalidInputError, RowNotFoundError

logger = logging.getLogger(__name__)

AUDIT_TIME_LIMIT_SECONDS = 2.0


@asynccontextmanager
async def database_call(
    ctx: Context[ToolResources, Any], tool: str
) -> AsyncIterator[tuple[AsyncEngine, str]]:
    """Yield (engine, bound owner) for one tool call; curate its errors and audit its outcome.

    Storage errors become `ToolError`s carrying only their curated text; anything unexpected
    propagates and reaches the model as the SDK's bare "Error executing tool" (details withheld).
    The audit entry is written after the call's own transaction, and nothing about it can change
    what the call reports: a committed write is reported as done even if its audit entry is lost.
    """
    resources = resources_of(ctx)
    engine = resources.engine()
    if engine is None:
        raise ToolError("the database is not configured for this service")
    owner = resources.identity.user_id
    started = time.perf_counter()
    outcome = "error"
    try:
        yield engine, owner
        outcome = "ok"
    except RowNotFoundError as exc:
        outcome = "not_found"
        raise ToolError(str(exc)) from None
    except InvalidInputError as exc:
        outcome = "invalid"
        raise ToolError(str(exc)) from None
    except DatabaseUnavailableError as exc:
        outcome = "unavailable"
        raise ToolError(str(exc)) from None
    finally:
        duration_ms = (time.perf_counter() - started) * 1000
        # Shielded: a cancelled call is still audited, within a bound. Never raises (see above).
        with anyio.CancelScope(shield=True), anyio.move_on_after(AUDIT_TIME_LIMIT_SECONDS) as audit:
            await record_tool_call(
                engine,
                owner=owner,
                tool=tool,
                outcome=outcome,
                duration_ms=duration_ms,
                request_id=resources.settings.request_id,
            )
        if audit.cancelled_caught:
            logger.warning("audit entry for %s took over %.0fs; abandoned", tool, AUDIT_TIME_LIMIT_SECONDS)
