"""The app's long-lived collaborators, built once at start-up and held on `app.state`.

Not to be confused with `chatgate.http_apis.parent.ApiService`, one of them (`Services.apis`).
"""

from __future__ import annotations

from dataclasses import dataclass

from chatgate.auth.verify import TokenVerifier
from chatgate.chat import ChatService
from chatgate.config import Settings
from chatgate.http_apis.parent import ApiService
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
    apis: ApiService
    sandbox_level: SandboxLevel = "off"  # what tool servers get (`chatgate.sandbox.service`)
