"""`GET /api/agents/tools`: the tool catalog the caller's agent would see."""

from __future__ import annotations

from fastapi import APIRouter

from chatgate.agent_tools import list_tools as catalog
from chatgate.api.deps import ChatServiceDep, CurrentPrincipal, RequestId
from chatgate.api.schemas import ErrorResponse, ToolOut, ToolsResponse

router = APIRouter(prefix="/api/agents", tags=["agents"])


@router.get(
    "/tools",
    response_model=ToolsResponse,
    responses={401: {"model": ErrorResponse}, 503: {"model": ErrorResponse}},
)
async def list_tools(
    principal: CurrentPrincipal, service: ChatServiceDep, request_id: RequestId
) -> ToolsResponse:
    """List the tools (name, description, input schema) a real per-request tool server offers the caller."""
    tools = await catalog(service, principal, request_id=request_id)
    return ToolsResponse(tools=[ToolOut(**tool) for tool in tools])
