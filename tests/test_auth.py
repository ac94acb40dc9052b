"""Token verification: the auth matrix, unit level and through the real HTTP endpoint."""

from __future__ import annotations

import base64
import json
import logging
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import httpx
import jwt
import pytest
from cryptography.hazmat.primitives import serialization

from chatgate.auth.jwks import JwksCache
from chatgate.auth.verify import TokenVerifier, VerifierConfig, bearer_token
from chatgate.errors import AuthenticationError, AuthUnavailableError
from support.jwks_server import JwksServer, new_key
from support.live_app import start_live_app
from support.servers import ThreadedServer
from support.settings import make_settings
from support.tokens import TEST_JWT_SECRET, mint

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


async def test_an_unknown_kid_costs_one_refetch_then_is_refused_without_fetching(
    jwks: tuple[JwksServer, str],
) -> None:
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
    assert server.hits == hits + 1  # one fetch proved the kid absent; the other four asked nobody


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
    from chatgate.auth.verify import verifier_config

    settings = make_settings(tmp_path, JWT_SECRET=None)
    first = verifier_config(settings)
    second = verifier_config(settings)
    assert first.dev_mode and first.hs256_secret == second.hs256_secret
    assert len(first.hs256_secret or "") >= 32
    assert (tmp_path / "dev-jwt-secret").stat().st_mode & 0o777 == 0o600


# --- through the real HTTP endpoint -------------------------------------------------------------


@pytest.fixture(scope="module")
def http_app(tmp_path_factory: pytest.TempPathFactory, jwks: tuple[JwksServer, str]) -> Iterator[str]:
    """HS256 and a JWKS, with the default 30 s refetch interval."""
    _, url = jwks
    server, app = start_live_app(tmp_path_factory.mktemp("auth-app"), JWKS_URL=url)
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


@pytest.mark.parametrize("first", ["alice", "mallory"])
def test_http_two_authorization_headers_are_refused(http_app: str, first: str) -> None:
    # Two credentials are ambiguous: a proxy may check one while the app would use the other.
    second = "mallory" if first == "alice" else "alice"
    headers = [("Authorization", f"Bearer {mint(first)}"), ("Authorization", f"Bearer {mint(second)}")]
    response = httpx.get(f"{http_app}/api/agents/conversations", headers=headers, timeout=30)
    assert response.status_code == 401, response.text
    assert response.json()["error"]["code"] == "invalid_token"
    assert response.headers["www-authenticate"].startswith('Bearer realm="chatgate", error="invalid_token"')


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


def test_http_rotated_key_is_accepted_at_once(http_app: str, jwks: tuple[JwksServer, str]) -> None:
    """Better Auth publishes its new key when it signs the first token with it: a verifier that has
    just fetched the JWKS must fetch again at once, not refuse the token for the refetch interval."""
    server, _ = jwks
    known = httpx.get(
        f"{http_app}/api/agents/tools", headers={"Authorization": f"Bearer {server.sign('ed-1')}"}, timeout=30
    )
    assert known.status_code == 200, known.text  # the JWKS was fetched a moment ago
    kid = server.add("EdDSA", "rotated-http")
    response = httpx.get(
        f"{http_app}/api/agents/tools", headers={"Authorization": f"Bearer {server.sign(kid)}"}, timeout=30
    )
    assert response.status_code == 200, response.text


# --- every field of the untrusted header is type-checked (401, never 500) -----------------------


def _with_header(header: object, claims: dict[str, object] | None = None) -> str:
    """A token with exactly this header (any JSON) and a signature that is never reached."""

    def part(data: object) -> str:
        return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()

    payload = claims or {"sub": "mallory", "exp": int(time.time()) + 60}
    return f"{part(header)}.{part(payload)}.c2lnbmF0dXJl"


BAD_HEADERS: dict[str, object] = {
    "alg a list": {"alg": ["HS256"], "typ": "JWT"},
    "alg an object": {"alg": {"name": "EdDSA"}},
    "alg a number": {"alg": 256},
    "alg null": {"alg": None},
    "alg missing": {"typ": "JWT"},
    "alg empty": {"alg": ""},
    "alg huge": {"alg": "HS256" * 100},
    "kid a list": {"alg": "EdDSA", "kid": ["ed-1"]},
    "kid an object": {"alg": "EdDSA", "kid": {"id": "ed-1"}},
    "kid a number": {"alg": "EdDSA", "kid": 1},
    "kid empty": {"alg": "EdDSA", "kid": ""},
    "kid huge": {"alg": "EdDSA", "kid": "k" * 5000},
    "typ a list": {"alg": "HS256", "typ": ["JWT"]},
    "cty a number": {"alg": "HS256", "cty": 7},
    "crit a string": {"alg": "HS256", "crit": "b64"},
    "crit with a number": {"alg": "HS256", "crit": [1]},
    "crit unknown extension": {"alg": "HS256", "crit": ["exp"], "exp": 1},
    "header a list": ["HS256"],
    "header a string": "HS256",
}


@pytest.mark.parametrize("case", sorted(BAD_HEADERS))
async def test_header_fields_of_the_wrong_type_are_malformed(jwks: tuple[JwksServer, str], case: str) -> None:
    _, url = jwks
    with pytest.raises(AuthenticationError) as refused:
        await verifier(url).verify(_with_header(BAD_HEADERS[case]))
    assert refused.value.code == "invalid_token" and refused.value.reason == "malformed"


@pytest.mark.parametrize("case", sorted(BAD_HEADERS))
def test_http_header_fields_of_the_wrong_type_get_401_not_500(http_app: str, case: str) -> None:
    response = httpx.get(
        f"{http_app}/api/agents/tools",
        headers={"Authorization": f"Bearer {_with_header(BAD_HEADERS[case])}"},
        timeout=30,
    )
    assert response.status_code == 401, response.text
    assert response.json()["error"]["code"] == "invalid_token"


@pytest.mark.parametrize(
    "wrong",
    [
        {"exp": "tomorrow"},
        {"iat": "now"},
        {"nbf": ["x"]},
        {"sub": ["alice"]},
        # NumericDate is a JSON number (RFC 7519 §2): digits in a string, or a boolean, are not one.
        # (Fixed times, far from now: these values are made when the tests are collected.)
        {"exp": "4102444800"},
        {"nbf": "946684800"},
        {"iat": "946684800"},
        {"nbf": False},
    ],
    ids=str,
)
async def test_claims_of_the_wrong_type_are_malformed(wrong: dict[str, object]) -> None:
    claims = {"sub": "alice", "exp": int(time.time()) + 60, **wrong}
    token = jwt.encode(claims, TEST_JWT_SECRET, algorithm="HS256")
    with pytest.raises(AuthenticationError) as refused:
        await verifier().verify(token)
    assert refused.value.reason == "malformed"


# --- issuer and audience: compared normalised ---------------------------------------------------


@pytest.mark.parametrize(
    ("configured", "in_token"),
    [
        ("https://Auth.Example.test/", "https://auth.example.test"),
        ("https://auth.example.test", "HTTPS://AUTH.EXAMPLE.TEST/"),
        ("https://auth.example.test:443", "https://auth.example.test"),
        ("http://localhost:3000", "http://LOCALHOST:3000/"),
    ],
)
async def test_issuer_and_audience_urls_are_compared_normalised(configured: str, in_token: str) -> None:
    check = verifier(issuer=configured, audience=configured)
    assert (await check.verify(mint("alice", iss=in_token, aud=[in_token, "other"]))).user_id == "alice"


@pytest.mark.parametrize(
    "in_token",
    ["https://auth.example.test/other", "https://auth.example.test.evil", "http://auth.example.test", "auth"],
)
async def test_other_issuers_stay_refused(in_token: str) -> None:
    with pytest.raises(AuthenticationError, match="issuer"):
        await verifier(issuer="https://auth.example.test/").verify(mint("alice", iss=in_token))


@pytest.mark.parametrize("audience", [7, {"a": 1}, [1, 2], [["https://auth.example.test"]]])
async def test_audience_of_the_wrong_type_is_malformed(audience: object) -> None:
    token = jwt.encode(
        {"sub": "a", "exp": int(time.time()) + 60, "aud": audience}, TEST_JWT_SECRET, algorithm="HS256"
    )
    with pytest.raises(AuthenticationError) as refused:
        await verifier(audience=AUDIENCE).verify(token)
    assert refused.value.reason == "malformed"


def test_better_auth_url_names_its_origin_as_issuer_and_audience(tmp_path: Path) -> None:
    settings = make_settings(tmp_path, BETTER_AUTH_URL="https://App.Example.test/")
    assert settings.jwt_issuer == settings.jwt_audience == "https://app.example.test"
    assert settings.jwks_url == "https://App.Example.test/api/auth/jwks"


# --- diagnosability: why each 401 happened, and what auth is configured ------------------------


class _Records(logging.Handler):
    def __init__(self) -> None:
        super().__init__()
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


@pytest.fixture
def auth_log() -> Iterator[list[logging.LogRecord]]:
    handler = _Records()
    logger = logging.getLogger("chatgate.auth.verify")
    logger.addHandler(handler)
    level = logger.level
    logger.setLevel(logging.INFO)
    try:
        yield handler.records
    finally:
        logger.removeHandler(handler)
        logger.setLevel(level)


async def test_every_refusal_is_logged_with_its_reason_and_never_the_token(
    jwks: tuple[JwksServer, str], auth_log: list[logging.LogRecord]
) -> None:
    server, url = jwks
    check = verifier(url, issuer=ISSUER, audience=AUDIENCE)
    good = {"iss": ISSUER, "aud": AUDIENCE}
    cases = {
        "expired": server.sign("ed-1", good, ttl=-120),
        "unknown_key": jwt.encode(
            {"sub": "a", "exp": int(time.time()) + 60, **good},
            server.keys["ed-1"][1],
            algorithm="EdDSA",
            headers={"kid": "never-published"},
        ),
        "issuer": server.sign("ed-1", {"iss": "https://evil.test", "aud": AUDIENCE}),
        "audience": server.sign("ed-1", {"iss": ISSUER, "aud": "https://other.test"}),
        "algorithm": jwt.encode(
            {"sub": "a", "exp": int(time.time()) + 60}, TEST_JWT_SECRET + "x" * 20, algorithm="HS384"
        ),
        "malformed": _with_header({"alg": ["HS256"]}),
        "signature": mint("alice", iss=ISSUER, aud=AUDIENCE, secret="another-secret-" + "x" * 40),
    }
    for reason, token in cases.items():
        auth_log.clear()
        with pytest.raises(AuthenticationError):
            await check.verify(token)
        refusals = [r for r in auth_log if r.fields.get("event") == "auth_refused"]  # type: ignore[attr-defined]
        assert [r.fields["reason"] for r in refusals] == [reason]  # type: ignore[attr-defined]
        rendered = refusals[0].getMessage() + json.dumps(refusals[0].fields)  # type: ignore[attr-defined]
        assert token not in rendered and token.split(".")[2] not in rendered
    auth_log.clear()
    with pytest.raises(AuthenticationError):
        await check.verify(cases["issuer"])
    assert "https://evil.test" in auth_log[-1].fields["detail"]  # type: ignore[attr-defined]


def test_missing_and_wrong_scheme_headers_are_logged(auth_log: list[logging.LogRecord]) -> None:
    for header in (None, "Basic YWxpY2U6cHc="):
        with pytest.raises(AuthenticationError):
            bearer_token(header)
    assert [r.fields["reason"] for r in auth_log] == ["missing_token", "scheme"]  # type: ignore[attr-defined]


def test_start_up_logs_the_resolved_auth_configuration(
    tmp_path: Path, auth_log: list[logging.LogRecord]
) -> None:
    from chatgate.main import create_app

    create_app(make_settings(tmp_path, JWT_SECRET=None, BETTER_AUTH_URL="https://App.Example.test"))
    configured = [r for r in auth_log if r.fields.get("event") == "auth_configured"]  # type: ignore[attr-defined]
    assert len(configured) == 1
    fields = configured[0].fields  # type: ignore[attr-defined]
    assert fields["jwks_url"] == "https://app.example.test/api/auth/jwks"
    assert fields["issuer"] == fields["audience"] == "https://app.example.test"
    assert set(fields["algorithms"]) == {"EdDSA", "ES256", "RS256"}


def test_http_a_flood_of_random_kids_never_turns_a_new_key_into_a_401(
    tmp_path: Path, jwks: tuple[JwksServer, str]
) -> None:
    server, url = jwks
    hits = server.hits
    live, app = start_live_app(tmp_path, JWKS_URL=url)
    with live:
        statuses = []
        for index in range(12):
            forged = jwt.encode(
                {"sub": "x", "exp": int(time.time()) + 60},
                server.keys["ed-1"][1],
                algorithm="EdDSA",
                headers={"kid": f"random-{index}"},
            )
            statuses.append(
                httpx.get(
                    f"{app.url}/api/agents/tools", headers={"Authorization": f"Bearer {forged}"}, timeout=30
                ).status_code
            )
        kid = server.add("EdDSA", "rotated-during-flood")
        rotated = httpx.get(
            f"{app.url}/api/agents/tools", headers={"Authorization": f"Bearer {server.sign(kid)}"}, timeout=30
        )
    assert set(statuses) <= {401, 503} and 503 in statuses
    assert server.hits - hits <= 3  # start-up fetch included: the flood cost the issuer two requests
    assert rotated.status_code == 503, rotated.text
    assert rotated.json()["error"]["code"] == "auth_unavailable"
    assert 1 <= int(rotated.headers["retry-after"]) <= 30
