"""Token verification: the auth matrix, unit level and through the real HTTP endpoint."""

from __future__ import annotations

import base64
import json
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import httpx
import jwt
import pytest
from cryptography.hazmat.primitives import serialization

from chatgate.auth import TokenVerifier, VerifierConfig, bearer_token
from chatgate.errors import AuthenticationError, AuthUnavailableError
from chatgate.jwks import JwksCache
from conftest import TEST_JWT_SECRET, make_settings, mint, start_live_app
from support.jwks_server import JwksServer, new_key
from support.servers import ThreadedServer

ISSUER = "https://auth.example.test"
AUDIENCE = "https://auth.example.test"


@pytest.fixture(scope="module")
def jwks() -> Iterator[tuple[JwksServer, str]]:
    server = JwksServer()
    server.add("EdDSA", "ed-1")
    server.add("RS256", "rsa-1")
    server.add("ES256", "ec-1")
    with ThreadedServer(server.app) as http:
        yield server, f"{http.url}/jwks"


_open_verifiers: list[TokenVerifier] = []


def verifier(
    jwks_url: str | None = None,
    *,
    issuer: str | None = None,
    audience: str | None = None,
    refetch: float = 30.0,
    hs256: bool = True,
) -> TokenVerifier:
    config = VerifierConfig(
        hs256_secret=TEST_JWT_SECRET if hs256 else None,
        jwks_url=jwks_url,
        issuer=issuer,
        audience=audience,
        leeway_seconds=5,
        dev_mode=False,
    )
    cache = JwksCache(jwks_url, refetch_interval_seconds=refetch) if jwks_url else None
    _open_verifiers.append(TokenVerifier(config, cache))
    return _open_verifiers[-1]


@pytest.fixture(autouse=True)
async def _close_verifiers() -> AsyncIterator[None]:
    yield
    while _open_verifiers:
        await _open_verifiers.pop().aclose()


def unsigned(claims: dict[str, object]) -> str:
    def part(data: dict[str, object]) -> str:
        return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()

    return f"{part({'alg': 'none', 'typ': 'JWT'})}.{part(claims)}."


async def test_hs256_token_yields_principal_with_claims() -> None:
    principal = await verifier().verify(mint("alice", email="alice@example.test"))
    assert principal.user_id == "alice"
    assert principal.profile_claims() == {"email": "alice@example.test"}


@pytest.mark.parametrize("claim", ["id", "user_id", "userId"])
async def test_user_id_falls_back_to_other_claims(claim: str) -> None:
    token = jwt.encode({claim: "u-42", "exp": int(time.time()) + 60}, TEST_JWT_SECRET, algorithm="HS256")
    assert (await verifier().verify(token)).user_id == "u-42"


@pytest.mark.parametrize("kid", ["ed-1", "rsa-1", "ec-1"])
async def test_asymmetric_tokens_verify_against_jwks(jwks: tuple[JwksServer, str], kid: str) -> None:
    server, url = jwks
    principal = await verifier(url).verify(server.sign(kid, {"sub": f"user-{kid}"}))
    assert principal.user_id == f"user-{kid}"


async def test_key_rotation_refetches_once_for_unknown_kid(jwks: tuple[JwksServer, str]) -> None:
    server, url = jwks
    check = verifier(url, refetch=0.0)
    await check.verify(server.sign("ed-1"))
    hits = server.hits
    new_kid = server.add("EdDSA")
    assert (await check.verify(server.sign(new_kid, {"sub": "rotated"}))).user_id == "rotated"
    assert server.hits == hits + 1


async def test_unknown_kid_refetch_is_rate_limited(jwks: tuple[JwksServer, str]) -> None:
    server, url = jwks
    check = verifier(url, refetch=60.0)
    await check.verify(server.sign("ed-1"))
    hits = server.hits
    forged = jwt.encode(
        {"sub": "x", "exp": int(time.time()) + 60},
        server.keys["ed-1"][1],
        algorithm="EdDSA",
        headers={"kid": "no-such-key"},
    )
    for _ in range(5):
        with pytest.raises(AuthenticationError, match="unknown key"):
            await check.verify(forged)
    assert server.hits == hits  # inside the interval: no refetch at all


async def test_jwks_unreachable_is_503_not_401() -> None:
    token = jwt.encode(
        {"sub": "a", "exp": int(time.time()) + 60}, new_key("EdDSA"), algorithm="EdDSA", headers={"kid": "k"}
    )
    unreachable = verifier("http://127.0.0.1:9/jwks")
    for _ in range(3):  # not once 503 and then 401s while the refetch is rate-limited
        with pytest.raises(AuthUnavailableError):
            await unreachable.verify(token)


async def test_issuer_and_audience_checked_when_configured() -> None:
    check = verifier(issuer=ISSUER, audience=AUDIENCE)
    assert (await check.verify(mint("alice", iss=ISSUER, aud=AUDIENCE))).user_id == "alice"
    with pytest.raises(AuthenticationError, match="issuer"):
        await check.verify(mint("alice", iss="https://evil.test", aud=AUDIENCE))
    with pytest.raises(AuthenticationError, match="audience"):
        await check.verify(mint("alice", iss=ISSUER, aud="https://other.test"))


BAD_TOKENS = {
    "expired": lambda: mint("alice", ttl=-120),
    "not yet valid": lambda: mint("alice", nbf=int(time.time()) + 600),
    "wrong signature": lambda: mint("alice", secret="another-secret-" + "x" * 40),
    "alg none": lambda: unsigned({"sub": "alice", "exp": int(time.time()) + 60}),
    "missing subject": lambda: jwt.encode({"exp": int(time.time()) + 60}, TEST_JWT_SECRET, algorithm="HS256"),
    "missing exp": lambda: jwt.encode({"sub": "alice"}, TEST_JWT_SECRET, algorithm="HS256"),
    "garbage": lambda: "not.a.jwt",
    "empty user id": lambda: mint(None, sub=""),
    "control characters in user id": lambda: mint("alice\nbob"),
    "HS384 not allowed": lambda: jwt.encode(
        {"sub": "a", "exp": int(time.time()) + 60}, TEST_JWT_SECRET + "x" * 20, algorithm="HS384"
    ),
}


@pytest.mark.parametrize("case", sorted(BAD_TOKENS))
async def test_bad_tokens_are_refused(case: str) -> None:
    with pytest.raises(AuthenticationError):
        await verifier().verify(BAD_TOKENS[case]())


async def test_hs256_signed_with_rsa_public_key_is_refused(jwks: tuple[JwksServer, str]) -> None:
    """The classic key-confusion attack: HS256 with the issuer's public key as the HMAC secret."""
    server, url = jwks
    public_pem = (
        server.keys["rsa-1"][1]
        .public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    )
    forged = _hmac_token(public_pem, {"sub": "mallory", "exp": int(time.time()) + 60}, kid="rsa-1")
    # JWKS only: HS256 is not accepted at all.
    with pytest.raises(AuthenticationError, match="algorithm"):
        await verifier(url, hs256=False).verify(forged)
    # Both configured: HS256 is checked against the shared secret only, never a JWKS key.
    with pytest.raises(AuthenticationError, match="signature"):
        await verifier(url).verify(forged)


async def test_token_algorithm_must_match_key_type(jwks: tuple[JwksServer, str]) -> None:
    server, url = jwks
    token = server.sign("ec-1")
    header, payload, signature = token.split(".")
    relabeled = json.loads(base64.urlsafe_b64decode(header + "=="))
    relabeled["alg"] = "RS256"
    new_header = base64.urlsafe_b64encode(json.dumps(relabeled).encode()).rstrip(b"=").decode()
    with pytest.raises(AuthenticationError, match="does not match"):
        await verifier(url).verify(f"{new_header}.{payload}.{signature}")


def _hmac_token(secret: bytes, claims: dict[str, object], *, kid: str) -> str:
    import hashlib
    import hmac

    def b64(data: bytes) -> str:
        return base64.urlsafe_b64encode(data).rstrip(b"=").decode()

    header = b64(json.dumps({"alg": "HS256", "typ": "JWT", "kid": kid}).encode())
    signing_input = f"{header}.{b64(json.dumps(claims).encode())}"
    signature = hmac.new(secret, signing_input.encode(), hashlib.sha256).digest()
    return f"{signing_input}.{b64(signature)}"


@pytest.mark.parametrize(
    ("header", "code"),
    [
        (None, "missing_token"),
        ("", "missing_token"),
        ("Basic YWxpY2U6cHc=", "invalid_token"),
        ("Bearer", "invalid_token"),
        ("Bearer    ", "invalid_token"),
    ],
)
def test_bearer_header_parsing(header: str | None, code: str) -> None:
    with pytest.raises(AuthenticationError) as caught:
        bearer_token(header)
    assert caught.value.code == code


def test_dev_mode_generates_secret_once(tmp_path: Path) -> None:
    from chatgate.auth import verifier_config

    settings = make_settings(tmp_path, JWT_SECRET=None)
    first = verifier_config(settings)
    second = verifier_config(settings)
    assert first.dev_mode and first.hs256_secret == second.hs256_secret
    assert len(first.hs256_secret or "") >= 32
    assert (tmp_path / "dev-jwt-secret").stat().st_mode & 0o777 == 0o600


# --- through the real HTTP endpoint -------------------------------------------------------------


@pytest.fixture(scope="module")
def http_app(tmp_path_factory: pytest.TempPathFactory, jwks: tuple[JwksServer, str]) -> Iterator[str]:
    _, url = jwks
    server, app = start_live_app(
        tmp_path_factory.mktemp("auth-app"), JWKS_URL=url, JWKS_REFETCH_INTERVAL_SECONDS=1
    )
    with server:
        yield app.url


@pytest.mark.parametrize("case", sorted(BAD_TOKENS))
def test_http_bad_tokens_get_401_with_challenge(http_app: str, case: str) -> None:
    response = httpx.get(
        f"{http_app}/api/agents/tools", headers={"Authorization": f"Bearer {BAD_TOKENS[case]()}"}
    )
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "invalid_token"
    assert response.headers["www-authenticate"].startswith('Bearer realm="chatgate", error="invalid_token"')


@pytest.mark.parametrize(
    ("headers", "code"),
    [
        ({}, "missing_token"),
        ({"Authorization": "Basic YWxpY2U6cHc="}, "invalid_token"),
        ({"Authorization": "Token abc"}, "invalid_token"),
    ],
)
def test_http_missing_header_and_wrong_scheme(http_app: str, headers: dict[str, str], code: str) -> None:
    response = httpx.post(f"{http_app}/api/agents/chat", json={"message": "hi"}, headers=headers)
    assert response.status_code == 401
    assert response.json() == {"error": {"code": code, "message": response.json()["error"]["message"]}}
    assert response.headers["www-authenticate"].startswith('Bearer realm="chatgate"')


@pytest.mark.parametrize("kid", ["ed-1", "rsa-1"])
def test_http_valid_jwks_tokens_reach_the_tool_server(
    http_app: str, jwks: tuple[JwksServer, str], kid: str
) -> None:
    server, _ = jwks
    token = server.sign(kid, {"sub": f"jwks-{kid}"})
    response = httpx.get(
        f"{http_app}/api/agents/tools", headers={"Authorization": f"Bearer {token}"}, timeout=30
    )
    assert response.status_code == 200, response.text
    assert "whoami" in {tool["name"] for tool in response.json()["tools"]}


def test_http_rotated_key_is_accepted(http_app: str, jwks: tuple[JwksServer, str]) -> None:
    """A new `kid` is picked up by a refetch, at most one per JWKS_REFETCH_INTERVAL_SECONDS (1 s here)."""
    server, _ = jwks
    kid = server.add("EdDSA", "rotated-http")
    headers = {"Authorization": f"Bearer {server.sign(kid)}"}
    deadline = time.monotonic() + 5
    response = httpx.get(f"{http_app}/api/agents/tools", headers=headers, timeout=30)
    while response.status_code == 401 and time.monotonic() < deadline:
        time.sleep(0.2)  # inside the refetch interval the unknown kid is refused without a fetch
        response = httpx.get(f"{http_app}/api/agents/tools", headers=headers, timeout=30)
    assert response.status_code == 200, response.text
