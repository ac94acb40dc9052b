"""The app's long-lived collaborators, built once at start-up and held on `app.state`."""

from __future__ import annotations

from dataclasses import dataclass

from chatgate.apis.service import ApiService
from chatgate.auth import TokenVerifier
from chatgate.chat import ChatService
from chatgate.config import Settings
from chatgate.intake import ChatIntake
from chatgate.readiness import ReadinessProbe
from chatgate.sandbox.support import SandboxLevel
from chatgate.streaming.run_buffer import RunBuffer
from chatgate.telemetry import Telemetry


@dataclass
class Services:
    settings: Settings
    verifier: TokenVerifier
    chat: ChatService
    readiness: ReadinessProbe
    intake: ChatIntake
    telemetry: Telemetry
    # Answers being streamed, for resuming them (`GET /api/agents/chat/{id}/stream`).
    run_buffer: RunBuffer
    apis: ApiService | None = None
    sandbox_level: SandboxLevel = "off"  # what tool servers get (`chatgate.sandbox.service`)
