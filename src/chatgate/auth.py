"""Bearer-token verification: the only place a JWT is decoded.

Accepted: HS256 with `JWT_SECRET` (or the dev secret), and EdDSA / ES256 / RS256 with keys from a
JWKS. The algorithm is bound to the key: HS256 only with the shared secret, asymmetric algorithms
only with a JWKS key of the matching type, never `none`. `exp` is required; `iss`/`aud` are checked
when configured. The user is `sub`, else `id`, `user_id`, `userId`.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any

import jwt

from chatgate.config import Settings
from chatgate.dev_secret import DEV_ISSUER, load_or_create_dev_secret
from chatgate.errors import AuthenticationError, AuthUnavailableError
from chatgate.jwks import JWKS_ALGORITHMS, JwksCache, JwksUnavailableError, UnknownKeyError
from chatgate.principal import Principal

logger = logging.getLogger(__name__)

USER_ID_CLAIMS = ("sub", "id", "user_id", "userId")
MAX_TOKEN_CHARS = 16 * 1024
MAX_USER_ID_CHARS = 1024


@dataclass(frozen=True)
class VerifierConfig:
    """What a verifier checks, resolved from settings once at start-up."""

    hs256_secret: str | None
    jwks_url: str | None
    issuer: str | None
    audience: str | None
    leeway_seconds: float
    dev_mode: bool


def verifier_config(settings: Settings) -> VerifierConfig:
    """Resolve settings, generating the dev secret when no auth is configured outside production."""
    secret = settings.jwt_secret.get_secret_value() if settings.jwt_secret else None
    dev_mode = not settings.auth_configured
    issuer = settings.jwt_issuer
    if dev_mode:
        settings.check_servable()  # production without auth never gets here
        secret = load_or_create_dev_secret(settings.state_dir)
        issuer = issuer or DEV_ISSUER
    return VerifierConfig(
        hs256_secret=secret,
        jwks_url=settings.jwks_url,
        issuer=issuer,
        audience=settings.jwt_audience,
        leeway_seconds=settings.jwt_leeway_seconds,
        dev_mode=dev_mode,
    )


class TokenVerifier:
    """Turns a bearer token into a `Principal`, or raises `AuthenticationError`."""

    def __init__(self, config: VerifierConfig, jwks: JwksCache | None = None) -> None:
        self.config = config
        self._jwks = jwks

    @classmethod
    def from_settings(cls, settings: Settings) -> TokenVerifier:
        config = verifier_config(settings)
        jwks = (
            JwksCache(config.jwks_url, refetch_interval_seconds=settings.jwks_refetch_interval_seconds)
            if config.jwks_url
            else None
        )
        return cls(config, jwks)

    @property
    def jwks(self) -> JwksCache | None:
        """The key-set cache, when JWKS is configured (its fetch counters feed the metrics)."""
        return self._jwks

    async def aclose(self) -> None:
        if self._jwks is not None:
            await self._jwks.aclose()

    async def verify(self, token: str) -> Principal:
        """The principal a valid token names.

        Raises:
            AuthenticationError: anything wrong with the token.
            AuthUnavailableError: the JWKS could not be fetched and no keys are cached.
        """
        if not token or len(token) > MAX_TOKEN_CHARS:
            raise AuthenticationError("The bearer token is malformed.", reason="malformed")
        try:
            header = jwt.get_unverified_header(token)
        except jwt.PyJWTError:
            raise AuthenticationError("The bearer token is malformed.", reason="malformed") from None
        algorithm = header.get("alg")
        key, algorithm = await self._key_for(algorithm, header.get("kid"))
        claims = self._decode(token, key, algorithm)
        return Principal(user_id=_user_id(claims), claims=MappingProxyType(dict(claims)))

    async def _key_for(self, algorithm: object, kid: object) -> tuple[Any, str]:
        if algorithm == "HS256" and self.config.hs256_secret is not None:
            return self.config.hs256_secret, "HS256"
        if algorithm in JWKS_ALGORITHMS and self._jwks is not None:
            try:
                key_algorithm, jwk = await self._jwks.key_for(kid if isinstance(kid, str) else None)
            except UnknownKeyError:
                raise AuthenticationError(
                    "The token is signed with an unknown key.", reason="unknown_key"
                ) from None
            except JwksUnavailableError:
                raise AuthUnavailableError() from None
            # The key decides the algorithm; a token claiming another one is refused.
            if key_algorithm != algorithm:
                raise AuthenticationError("The token's algorithm does not match its key.", reason="algorithm")
            return jwk.key, key_algorithm
        raise AuthenticationError("The token's signing algorithm is not accepted.", reason="algorithm")

    def _decode(self, token: str, key: Any, algorithm: str) -> Mapping[str, Any]:
        try:
            return jwt.decode(
                token,
                key,
                algorithms=[algorithm],
                issuer=self.config.issuer,
                audience=self.config.audience,
                leeway=self.config.leeway_seconds,
                options={"require": ["exp"], "verify_aud": self.config.audience is not None},
            )
        except jwt.ExpiredSignatureError:
            raise AuthenticationError("The token has expired.", reason="expired") from None
        except jwt.ImmatureSignatureError:
            raise AuthenticationError("The token is not valid yet.", reason="not_yet_valid") from None
        except jwt.InvalidIssuerError:
            raise AuthenticationError(
                "The token was issued by an untrusted issuer.", reason="issuer"
            ) from None
        except jwt.InvalidAudienceError:
            raise AuthenticationError("The token is meant for another audience.", reason="audience") from None
        except jwt.MissingRequiredClaimError as exc:
            raise AuthenticationError(
                f"The token lacks the required '{exc.claim}' claim.", reason="missing_claim"
            ) from None
        except jwt.PyJWTError:
            raise AuthenticationError("The token's signature is invalid.", reason="bad_signature") from None


def _user_id(claims: Mapping[str, Any]) -> str:
    for name in USER_ID_CLAIMS:
        value = claims.get(name)
        if isinstance(value, int) and not isinstance(value, bool):
            value = str(value)
        if isinstance(value, str) and value:
            # The id crosses a process boundary in the environment: it must be one printable line.
            if len(value) > MAX_USER_ID_CHARS or not value.isprintable():
                raise AuthenticationError("The token's user id is not acceptable.", reason="user_id")
            return value
    raise AuthenticationError("The token names no user (sub, id, user_id or userId).", reason="user_id")


def bearer_token(authorization: str | None) -> str:
    """The token of an `Authorization: Bearer …` header.

    Raises:
        AuthenticationError: missing header (`missing_token`) or another scheme.
    """
    if not authorization:
        raise AuthenticationError("Send an Authorization: Bearer <token> header.", code="missing_token")
    scheme, _, token = authorization.strip().partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise AuthenticationError("The Authorization header must use the Bearer scheme.", reason="scheme")
    return token.strip()
