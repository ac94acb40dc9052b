"""The error catalogue (`chatgate.errors`) against the README's error table, and its one rendering
path (`chatgate.api.error_handlers`, the middleware) through HTTP requests to an app that raises."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI

from chatgate import errors
from chatgate.api.error_handlers import install_error_handlers
from chatgate.api.middleware import BodyLimitMiddleware, RequestContextMiddleware
from chatgate.errors import ChatgateError
from chatgate.storage import errors as storage

README = Path(__file__).resolve().parents[1] / "README.md"
BODY_LIMIT = 64


def _readme_table() -> dict[str, tuple[set[int], int | None]]:
    """`code -> (statuses of its row, default Retry-After seconds or None)` from README's error table."""
    section = README.read_text(encoding="utf-8").split("### Errors", 1)[1].split("\n## ", 1)[0]
    table: dict[str, tuple[set[int], int | None]] = {}
    for line in section.splitlines():
        cells = [cell.strip() for cell in line.strip().strip("|").split("|")]
        if len(cells) != 3 or not re.fullmatch(r"\d{3}( / \d{3})*", cells[0]):
            continue
        statuses = {int(status) for status in cells[0].split(" / ")}
        retry_after = {code: int(seconds) for code, seconds in re.findall(r"`([a-z_]+)` (\d+)", cells[2])}
        for code in re.findall(r"`([a-z][a-z_]*)`", cells[1]):
            table[code] = (statuses, retry_after.get(code))
    return table


def _catalogue() -> list[type[ChatgateError]]:
    """Every class of the catalogue that declares a code of its own."""
    found: list[type[ChatgateError]] = []
    pending = ChatgateError.__subclasses__()
    while pending:
        kind = pending.pop()
        pending.extend(kind.__subclasses__())
        if "code" in vars(kind) and kind.__module__.startswith(f"{errors.__name__}."):
            found.append(kind)
    return found


TABLE = _readme_table()
CATALOGUE = _catalogue()


def _raise(kind: type[ChatgateError]) -> ChatgateError:
    return kind(limit="per_minute") if kind is errors.RateLimitedError else kind()


def test_the_readme_table_was_read() -> None:
    assert len(TABLE) >= 25, TABLE
    assert TABLE["schema_out_of_date"] == ({503}, None)
    assert TABLE["conversation_busy"] == ({409}, 2)


@pytest.mark.parametrize("code", sorted(TABLE))
def test_each_documented_code_is_exactly_one_class_with_its_status_and_retry_after(code: str) -> None:
    statuses, retry_after = TABLE[code]
    (kind,) = [kind for kind in CATALOGUE if kind.code == code]
    assert kind.status_code in statuses
    assert kind.retry_after == retry_after
    assert ("Retry-After" in _raise(kind).headers) == (retry_after is not None)


def test_every_class_of_the_catalogue_is_documented() -> None:
    assert sorted(kind.code for kind in CATALOGUE) == sorted(TABLE)


@pytest.fixture
async def client() -> AsyncIterator[httpx.AsyncClient]:
    app = FastAPI()
    install_error_handlers(app)
    by_code = {kind.code: kind for kind in CATALOGUE}
    lower_layers: dict[str, Exception] = {
        "storage_not_found": storage.RowNotFoundError("conversation"),
        "storage_invalid": storage.InvalidInputError("bad collection name"),
        "storage_down": storage.DatabaseUnavailableError(),
        "unexpected": RuntimeError("secret detail sk-123"),
    }

    @app.get("/raise/{code}")
    async def raise_(code: str) -> None:
        if code in lower_layers:
            raise lower_layers[code]
        raise _raise(by_code[code])

    @app.post("/echo")
    async def echo() -> dict[str, str]:
        return {"ok": "yes"}

    served = RequestContextMiddleware(BodyLimitMiddleware(app, BODY_LIMIT))
    transport = httpx.ASGITransport(served, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://chatgate.test") as http:
        yield http


def _assert_error(response: httpx.Response, status: int, code: str, retry_after: int | None) -> None:
    assert response.status_code == status, response.text
    assert response.json() == {"error": {"code": code, "message": response.json()["error"]["message"]}}
    assert response.json()["error"]["message"]
    assert response.headers.get("retry-after") == (None if retry_after is None else str(retry_after))
    assert response.headers["x-request-id"]


@pytest.mark.parametrize("code", sorted(TABLE))
async def test_the_handler_renders_each_code_through_http(client: httpx.AsyncClient, code: str) -> None:
    (kind,) = [kind for kind in CATALOGUE if kind.code == code]
    response = await client.get(f"/raise/{code}")
    _assert_error(response, kind.status_code, code, TABLE[code][1])
    assert response.json()["error"]["message"] == kind.default_message
    if kind.status_code == 401:
        assert response.headers["www-authenticate"].startswith('Bearer realm="chatgate"')


@pytest.mark.parametrize(
    ("path", "status", "code", "retry_after", "message"),
    [
        ("/raise/storage_not_found", 404, "not_found", None, "conversation not found"),
        ("/raise/storage_invalid", 422, "invalid_request", None, "bad collection name"),
        ("/raise/storage_down", 503, "database_unavailable", 2, None),
        ("/raise/unexpected", 500, "internal_error", None, "Something went wrong on our side."),
        ("/no-such-route", 404, "not_found", None, None),
    ],
)
async def test_lower_layers_are_looked_up_in_the_catalogue(
    client: httpx.AsyncClient, path: str, status: int, code: str, retry_after: int | None, message: str | None
) -> None:
    response = await client.get(path)
    _assert_error(response, status, code, retry_after)
    if message is not None:
        assert response.json()["error"]["message"] == message
    assert "sk-123" not in response.text


async def test_the_framework_and_the_middleware_answer_through_the_catalogue(
    client: httpx.AsyncClient,
) -> None:
    _assert_error(await client.get("/echo"), 405, "method_not_allowed", None)
    _assert_error(await client.post("/raise/x"), 405, "method_not_allowed", None)
    too_large = await client.post("/echo", content=b"x" * (BODY_LIMIT + 1))
    _assert_error(too_large, 413, "request_too_large", None)
    assert f"{BODY_LIMIT} bytes" in too_large.json()["error"]["message"]
    assert (await client.post("/echo", content=b"{}")).json() == {"ok": "yes"}


def test_something_went_wrong_is_written_once() -> None:
    source = Path(errors.__file__).resolve().parents[1]
    holders = [
        path.relative_to(source).as_posix()
        for path in source.rglob("*.py")
        if "Something went wrong on our side." in path.read_text(encoding="utf-8")
    ]
    assert holders == ["errors/base.py"]
