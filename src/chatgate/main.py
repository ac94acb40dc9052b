"""The ASGI application: `uvicorn chatgate.main:app` (or `chatgate serve`)."""

from __future__ import annotations

import datetime
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import jsonschema  # noqa: F401 - imported now: the MCP client imports it lazily, blocking the loop
from fastapi import FastAPI
from fastapi.middleware.cors import CORSMiddleware

from chatgate import __version__
from chatgate.admission import Admission
from chatgate.agents import ModelProvider, model_provider_from_settings, set_tracing
from chatgate.api.error_handlers import install_error_handlers
from chatgate.api.middleware import BodyLimitMiddleware, RequestContextMiddleware
from chatgate.api.routes import chat, conversations, credentials, health, tools
from chatgate.api.services import Services
from chatgate.apis.service import ApiService
from chatgate.auth import TokenVerifier
from chatgate.chat import ChatService
from chatgate.config import Settings, get_settings
from chatgate.conversations.history import prepare_engine
from chatgate.conversations.store import ConversationStore
from chatgate.launcher import create_launcher
from chatgate.observability import configure_logging
from chatgate.readiness import ReadinessProbe
from chatgate.sandbox.service import assess as assess_containment
from chatgate.sandbox.service import log_containment
from chatgate.storage.engine import create_engine, is_postgres
from chatgate.storage.identity import preload_signer
from chatgate.storage.migrate import upgrade_database


def create_app(settings: Settings | None = None, *, model_provider: ModelProvider | None = None) -> FastAPI:
    """Build the app. `model_provider` overrides the configured model (tests, benchmarks)."""
    settings = settings or get_settings()
    settings.check_servable()
    configure_logging(settings.log_level)
    set_tracing(settings)
    settings.state_dir.mkdir(parents=True, exist_ok=True)
    containment = assess_containment(settings)  # raises with MCP_SANDBOX=required and something missing

    launcher = create_launcher(settings)
    verifier = TokenVerifier.from_settings(settings)
    configured_model = None if model_provider else model_provider_from_settings(settings)
    engine = create_engine(settings.resolved_database_url)
    prepare_engine(engine)
    apis = ApiService.from_settings(settings, engine)
    chat_service = ChatService(
        settings=settings,
        launcher=launcher,
        admission=Admission(settings.max_concurrent_sessions, settings.admission_wait_seconds),
        model_provider=model_provider or configured_model,
        engine=engine,
        conversations=ConversationStore(
            engine, stale_after=datetime.timedelta(seconds=settings.chat_timeout_seconds + 60)
        ),
        launch_environment=apis.child_environment,
    )
    services = Services(
        settings=settings,
        verifier=verifier,
        chat=chat_service,
        readiness=ReadinessProbe(launcher, chat_service.admission),
        apis=apis,
        sandbox_level=containment.level,
    )

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        if settings.database_url is None:
            # The embedded default migrates itself; PostgreSQL is migrated by `chatgate db upgrade`.
            await upgrade_database(settings.resolved_database_url)
        log_containment(containment)
        if is_postgres(engine):
            # Tool servers get an identity signed with the database's key; without it (not migrated
            # yet) they present none and row-level security shows them nothing.
            await preload_signer(engine)
        await launcher.start()
        try:
            yield
        finally:
            await launcher.stop()
            await verifier.aclose()
            await engine.dispose()
            if configured_model is not None:
                await configured_model.aclose()

    app = FastAPI(title="chatgate", version=__version__, lifespan=lifespan)
    app.state.services = services
    app.include_router(health.router)
    app.include_router(chat.router)
    app.include_router(tools.router)
    app.include_router(conversations.router)
    app.include_router(credentials.router)
    install_error_handlers(app)
    # The last added is the outermost: CORS wraps everything (errors included get CORS headers), then
    # the request context, so even a 413 or a 500 gets a request id and a log line.
    app.add_middleware(BodyLimitMiddleware, max_bytes=settings.max_request_bytes)
    app.add_middleware(RequestContextMiddleware)
    if settings.cors_origins:
        app.add_middleware(
            CORSMiddleware,
            allow_origins=settings.cors_origins,
            allow_methods=["GET", "PUT", "POST", "DELETE"],
            allow_headers=["authorization", "content-type", "x-request-id", "accept"],
            expose_headers=["x-request-id", "x-conversation-id"],
        )
    return app


def __getattr__(name: str) -> FastAPI:
    # `uvicorn chatgate.main:app` builds the app on first access, so importing this module
    # (tests, the CLI) does not read the environment or touch the state directory.
    if name == "app":
        application = create_app()
        globals()["app"] = application
        return application
    raise AttributeError(name)
