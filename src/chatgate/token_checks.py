"""What an untrusted token's header and claims must look like before anything uses them.

The header is read *before* the signature is checked (it names the key), so everything in it is
attacker-controlled: each field is type-checked here first, and a list where a string belongs is a
malformed token (401), never an exception (500). Fields we never use (`jku`, `x5u`, `jwk`, `x5c`) are
never read: keys come only from the configured secret or JWKS URL.

Issuers and audiences are compared normalised when they are URLs: Better Auth stamps its origin
lower-cased, an operator writes `https://App.example.com/`, and both name the same issuer.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import jwt

from chatgate.errors import AuthenticationError

MAX_ALG_CHARS = 32
MAX_KID_CHARS = 256
# Longest claim value quoted in a log line (a refused token's `iss`, say): enough to diagnose.
MAX_LOGGED_CHARS = 200
_OPTIONAL_STRING_FIELDS = ("kid", "typ", "cty")
_DEFAULT_PORTS = {"http": 80, "https": 443}


@dataclass(frozen=True)
class TokenHeader:
    """The header fields verification uses, each checked for type and size."""

    alg: str
    kid: str | None


def parse_header(token: str) -> TokenHeader:
    """The token's header, type-checked.

    Raises:
        AuthenticationError: (reason `malformed`) not a JWS, or a field of the wrong type or size.
    """
    try:
        header = jwt.get_unverified_header(token)
    except (jwt.PyJWTError, ValueError):
        raise AuthenticationError("The bearer token is malformed.", reason="malformed") from None
    alg = header.get("alg")
    if not isinstance(alg, str) or not alg or len(alg) > MAX_ALG_CHARS:
        raise AuthenticationError("The token header's 'alg' must be a short string.", reason="malformed")
    for name in _OPTIONAL_STRING_FIELDS:
        value = header.get(name)
        if value is not None and not isinstance(value, str):
            raise AuthenticationError(f"The token header's '{name}' must be a string.", reason="malformed")
    kid = header.get("kid")
    if kid is not None and (not kid or len(kid) > MAX_KID_CHARS):
        raise AuthenticationError("The token header's 'kid' is empty or too long.", reason="malformed")
    crit = header.get("crit")
    if crit is not None and (not isinstance(crit, list) or not all(isinstance(item, str) for item in crit)):
        raise AuthenticationError("The token header's 'crit' must be a list of strings.", reason="malformed")
    return TokenHeader(alg=alg, kid=kid)


def normalized_identifier(value: str) -> str:
    """`value` as issuers and audiences are compared.

    An http(s) URL has its scheme and host lower-cased, a default port and trailing slashes dropped
    (`https://App.example.com:443/` → `https://app.example.com`); anything else is compared as is.
    """
    parts = urlsplit(value.strip())
    scheme = parts.scheme.lower()
    if scheme not in _DEFAULT_PORTS or not parts.hostname or parts.username or parts.password:
        return value
    try:
        port = parts.port
    except ValueError:
        return value
    host = parts.hostname  # urlsplit lower-cases it
    if ":" in host:
        host = f"[{host}]"
    if port is not None and port != _DEFAULT_PORTS[scheme]:
        host = f"{host}:{port}"
    normalized = f"{scheme}://{host}{parts.path.rstrip('/')}"
    if parts.query:
        normalized += f"?{parts.query}"
    return normalized


NUMERIC_DATE_CLAIMS = ("exp", "nbf", "iat")


def check_numeric_dates(claims: Mapping[str, Any]) -> None:
    """Refuse `exp`, `nbf` or `iat` that is not a JSON number (RFC 7519 §2 NumericDate).

    PyJWT reads these with `int()`, so `"1795961786"` and `true` would pass as dates; a token whose
    times are not numbers was not made by a conforming issuer.

    Raises:
        AuthenticationError: reason `malformed`.
    """
    for name in NUMERIC_DATE_CLAIMS:
        value = claims.get(name)
        if value is not None and (isinstance(value, bool) or not isinstance(value, int | float)):
            raise AuthenticationError(f"The token's '{name}' claim must be a number.", reason="malformed")


def check_issuer(claims: Mapping[str, Any], expected: str | None) -> None:
    """Refuse a token whose `iss` is not `expected` (normalised); nothing to check when None.

    Raises:
        AuthenticationError: reason `missing_claim` or `issuer` (the token's value is in `detail`).
    """
    if expected is None:
        return
    issuer = claims.get("iss")
    if issuer is None:
        raise AuthenticationError("The token lacks the required 'iss' claim.", reason="missing_claim")
    if not isinstance(issuer, str) or normalized_identifier(issuer) != normalized_identifier(expected):
        raise AuthenticationError(
            "The token was issued by an untrusted issuer.",
            reason="issuer",
            detail=f"token iss {_quoted(issuer)}, expected {_quoted(expected)}",
        )


def check_audience(claims: Mapping[str, Any], expected: str | None) -> None:
    """Refuse a token whose `aud` (a string or a list of strings) does not include `expected`.

    Raises:
        AuthenticationError: reason `missing_claim`, `malformed` or `audience`.
    """
    if expected is None:
        return
    audience = claims.get("aud")
    if audience is None or audience == "" or audience == []:
        raise AuthenticationError("The token lacks the required 'aud' claim.", reason="missing_claim")
    values = [audience] if isinstance(audience, str) else audience
    if not isinstance(values, list) or not all(isinstance(value, str) for value in values):
        raise AuthenticationError("The token's 'aud' claim is malformed.", reason="malformed")
    wanted = normalized_identifier(expected)
    if all(normalized_identifier(value) != wanted for value in values):
        raise AuthenticationError(
            "The token is meant for another audience.",
            reason="audience",
            detail=f"token aud {_quoted(audience)}, expected {_quoted(expected)}",
        )


def _quoted(value: object) -> str:
    text = repr(value)
    return text if len(text) <= MAX_LOGGED_CHARS else text[:MAX_LOGGED_CHARS] + "…"
