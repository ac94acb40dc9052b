"""Operation specs: one operation of one API as a tool, in plain data.

The API process builds them from OpenAPI documents (`chatgate.apis.openapi`); tool servers read
them from the compiled catalog without importing any OpenAPI machinery.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any


@dataclass(frozen=True)
class ParameterSpec:
    """Where one tool argument goes on the wire."""

    arg: str
    name: str
    location: str  # path | query | header
    required: bool


@dataclass(frozen=True)
class OperationSpec:
    """One operation of one API, as a tool. Plain data: it travels to the child as JSON."""

    api: str
    operation_id: str
    tool_name: str
    method: str
    path: str
    description: str
    input_schema: dict[str, Any]
    parameters: tuple[ParameterSpec, ...]
    body_arg: str | None
    read_only: bool
    destructive: bool
    idempotent: bool

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> OperationSpec:
        params = tuple(ParameterSpec(**p) for p in data["parameters"])
        return cls(**{**data, "parameters": params})
