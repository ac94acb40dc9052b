"""API tools end to end: credential routes and `POST /api/agents/chat` with a real tool server."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from apis.upstream import Recorder, Upstream, new_key, write_config
from support.live_app import LiveApp, start_live_app
from support.models import call_then_report
from support.tokens import auth

SERVICE_SECRET = "svc-e2e-secret"


def _config(directory: Path, upstream: Upstream) -> Path:
    common = {"base_url": upstream.base_url, "openapi": upstream.openapi_url, "allow_private": True}
    return write_config(
        directory / "chatgate.toml",
        [
            {
                **common,
                "name": "mine",
                "operations": ["whoami"],
                "auth": "user",
                "user_id_header": "X-User-Id",
            },
            {**common, "name": "svc", "operations": ["whoami"], "auth": "service", "secret_env": "SVC_E2E"},
            {**common, "name": "shop", "operations": ["getItem"]},
        ],
    )


@pytest.fixture(scope="module")
def app(
    tmp_path_factory: pytest.TempPathFactory, upstream: Upstream, launcher_name: str
) -> Iterator[LiveApp]:
    state = tmp_path_factory.mktemp("apis-live")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("SVC_E2E", SERVICE_SECRET)
        server, live = start_live_app(
            state,
            CHATGATE_CONFIG=_config(state, upstream),
            CHATGATE_ENCRYPTION_KEY=new_key(),
            MCP_LAUNCHER=launcher_name,
        )
    with server:
        yield live


def chat(app: LiveApp, user: str) -> httpx.Response:
    return httpx.post(f"{app.url}/api/agents/chat", json={"message": "go"}, headers=auth(user), timeout=60)


def outputs(response: httpx.Response) -> list[str]:
    assert response.status_code == 200, response.text
    result: list[str] = json.loads(response.json()["response"])
    return result


def test_tool_catalog_includes_the_api_tools(app: LiveApp) -> None:
    response = httpx.get(f"{app.url}/api/agents/tools", headers=auth(), timeout=60)
    tools = {tool["name"]: tool for tool in response.json()["tools"]}
    assert {"api_mine_whoami", "api_svc_whoami", "api_shop_getItem", "whoami"} <= set(tools)
    assert tools["api_shop_getItem"]["annotations"]["readOnlyHint"] is True


def test_credential_routes(app: LiveApp) -> None:
    base = f"{app.url}/api/credentials"
    assert httpx.put(f"{base}/mine", json={"token": "x"}, timeout=10).status_code == 401
    put = httpx.put(f"{base}/mine", json={"token": "carol-token"}, headers=auth("carol"), timeout=10)
    assert put.status_code == 204, put.text
    listed = httpx.get(base, headers=auth("carol"), timeout=10).json()["apis"]
    assert [(item["api_name"], item["connected"]) for item in listed] == [("mine", True)]
    assert "carol-token" not in json.dumps(listed)
    assert httpx.get(base, headers=auth("dave"), timeout=10).json()["apis"][0]["connected"] is False
    unknown = httpx.put(f"{base}/nope", json={"token": "t"}, headers=auth("carol"), timeout=10)
    assert unknown.status_code == 404 and unknown.json()["error"]["code"] == "not_found"
    service = httpx.put(f"{base}/svc", json={"token": "t"}, headers=auth("carol"), timeout=10)
    assert service.status_code == 422
    for bad in ({}, {"token": ""}, {"token": "a\nb"}, {"token": "t", "user_id": "bob"}):
        assert httpx.put(f"{base}/mine", json=bad, headers=auth("carol"), timeout=10).status_code == 422
    lone_surrogate = b'{"token": "t\\ud83d"}'
    headers = {**auth("carol"), "content-type": "application/json"}
    refused = httpx.put(f"{base}/mine", content=lone_surrogate, headers=headers, timeout=10)
    assert refused.status_code == 422 and refused.json()["error"]["code"] == "invalid_request"
    assert httpx.delete(f"{base}/mine", headers=auth("carol"), timeout=10).status_code == 204
    gone = httpx.delete(f"{base}/mine", headers=auth("carol"), timeout=10)
    assert gone.status_code == 404


def test_each_users_credential_reaches_upstream_only_on_their_calls(app: LiveApp, hits: Recorder) -> None:
    put = httpx.put(
        f"{app.url}/api/credentials/mine", json={"token": "alice-token"}, headers=auth("alice"), timeout=10
    )
    assert put.status_code == 204
    app.model.policy = call_then_report([("api_mine_whoami", {})])

    (alice_output,) = outputs(chat(app, "alice"))
    assert json.loads(alice_output)["body"] == {
        "authorization": "Bearer [redacted]",  # the upstream echoes it; the model never sees it
        "api_key": None,
        "user_id": "alice",
    }

    (bob_output,) = outputs(chat(app, "bob"))
    assert "you have not connected the mine API" in bob_output
    assert "alice-token" not in bob_output
    assert [(hit.authorization, hit.user_id) for hit in hits.hits] == [("Bearer alice-token", "alice")]

    database = app.settings.state_dir / "chatgate.db"
    stored = database.read_bytes() + b"".join(p.read_bytes() for p in database.parent.glob("chatgate.db-*"))
    assert b"alice-token" not in stored


def test_service_and_plain_apis_through_chat(app: LiveApp, hits: Recorder) -> None:
    app.model.policy = call_then_report(
        [("api_svc_whoami", {}), ("api_shop_getItem", {"item_id": "../admin"})]
    )
    svc_output, escape_output = outputs(chat(app, "erin"))
    assert json.loads(svc_output)["status"] == 200 and SERVICE_SECRET not in svc_output
    assert "refused" in escape_output
    assert [(hit.path, hit.authorization) for hit in hits.hits] == [
        ("/v1/whoami", f"Bearer {SERVICE_SECRET}")
    ]


def test_without_an_encryption_key_credentials_are_503(
    tmp_path: Path, upstream: Upstream, hits: Recorder
) -> None:
    server, live = start_live_app(tmp_path, CHATGATE_CONFIG=_config(tmp_path, upstream))
    with server:
        response = httpx.put(
            f"{live.url}/api/credentials/mine", json={"token": "t"}, headers=auth("alice"), timeout=10
        )
        assert response.status_code == 503
        assert response.json()["error"]["code"] == "encryption_unavailable"
        assert "CHATGATE_ENCRYPTION_KEY" in response.json()["error"]["message"]
        live.model.policy = call_then_report([("api_mine_whoami", {})])
        (output,) = outputs(chat(live, "alice"))
    assert "CHATGATE_ENCRYPTION_KEY" in output
    assert "/v1/whoami" not in hits.paths()  # only the start-up fetch of the document reached it
