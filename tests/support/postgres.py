"""Where the PostgreSQL tests find a server: `CHATGATE_TEST_POSTGRES_URL`, else this machine's default."""

from __future__ import annotations

import os

DEFAULT_POSTGRES_URL = "postgresql://postgres@127.0.0.1:5432/test"


def postgres_admin_url() -> str:
    return os.environ.get("CHATGATE_TEST_POSTGRES_URL") or DEFAULT_POSTGRES_URL
