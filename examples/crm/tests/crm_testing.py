"""Helpers for the CRM example's tests: a stand-in for the billing API, and the project's
configuration pointed at it. (The model, tokens and the live service come from `chatgate.testing`.)"""

from __future__ import annotations

from pathlib import Path

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

EXAMPLE = Path(__file__).resolve().parents[1]
ALICE_BILLING_TOKEN = "alice-billing-token"  # noqa: S105 - the stand-in's test token
BILLING_INVOICES = {
    ALICE_BILLING_TOKEN: [{"id": "INV-1", "amount": 120.0, "currency": "EUR", "status": "open"}],
}


def billing_app() -> Starlette:
    """The billing API's stand-in: each token sees its own invoices; an unknown token is a 401."""

    async def invoices(request: Request) -> JSONResponse:
        token = request.headers.get("authorization", "").removeprefix("Bearer ")
        if token not in BILLING_INVOICES:
            return JSONResponse({"error": "unknown token"}, status_code=401)
        status = request.query_params.get("status")
        found = [i for i in BILLING_INVOICES[token] if status in (None, i["status"])]
        return JSONResponse({"invoices": found})

    return Starlette(routes=[Route("/v1/invoices", invoices)])


def config_for_tests(directory: Path, billing_url: str) -> Path:
    """The project's own chatgate.toml, with the billing API pointed at the local stand-in (and its
    relative paths made absolute, since the copy lives elsewhere)."""
    text = (EXAMPLE / "chatgate.toml").read_text(encoding="utf-8")
    stand_in = f'base_url = "{billing_url}/v1"\nallow_private = true'
    text = text.replace('base_url = "https://billing.example.com/v1"', stand_in)
    text = text.replace('path = "."', f'path = "{EXAMPLE}"')
    text = text.replace('"prompts/', f'"{EXAMPLE}/prompts/').replace('"openapi/', f'"{EXAMPLE}/openapi/')
    path = directory / "chatgate.toml"
    path.write_text(text, encoding="utf-8")
    return path
