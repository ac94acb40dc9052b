"""The compiled API catalog: every configured API with its operation specs, as one JSON file.

The API process builds it once at start-up (`chatgate.http_apis.openapi_documents.compile_catalog` reads
`CHATGATE_CONFIG` and fetches and parses each OpenAPI document) and writes it to the state
directory; every tool server reads that file instead of repeating the work. A child therefore never
fetches a document, imports an OpenAPI parser, or sees an API the parent did not validate.
"""

from __future__ import annotations

import json
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from chatgate.http_apis.config import ApiConfig
from chatgate.http_apis.operations import OperationSpec
from chatgate.tool_config import ToolConfigError

CATALOG_VERSION = 2  # 2: parameter styles, form and multipart bodies


@dataclass(frozen=True)
class CompiledApi:
    config: ApiConfig
    operations: tuple[OperationSpec, ...]


@dataclass(frozen=True)
class ApiCatalog:
    apis: tuple[CompiledApi, ...] = ()

    def get(self, name: str) -> CompiledApi | None:
        return next((api for api in self.apis if api.config.name == name), None)

    @property
    def user_credential_apis(self) -> tuple[str, ...]:
        """Names of the APIs that call upstream with each user's own credential."""
        return tuple(api.config.name for api in self.apis if api.config.auth == "user")

    @property
    def service_secret_envs(self) -> dict[str, str]:
        """API name → the environment variable holding its service secret."""
        return {api.config.name: api.config.secret_env for api in self.apis if api.config.secret_env}

    def to_json(self) -> dict[str, Any]:
        """The catalog file's content: `{"version": int, "apis": [{"config": ApiConfig as JSON,
        "operations": [OperationSpec.to_json()]}]}` (no secrets: only the names of their variables)."""
        return {
            "version": CATALOG_VERSION,
            "apis": [
                {
                    "config": api.config.model_dump(mode="json"),
                    "operations": [op.to_json() for op in api.operations],
                }
                for api in self.apis
            ],
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> ApiCatalog:
        if data.get("version") != CATALOG_VERSION:
            raise ToolConfigError("the API catalog was written by another version; restart the service")
        return cls(
            apis=tuple(
                CompiledApi(
                    config=ApiConfig.model_validate(entry["config"]),
                    operations=tuple(OperationSpec.from_json(op) for op in entry["operations"]),
                )
                for entry in data["apis"]
            )
        )


def write_catalog(catalog: ApiCatalog, path: Path) -> None:
    """Write atomically (a child reading mid-write sees the old file or the new one, never half)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, temporary = tempfile.mkstemp(dir=path.parent, prefix=".catalog-", suffix=".json")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            json.dump(catalog.to_json(), handle, separators=(",", ":"))
        Path(temporary).replace(path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def read_catalog(path: Path | None) -> ApiCatalog:
    """The catalog at `path`; empty when no path is given.

    Raises:
        ToolConfigError: the file is missing or unreadable.
    """
    if path is None:
        return ApiCatalog()
    try:
        with path.open(encoding="utf-8") as handle:
            return ApiCatalog.from_json(json.load(handle))
    except (OSError, json.JSONDecodeError, KeyError, TypeError) as exc:
        raise ToolConfigError(f"the API catalog {path} cannot be read") from exc
