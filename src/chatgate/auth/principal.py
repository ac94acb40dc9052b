"""The verified caller of a request."""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

from chatgate.spawn import PASSED_CLAIMS


@dataclass(frozen=True)
class Principal:
    """Who a verified token says the caller is. Built only by `chatgate.auth.verify`."""

    user_id: str
    claims: Mapping[str, Any] = field(default_factory=lambda: MappingProxyType({}))

    @property
    def user_hash(self) -> str:
        """A short, stable pseudonym for logs: correlates requests without writing the user id."""
        return hashlib.sha256(self.user_id.encode()).hexdigest()[:16]

    def profile_claims(self) -> dict[str, str]:
        """The non-sensitive claims a tool server may see (for `whoami`)."""
        return {key: value for key in PASSED_CLAIMS if isinstance(value := self.claims.get(key), str)}
