"""Bearer-token verification: the only place a JWT is decoded.

Accepted: HS256 with `JWT_SECRET` (or the dev secret), and EdDSA / ES256 / RS256 with keys from a
JWKS. The algorithm is bound to the key: HS256 only with the shared secret, asymmetric algorithms
only with a JWKS key of the matching type, never `none`. The header is type-checked before use
(`token_checks`). `exp` is required; `iss`/`aud` are checked when configured, compared normalised.
The user is `sub`, else `id`, `user_id`, `userId`. Every refusal is logged with its reason.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any

import jwt

from chatgate.auth.dev_secret import DEV_ISSUER, load_or_create_dev_secret
from chatgate.auth.jwks import (
    JWKS_ALGORITHMS,
    JwksCache,
    JwksUnavailableError,
    RefetchDeferredError,
    UnknownKeyError,
    loggable_url,
)
from chatgate.auth.principal import Principal
from chatgate.config import Settings
from chatgate.errors import AuthenticationError, AuthUnavailableError, MissingTokenError
from chatgate.spawn import MAX_USER_ID_CHARS
from chatgate.token_checks import (
    TokenHeader,
    check_audience,
    check_issuer,
    check_numeric_dates,
    parse_header,
)

logger = logging.getLogger(__name__)

USER_ID_CLAIMS = ("sub", "id", "user_id", "userId")
MAX_TOKEN_CHARS = 16 * 1024


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

    def log_configuration(self) -> None:
        """One start-up line saying what tokens are accepted: enough to diagnose a mismatch."""
        algorithms = (["HS256"] if self.config.hs256_secret is not None else []) + (
            sorted(JWKS_ALGORITHMS) if self.config.jwks_url else []
        )
        logger.info(
            "auth configured",
            extra={
                "fields": {
                    "event": "auth_configured",
                    "mode": "dev" if self.config.dev_mode else "jwks" if self.config.jwks_url else "hs256",
                    "jwks_url": loggable_url(self.config.jwks_url) if self.config.jwks_url else None,
                    "issuer": self.config.issuer,
                    "audience": self.config.audience,
                    "algorithms": algorithms,
                }
            },
        )

    async def warm_up(self) -> None:
        """Fetch the JWKS once at start-up (failures are logged with URL and status, not raised)."""
        if self._jwks is not None:
            await self._jwks.warm_up()

    async def aclose(self) -> None:
        if self._jwks is not None:
            await self._jwks.aclose()

    async def verify(self, token: str) -> Principal:
        """The principal a valid token names.

        Every refusal is logged with its reason (never the token).

        Raises:
            AuthenticationError: anything wrong with the token.
            AuthUnavailableError: the token cannot be checked now (the JWKS is unreachable, or a
                refetch that may find its new key is not allowed yet); carries `Retry-After`.
        """
        header: TokenHeader | None = None
        try:
            if not token or len(token) > MAX_TOKEN_CHARS:
                raise AuthenticationError("The bearer token is malformed.", reason="malformed")
            header = parse_header(token)
            key, algorithm = await self._key_for(header)
            claims = self._decode(token, key, algorithm)
            return Principal(user_id=_user_id(claims), claims=MappingProxyType(dict(claims)))
        except AuthenticationError as exc:
            log_refusal(exc, header)
            raise

    async def _key_for(self, header: TokenHeader) -> tuple[Any, str]:
        if header.alg == "HS256" and self.config.hs256_secret is not None:
            return self.config.hs256_secret, "HS256"
        if header.alg in JWKS_ALGORITHMS and self._jwks is not None:
            try:
                key_algorithm, jwk = await self._jwks.key_for(header.kid)
            except UnknownKeyError:
                raise AuthenticationError(
                    "The token is signed with an unknown key.", reason="unknown_key"
                ) from None
            except JwksUnavailableError as exc:
                logger.warning(
                    "token not checked: signing keys unavailable",
                    extra={
                        "fields": {
                            "event": "auth_unavailable",
                            "kid": header.kid,
                            "retry_after_s": exc.retry_after_seconds,
                        }
                    },
                )
                message = (
                    f"The token names a signing key not fetched yet; retry in {exc.retry_after_seconds} s."
                    if isinstance(exc, RefetchDeferredError)
                    else None
                )
                raise AuthUnavailableError(message, retry_after_seconds=exc.retry_after_seconds) from None
            # The key decides the algorithm; a token claiming another one is refused.
            if key_algorithm != header.alg:
                raise AuthenticationError("The token's algorithm does not match its key.", reason="algorithm")
            return jwk.key, key_algorithm
        raise AuthenticationError("The token's signing algorithm is not accepted.", reason="algorithm")

    def _decode(self, token: str, key: Any, algorithm: str) -> Mapping[str, Any]:
        try:
            claims: Mapping[str, Any] = jwt.decode(
                token,
                key,
                algorithms=[algorithm],
                leeway=self.config.leeway_seconds,
                # Issuer and audience are compared below, normalised (PyJWT compares exact strings).
                options={"require": ["exp"], "verify_aud": False, "verify_iss": False},
            )
        except jwt.ExpiredSignatureError:
            raise AuthenticationError("The token has expired.", reason="expired") from None
        except jwt.ImmatureSignatureError:
            raise AuthenticationError("The token is not valid yet.", reason="not_yet_valid") from None
        except jwt.MissingRequiredClaimError as exc:
            raise AuthenticationError(
                f"The token lacks the required '{exc.claim}' claim.", reason="missing_claim"
            ) from None
        except jwt.InvalidSignatureError:
            raise AuthenticationError("The token's signature is invalid.", reason="signature") from None
        except jwt.InvalidAlgorithmError:
            raise AuthenticationError(
                "The token's signing algorithm is not accepted.", reason="algorithm"
            ) from None
        except jwt.PyJWTError:
            # Claims of the wrong type (a string `exp`, a list `sub`), an undecodable payload.
            raise AuthenticationError("The token's claims are malformed.", reason="malformed") from None
        check_numeric_dates(claims)
        check_issuer(claims, self.config.issuer)
        check_audience(claims, self.config.audience)
        return claims


def log_refusal(exc: AuthenticationError, header: TokenHeader | None = None) -> None:
    """The 401's log line: why, and which key and algorithm the token named; never the token."""
    fields: dict[str, Any] = {"event": "auth_refused", "reason": exc.reason}
    if header is not None:
        fields.update(alg=header.alg, kid=header.kid)
    if exc.detail:
        fields["detail"] = exc.detail
    logger.info("token refused: %s", exc.reason, extra={"fields": fields})


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


def bearer_token(authorization: str | Sequence[str] | None) -> str:
    """The token of an `Authorization: Bearer …` header (`authorization`: its value, or every value
    the request carries).

    Raises:
        MissingTokenError: no header (`missing_token`).
        AuthenticationError: another scheme, or more than one header (which one counts would be
            ambiguous: a proxy may have checked the other).
    """
    error: AuthenticationError
    if not isinstance(authorization, str) and authorization is not None:
        if len(authorization) > 1:
            error = AuthenticationError("Send exactly one Authorization header.", reason="scheme")
            log_refusal(error)
            raise error
        authorization = authorization[0] if authorization else None
    if not authorization:
        error = MissingTokenError("Send an Authorization: Bearer <token> header.", reason="missing_token")
        log_refusal(error)
        raise error
    scheme, _, token = authorization.strip().partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        error = AuthenticationError("The Authorization header must use the Bearer scheme.", reason="scheme")
        log_refusal(error)
        raise error
    return token.strip()
