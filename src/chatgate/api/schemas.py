"""Request and response bodies of the HTTP API (public interface: field names are stable)."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator


class ChatRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    message: str = Field(description="The user's message to the agent.", min_length=1)

    @field_validator("message")
    @classmethod
    def _not_blank(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("must not be blank")
        return value


class ToolUseOut(BaseModel):
    name: str
    ok: bool


class ChatResponse(BaseModel):
    response: str
    agent_used: str
    tools_used: list[ToolUseOut]
    usage: dict[str, int]
    timings_ms: dict[str, float]


class ToolOut(BaseModel):
    name: str
    description: str
    input_schema: dict[str, Any]
    annotations: dict[str, Any]


class ToolsResponse(BaseModel):
    tools: list[ToolOut]


class ErrorBody(BaseModel):
    code: str
    message: str


class ErrorResponse(BaseModel):
    error: ErrorBody
