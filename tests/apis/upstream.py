"""A small upstream HTTP API for the API-tool tests, with its own OpenAPI document.

`/v1` is the API the gateway is configured for; `/admin/secret` sits outside it and must never be
reached. Every request is recorded (path, selected headers) so tests can assert what arrived.
"""

from __future__ import annotations

import asyncio
import base64
import os
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any

import pytest
from fastapi import FastAPI, Header, Query, Request, Response
from fastapi.responses import JSONResponse, PlainTextResponse, RedirectResponse, StreamingResponse
from pydantic import BaseModel
from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import create_async_engine

from chatgate.http_apis.config import ApiConfig
from support.postgres import postgres_admin_url


class Note(BaseModel):
    text: str
    tags: list[str] = []


class Item(BaseModel):
    name: str
    price: float
    notes: list[Note] = []
    parent: Item | None = None


@dataclass
class Hit:
    method: str
    path: str
    query: str
    authorization: str | None
    api_key: str | None
    user_id: str | None


@dataclass
class Recorder:
    hits: list[Hit] = field(default_factory=list)
    counters: dict[str, int] = field(default_factory=dict)

    def paths(self) -> list[str]:
        return [hit.path for hit in self.hits]

    def clear(self) -> None:
        self.hits.clear()
        self.counters.clear()


def build_upstream(other_origin: str = "http://localhost:9") -> tuple[FastAPI, Recorder]:
    recorder = Recorder()
    api = FastAPI(title="Shop", version="1.0")

    @api.middleware("http")
    async def record(request: Request, call_next: Any) -> Response:
        recorder.hits.append(
            Hit(
                method=request.method,
                path=request.url.path,
                query=request.url.query,
                authorization=request.headers.get("authorization"),
                api_key=request.headers.get("x-api-key"),
                user_id=request.headers.get("x-user-id"),
            )
        )
        response: Response = await call_next(request)
        return response

    @api.get("/items/{item_id}", operation_id="getItem", summary="Get one item")
    async def get_item(
        item_id: str,
        request: Request,
        q: Annotated[str | None, Query(description="Filter text.")] = None,
        x_trace: Annotated[str | None, Header(description="Trace id to forward.")] = None,
    ) -> dict[str, Any]:
        return {"id": item_id, "q": q, "trace": x_trace, "path": request.url.path}

    @api.get("/items", operation_id="listItems", summary="List items", description="Newest first.")
    async def list_items(
        limit: Annotated[int, Query(ge=1, le=50)] = 10, tag: Annotated[list[str] | None, Query()] = None
    ) -> dict[str, Any]:
        return {"limit": limit, "tags": tag or []}

    @api.post("/items", operation_id="createItem", summary="Create an item")
    async def create_item(item: Item) -> dict[str, Any]:
        return {"created": item.model_dump()}

    @api.put("/items/{item_id}", operation_id="replaceItem", summary="Replace an item")
    async def replace_item(item_id: str, item: Item) -> dict[str, Any]:
        return {"replaced": item_id}

    @api.delete("/items/{item_id}", operation_id="deleteItem", summary="Delete an item")
    async def delete_item(item_id: str) -> dict[str, Any]:
        return {"deleted": item_id}

    @api.post("/danger/reset", operation_id="resetEverything", summary="Reset the shop")
    async def reset() -> dict[str, Any]:
        return {"reset": True}

    @api.get("/whoami", operation_id="whoami", summary="Who the API thinks you are")
    async def whoami(request: Request) -> dict[str, Any]:
        return {
            "authorization": request.headers.get("authorization"),
            "api_key": request.headers.get("x-api-key"),
            "user_id": request.headers.get("x-user-id"),
        }

    @api.get("/flaky/{key}", operation_id="flaky", summary="Fail a few times, then succeed")
    async def flaky(
        key: str, failures: int = 2, status: int = 503, retry_after: str | None = None
    ) -> Response:
        count = recorder.counters.get(key, 0)
        recorder.counters[key] = count + 1
        if count < failures:
            headers = {"retry-after": retry_after} if retry_after is not None else {}
            return JSONResponse({"error": "try later"}, status_code=status, headers=headers)
        return JSONResponse({"ok": True, "attempts": count + 1})

    @api.post("/flaky-post/{key}", operation_id="flakyPost", summary="Always 503")
    async def flaky_post(key: str) -> Response:
        recorder.counters[key] = recorder.counters.get(key, 0) + 1
        return JSONResponse({"error": "down"}, status_code=503)

    @api.get("/slow", operation_id="slow", summary="Answer slowly")
    async def slow(seconds: float = 1.0) -> dict[str, Any]:
        await asyncio.sleep(seconds)
        return {"slept": seconds}

    @api.get("/big", operation_id="big", summary="A large JSON answer")
    async def big(size: int = 10_000) -> dict[str, Any]:
        return {"data": "x" * size}

    @api.get("/page", operation_id="page", summary="An HTML page")
    async def page() -> Response:
        return Response("<html><body>" + "hello " * 100 + "</body></html>", media_type="text/html")

    @api.get("/notes", operation_id="notes", summary="Plain text notes")
    async def notes() -> PlainTextResponse:
        return PlainTextResponse("line one\nline two")

    @api.get("/go-away", operation_id="goAway", summary="Redirect elsewhere")
    async def go_away() -> RedirectResponse:
        return RedirectResponse(f"{other_origin}/steal", status_code=302)

    @api.get("/go-admin", operation_id="goAdmin", summary="Redirect outside the base path")
    async def go_admin() -> RedirectResponse:
        return RedirectResponse("/admin/secret", status_code=302)

    @api.get("/moved", operation_id="moved", summary="Redirect within the API")
    async def moved() -> RedirectResponse:
        return RedirectResponse("/v1/items/moved-here", status_code=307)

    @api.get("/echo-error", operation_id="echoError", summary="Fail, echoing the credential")
    async def echo_error(request: Request) -> Response:
        echoed = request.headers.get("authorization") or request.headers.get("x-api-key") or ""
        return JSONResponse({"detail": f"bad token {echoed} rejected"}, status_code=401)

    @api.api_route(
        "/echo/{rest:path}", methods=["GET", "POST", "PUT", "PATCH", "DELETE"], include_in_schema=False
    )
    async def echo(rest: str, request: Request) -> dict[str, Any]:
        """Exactly what arrived: the undecoded path and query, the headers, the body text."""
        return {
            "method": request.method,
            "raw_path": request.scope["raw_path"].decode("ascii"),
            "query": request.scope["query_string"].decode("ascii"),
            "headers": {k: v for k, v in request.headers.items() if k.startswith(("x-", "content-type"))},
            "body": (await request.body()).decode("utf-8", errors="replace"),
        }

    @api.get("/echo-padded", operation_id="echoPadded", summary="Echo the credential after padding")
    async def echo_padded(
        request: Request, pad: int, status: int = 200, media: str = "text/plain", in_type: bool = False
    ) -> Response:
        """`pad` dots, then the credential that arrived, then more text: a cap at `pad + k` bytes
        falls `k` characters into the echoed header. With `in_type` the echo is the content type."""
        echoed = request.headers.get("authorization") or request.headers.get("x-api-key") or ""
        if in_type:
            media_type = "application/x-" + "." * pad + echoed
            return Response(b"\x00" * 10, status_code=status, media_type=media_type)
        text = "." * pad + echoed + " and more text after it" * 200
        return Response(text, status_code=status, media_type=media)

    @api.get("/trickle", operation_id="trickle", summary="Send the headers, then one byte at a time")
    async def trickle(count: int = 40, interval: float = 0.5) -> StreamingResponse:
        async def drip() -> AsyncIterator[bytes]:
            for _ in range(count):
                yield b"x"
                await asyncio.sleep(interval)

        return StreamingResponse(drip(), media_type="text/plain")

    root = FastAPI()

    @root.get("/admin/secret")
    async def admin_secret() -> dict[str, str]:
        recorder.hits.append(Hit("GET", "/admin/secret", "", None, None, None))
        return {"secret": "the crown jewels"}

    root.mount("/v1", api)
    return root, recorder


@dataclass
class Upstream:
    url: str
    recorder: Recorder

    @property
    def base_url(self) -> str:
        return f"{self.url}/v1"

    @property
    def openapi_url(self) -> str:
        return f"{self.url}/v1/openapi.json"


def api_config(upstream: Upstream, name: str = "shop", **fields: Any) -> ApiConfig:
    """An API entry for the test upstream: private addresses allowed, fast retries."""
    values: dict[str, Any] = {
        "name": name,
        "base_url": upstream.base_url,
        "openapi": upstream.openapi_url,
        "allow_private": True,
        "retry_backoff_seconds": 0.01,
        "timeout_seconds": 2.0,
    }
    values.update(fields)
    return ApiConfig.model_validate(values)


def toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, list | tuple):
        return "[" + ", ".join(toml_value(v) for v in value) + "]"
    return '"' + str(value).replace("\\", "\\\\").replace('"', '\\"') + '"'


def write_config(path: Path, apis: list[dict[str, Any]]) -> Path:
    """A `CHATGATE_CONFIG` file with these `[[apis]]` entries."""
    lines: list[str] = []
    for entry in apis:
        lines.append("[[apis]]")
        lines.extend(f"{key} = {toml_value(value)}" for key, value in entry.items())
        lines.append("")
    path.write_text("\n".join(lines), encoding="utf-8")
    return path


def new_key() -> str:
    return base64.urlsafe_b64encode(os.urandom(32)).decode()


@asynccontextmanager
async def postgres_database() -> AsyncIterator[str]:
    """A fresh PostgreSQL database (asyncpg URL), dropped afterwards.

    Skips when the server (`CHATGATE_TEST_POSTGRES_URL`, else this machine's default) is unreachable,
    unless `CHATGATE_REQUIRE_POSTGRES=1` (CI), where that is a failure.
    """
    admin_url = postgres_admin_url()
    required = os.environ.get("CHATGATE_REQUIRE_POSTGRES") == "1"
    base = make_url(admin_url).set(drivername="postgresql+asyncpg")
    name = f"chatgate_apis_{uuid.uuid4().hex[:12]}"
    admin = create_async_engine(base, isolation_level="AUTOCOMMIT")
    try:
        async with admin.connect() as connection:
            await connection.execute(text(f'CREATE DATABASE "{name}"'))
    except (OSError, SQLAlchemyError) as exc:
        await admin.dispose()
        if required:
            pytest.fail(f"PostgreSQL is required but unreachable: {type(exc).__name__}")
        pytest.skip(f"PostgreSQL unreachable: {type(exc).__name__}")
    try:
        yield base.set(database=name).render_as_string(hide_password=False)
    finally:
        async with admin.connect() as connection:
            await connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        await admin.dispose()
