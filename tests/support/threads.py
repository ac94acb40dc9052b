"""Talking to a live app's conversation threads: chat bodies as JSON clients and `useChat` send them,
and the restored thread (`GET /api/agents/conversations/{id}/messages`)."""

from __future__ import annotations

from typing import Any

import httpx

from support.live_app import LiveApp
from support.tokens import auth


def chat(app: LiveApp, user: str, body: dict[str, Any]) -> httpx.Response:
    return httpx.post(f"{app.url}/api/agents/chat", json=body, headers=auth(user), timeout=60)


def thread(app: LiveApp, user: str, conversation_id: str) -> httpx.Response:
    return httpx.get(
        f"{app.url}/api/agents/conversations/{conversation_id}/messages", headers=auth(user), timeout=30
    )


def use_chat_body(conversation_id: str, message_id: str, text: str) -> dict[str, Any]:
    """What `useChat`'s `sendMessage` sends (the thread so far is left out: the server has it)."""
    return {
        "id": conversation_id,
        "messages": [{"id": message_id, "role": "user", "parts": [{"type": "text", "text": text}]}],
        "trigger": "submit-message",
    }
