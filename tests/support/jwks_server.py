"""A JWKS endpoint on loopback with keys the test controls (rotation included)."""

from __future__ import annotations

import json
import time
from typing import Any

import jwt
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from jwt.algorithms import ECAlgorithm, OKPAlgorithm, RSAAlgorithm
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

PrivateKey = ed25519.Ed25519PrivateKey | rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey


def new_key(algorithm: str) -> PrivateKey:
    if algorithm == "EdDSA":
        return ed25519.Ed25519PrivateKey.generate()
    if algorithm == "RS256":
        return rsa.generate_private_key(public_exponent=65537, key_size=2048)
    if algorithm == "ES256":
        return ec.generate_private_key(ec.SECP256R1())
    raise ValueError(algorithm)


def public_jwk(key: PrivateKey, kid: str) -> dict[str, Any]:
    public = key.public_key()
    if isinstance(public, ed25519.Ed25519PublicKey):
        raw = OKPAlgorithm.to_jwk(public)
    elif isinstance(public, rsa.RSAPublicKey):
        raw = RSAAlgorithm.to_jwk(public)
    else:
        raw = ECAlgorithm.to_jwk(public)
    jwk: dict[str, Any] = json.loads(raw)
    jwk.update({"kid": kid, "use": "sig"})
    return jwk


class JwksServer:
    """Serves `/jwks`; `add(algorithm)` publishes a new key and returns its kid."""

    def __init__(self) -> None:
        self.keys: dict[str, tuple[str, PrivateKey]] = {}
        self.hits = 0
        self.app = Starlette(routes=[Route("/jwks", self._jwks)])

    async def _jwks(self, _: Request) -> JSONResponse:
        self.hits += 1
        return JSONResponse({"keys": [public_jwk(key, kid) for kid, (_, key) in self.keys.items()]})

    def add(self, algorithm: str, kid: str | None = None) -> str:
        kid = kid or f"{algorithm.lower()}-{len(self.keys)}"
        self.keys[kid] = (algorithm, new_key(algorithm))
        return kid

    def sign(self, kid: str, claims: dict[str, Any] | None = None, *, ttl: int = 3600, **header: Any) -> str:
        algorithm, key = self.keys[kid]
        now = int(time.time())
        payload = {"sub": "alice", "iat": now, "exp": now + ttl, **(claims or {})}
        return jwt.encode(payload, key, algorithm=algorithm, headers={"kid": kid, **header})
