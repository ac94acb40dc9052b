"""Readiness: is the database schema current, and can this instance launch a tool server right now?

`/readyz` is unauthenticated, so the answer is cached briefly and concurrent probes share one launch:
a flood of probes cannot become a flood of processes.
"""

from __future__ import annotations

import asyncio
import logging
import time
import uuid

from chatgate.admission import Admission
from chatgate.auth.principal import Principal
from chatgate.launcher import Launcher
from chatgate.schema_gate import SchemaGate

logger = logging.getLogger(__name__)

# A control character: `auth` refuses such ids, so no token can name (or collide with) the probe.
PROBE_PRINCIPAL = Principal(user_id="chatgate\x1freadiness-probe")


class ReadinessProbe:
    def __init__(
        self,
        launcher: Launcher,
        admission: Admission,
        *,
        schema: SchemaGate | None = None,
        cache_seconds: float = 5.0,
    ) -> None:
        self._launcher = launcher
        self._admission = admission
        self._schema = schema
        self._cache_seconds = cache_seconds
        self._lock = asyncio.Lock()
        self._checked_at: float | None = None
        self._ready = False

    async def check(self) -> bool:
        """True when a tool server could be launched (cached for `cache_seconds`).

        Raises:
            SchemaOutOfDateError: the database needs `chatgate db upgrade`; no launch can fix that.
        """
        if self._schema is not None:
            await self._schema.ensure_current()
        async with self._lock:
            now = time.monotonic()
            if self._checked_at is not None and now - self._checked_at < self._cache_seconds:
                return self._ready
            self._ready = await self._launch_once()
            self._checked_at = time.monotonic()
            return self._ready

    async def _launch_once(self) -> bool:
        try:
            async with (
                self._admission.slot(),
                self._launcher.launch(PROBE_PRINCIPAL, request_id=f"readyz-{uuid.uuid4().hex[:8]}") as server,
            ):
                await server.list_tools()
        except Exception as exc:
            logger.warning("readiness probe failed: %s", type(exc).__name__)
            return False
        return True
