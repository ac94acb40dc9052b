"""Per-user API credentials encrypted at rest: AES-256-GCM with key rotation.

`CHATGATE_ENCRYPTION_KEY` holds one or more keys, comma-separated, each 32 random bytes in
url-safe base64 (`python -c "import base64,os; print(base64.urlsafe_b64encode(os.urandom(32)).decode())"`).
The first key encrypts; every key decrypts. To rotate, put a new key first and keep the old ones
until every stored credential has been re-saved (a credential read with an old key is re-encrypted
with the first key on its next use).

A sealed value is `v1.<key id>.<base64(nonce || ciphertext+tag)>`. The key id (the first 8 hex
digits of the key's SHA-256) picks the key without trying them all. The associated data binds the
ciphertext to its (user, API) pair: a row copied to another user or API fails authentication.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import os
from dataclasses import dataclass

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

_VERSION = "v1"
_NONCE_BYTES = 12
_KEY_BYTES = 32


class EncryptionKeyError(ValueError):
    """`CHATGATE_ENCRYPTION_KEY` is missing or malformed (the message never includes the key)."""


class DecryptionError(ValueError):
    """A sealed value does not open: wrong key, wrong owner, or tampered."""


@dataclass(frozen=True)
class _Key:
    key_id: str
    aead: AESGCM


class CredentialCipher:
    """Seals and opens credentials for a (user, API) pair."""

    def __init__(self, keys: list[bytes]) -> None:
        if not keys:
            raise EncryptionKeyError("CHATGATE_ENCRYPTION_KEY holds no key")
        self._keys = [_Key(key_id=_key_id(key), aead=AESGCM(key)) for key in keys]
        self._by_id = {key.key_id: key for key in reversed(self._keys)}

    @classmethod
    def from_setting(cls, value: str | None) -> CredentialCipher:
        """Parse `CHATGATE_ENCRYPTION_KEY`.

        Raises:
            EncryptionKeyError: unset, or a key that is not 32 bytes of url-safe base64.
        """
        if value is None or not value.strip():
            raise EncryptionKeyError("CHATGATE_ENCRYPTION_KEY is not set")
        keys = []
        for position, part in enumerate(value.split(","), start=1):
            text = part.strip()
            try:
                key = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
            except (binascii.Error, ValueError):
                key = b""
            if len(key) != _KEY_BYTES:
                raise EncryptionKeyError(
                    f"CHATGATE_ENCRYPTION_KEY key #{position} must be {_KEY_BYTES} bytes in url-safe base64"
                )
            keys.append(key)
        return cls(keys)

    @property
    def primary_key_id(self) -> str:
        return self._keys[0].key_id

    def seal(self, plaintext: str, *, user_id: str, api_name: str) -> str:
        key = self._keys[0]
        nonce = os.urandom(_NONCE_BYTES)
        sealed = key.aead.encrypt(nonce, plaintext.encode(), _associated_data(user_id, api_name))
        return f"{_VERSION}.{key.key_id}.{base64.urlsafe_b64encode(nonce + sealed).decode()}"

    def open(self, token: str, *, user_id: str, api_name: str) -> str:
        """The plaintext of `token`.

        Raises:
            DecryptionError: unknown format or key, or authentication failed.
        """
        try:
            version, key_id, payload = token.split(".", 2)
            raw = base64.urlsafe_b64decode(payload)
        except (ValueError, binascii.Error) as exc:
            raise DecryptionError("not a sealed credential") from exc
        key = self._by_id.get(key_id)
        if version != _VERSION or key is None or len(raw) <= _NONCE_BYTES:
            raise DecryptionError("sealed with an unknown key or format")
        try:
            plaintext = key.aead.decrypt(
                raw[:_NONCE_BYTES], raw[_NONCE_BYTES:], _associated_data(user_id, api_name)
            )
        except InvalidTag as exc:
            raise DecryptionError("the credential does not authenticate") from exc
        return plaintext.decode()

    def needs_rotation(self, token: str) -> bool:
        """True when `token` was sealed with a key other than the first."""
        return token.split(".", 2)[1:2] != [self.primary_key_id]


def _key_id(key: bytes) -> str:
    return hashlib.sha256(key).hexdigest()[:8]


def _associated_data(user_id: str, api_name: str) -> bytes:
    # JSON, not concatenation: ("ab", "c") and ("a", "bc") must not share associated data.
    return json.dumps(["chatgate-api-credential", user_id, api_name], separators=(",", ":")).encode()
