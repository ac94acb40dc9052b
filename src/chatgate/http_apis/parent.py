"""The API process's side of the API tools: the compiled catalog, users' credentials, the handoff.

Built once at start-up. It compiles `[[apis]]` into the catalog file every tool server reads,
serves the credential routes, and, right before a tool server is launched for a user, decrypts
that user's own credentials (and no one else's) for that one process's environment.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncEngine

from chatgate import spawn as child
from chatgate.auth.principal import Principal
from chatgate.config import Settings
from chatgate.errors import EncryptionUnavailableError, InvalidRequestError, NotFoundError
from chatgate.http_apis.catalog import ApiCatalog, write_catalog
from chatgate.http_apis.credential_store import CredentialStore
from chatgate.http_apis.crypto import CredentialCipher, EncryptionKeyError
from chatgate.http_apis.openapi_documents import compile_catalog
from chatgate.storage import DatabaseUnavailableError
from chatgate.tool_config import load_tool_config

logger = logging.getLogger(__name__)

MAX_CREDENTIAL_CHARS = 8192


@dataclass(frozen=True)
class ConnectedApiView:
    api_name: str
    connected: bool
    updated_at: datetime | None


class ApiService:
    """Catalog, credential store and child handoff for the configured APIs."""

    def __init__(
        self,
        catalog: ApiCatalog,
        *,
        store: CredentialStore | None = None,
        service_secrets: dict[str, str] | None = None,
    ) -> None:
        """`store` is None when per-user credentials are unavailable (no usable encryption key)."""
        self.catalog = catalog
        self._store = store
        self._service_secrets = service_secrets or {}

    @classmethod
    def from_settings(cls, settings: Settings, engine: AsyncEngine) -> ApiService:
        """Compile the catalog and write it where tool servers read it.

        `engine` is the app's service database (migrated by the app; credentials live in
        `api_credentials`, migration 0003). It is used, never disposed, here.

        Raises:
            ToolConfigError: `[[apis]]` or one of its documents is invalid (start-up refuses).
        """
        config_file = settings.config_file
        catalog = compile_catalog(
            load_tool_config(config_file), base_dir=config_file.resolve().parent if config_file else None
        )
        path = settings.apis_catalog_path
        if not catalog.apis:
            path.unlink(missing_ok=True)  # a catalog left by an earlier configuration must not be served
            return cls(catalog)
        write_catalog(catalog, path)
        secrets: dict[str, str] = {}
        for name, variable in catalog.service_secret_envs.items():
            value = os.environ.get(variable)
            if value:
                secrets[name] = value
            else:
                logger.warning(
                    "api %s: service secret variable %s is not set; its calls will fail", name, variable
                )
        store: CredentialStore | None = None
        if catalog.user_credential_apis:
            try:
                cipher = CredentialCipher.from_setting(
                    settings.encryption_key.get_secret_value() if settings.encryption_key else None
                )
            except EncryptionKeyError as exc:
                logger.warning("per-user API credentials disabled: %s", exc)
            else:
                store = CredentialStore(engine, cipher)
        return cls(catalog, store=store, service_secrets=secrets)

    # Credential routes -----------------------------------------------------------------------

    def _user_api(self, api_name: str) -> str:
        api = self.catalog.get(api_name)
        if api is None:
            raise NotFoundError(f"No API named {api_name!r} is configured.")
        if api.config.auth != "user":
            raise InvalidRequestError(f"The {api_name} API does not use per-user credentials.")
        return api.config.name

    def _store_or_503(self) -> CredentialStore:
        if self._store is None:
            raise EncryptionUnavailableError()
        return self._store

    async def connect(self, principal: Principal, api_name: str, token: str) -> None:
        name = self._user_api(api_name)
        await self._store_or_503().put(principal.user_id, name, token)

    async def disconnect(self, principal: Principal, api_name: str) -> None:
        name = self._user_api(api_name)
        if not await self._store_or_503().delete(principal.user_id, name):
            raise NotFoundError(f"You have not connected the {name} API.")

    async def connections(self, principal: Principal) -> list[ConnectedApiView]:
        names = self.catalog.user_credential_apis
        if not names:
            return []
        connected = await self._store_or_503().connected(principal.user_id)
        stored = {item.api_name: item for item in connected}
        return [
            ConnectedApiView(
                api_name=name,
                connected=name in stored,
                updated_at=stored[name].updated_at if name in stored else None,
            )
            for name in names
        ]

    async def user_credentials(self, principal: Principal, api_names: Collection[str]) -> dict[str, str]:
        """`principal`'s own stored credentials for `api_names`, decrypted (missing ones left out).

        For operator MCP servers' `{credential:…}` placeholders. Empty when per-user credentials are
        unavailable; a database outage is logged and yields none (the chat goes on without them).
        """
        if self._store is None or not api_names:
            return {}
        try:
            return await self._store.open_for(principal.user_id, tuple(api_names))
        except DatabaseUnavailableError as exc:
            logger.warning("api credentials unavailable for this session: %s", type(exc).__name__)
            return {}

    # Handoff to the tool server --------------------------------------------------------------

    async def api_environment(self, principal: Principal) -> dict[str, str]:
        """The secret API variables of one tool server bound to `principal`: the operator's service
        secrets and that user's own credentials, never another user's. (The catalog path is not
        secret and travels in every child's environment: `launcher.environment`.)"""
        if not self.catalog.apis:
            return {}
        env: dict[str, str] = {}
        if self._service_secrets:
            env[child.ENV_API_SERVICE_SECRETS] = json.dumps(self._service_secrets)
        if self._store is not None:
            # Present (maybe `{}`) means "the store works"; absent makes `user` API calls say so.
            try:
                opened = await self._store.open_for(principal.user_id, self.catalog.user_credential_apis)
            except DatabaseUnavailableError as exc:
                # A chat that never calls a `user` API must not fail because the store is down.
                logger.warning("api credentials unavailable for this session: %s", type(exc).__name__)
            else:
                env[child.ENV_API_USER_CREDENTIALS] = json.dumps(opened)
        return env
