"""The ASGI application: `uvicorn chatgate.main:app` (or `chatgate serve`)."""

from __future__ import annotations

import asyncio
import datetime
import logging
import sys
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager

import jsonschema  # noqa: F401 - imported now: the MCP client imports it lazily, blocking the loop
from fastapi import FastAPI

from chatgate import __version__
from chatgate.agents import ModelProvider, agent_team_from_settings, model_provider_from_settings, set_tracing
from chatgate.api.cors import ChatgateCORSMiddleware
from chatgate.api.error_handlers import error_code_of, install_error_handlers
from chatgate.api.middleware import (
    BodyLimitMiddleware,
    RequestContextMiddleware,
    SchemaGateMiddleware,
    StartupErrorMiddleware,
)
from chatgate.api.routes import (
    chat,
    chat_resume,
    conversations,
    credentials,
    files,
    health,
    metrics,
    playground,
    tools,
)
from chatgate.api.services import Services
from chatgate.approvals.store import ApprovalStore
from chatgate.auth.verify import TokenVerifier
from chatgate.chat import ChatService
from chatgate.config import Settings, get_settings
from chatgate.config_errors import ConfigError
from chatgate.conversations.history import prepare_engine
from chatgate.conversations.instance_lease import InstanceLease
from chatgate.conversations.store import ConversationStore
from chatgate.drain import CANCEL_SETTLE_SECONDS, Drain
from chatgate.http_apis.parent import ApiService
from chatgate.intake import ChatIntake
from chatgate.launcher import create_launcher
from chatgate.limits import create_rate_limiter
from chatgate.mcp_servers import OperatorMcpServers
from chatgate.observability import configure_logging
from chatgate.readiness import ReadinessProbe
from chatgate.sandbox.service import assess as assess_containment
from chatgate.sandbox.service import log_containment
from chatgate.schema_gate import SchemaGate
from chatgate.storage.engine import DatabaseConfigError, create_engine, is_postgres
from chatgate.storage.identity import preload_signer
from chatgate.storage.tables import load_table_specs
from chatgate.streaming.run_buffer import create_run_buffer
from chatgate.telemetry import Metrics, Telemetry
from chatgate.telemetry.exposition import start_metrics_listener
from chatgate.telemetry.launcher import ObservedAdmission, ObservedLauncher
from chatgate.telemetry.model import observed_provider
from chatgate.telemetry.tracing import Tracing, TracingMiddleware
from chatgate.tool_config import ToolConfigError, load_tool_config
from chatgate.toolsets.loader import add_import_paths, toolset_entries

logger = logging.getLogger(__name__)


def create_app(
    settings: Settings | None = None,
    *,
    model_provider: ModelProvider | None = None,
    tracing: Tracing | None = None,
    drain: Drain | None = None,
) -> FastAPI:
    """Build the app. `model_provider` overrides the configured model (tests, benchmarks), `tracing`
    the configured span export (tests), `drain` is shared with the server that runs the app
    (`chatgate serve` drains on SIGTERM).

    Raises:
        ConfigError: the configuration cannot be served (one line naming the setting and the fix).
    """
    settings = settings or get_settings()
    with startup_config_errors(settings):
        settings.check_servable()
        configure_logging(settings.log_level)
        set_tracing(settings)
        settings.state_dir.mkdir(parents=True, exist_ok=True)
        containment = assess_containment(settings)  # raises with MCP_SANDBOX=required and something missing
        engine = create_engine(
            settings.resolved_database_url,
            pool_size=settings.database_pool_size,
            max_overflow=settings.database_max_overflow,
            # Many chats arriving at once queue for a connection (on SQLite, for the one writer): a
            # brief database turn is worth waiting for within the chat's own deadline.
            pool_timeout=settings.chat_timeout_seconds,
        )
        # The tool servers load `[[tables]]` themselves; checking them here makes a mistake a
        # start-up error instead of a tool server (or the fork template) failing to start. As there,
        # the toolsets' folders come first on the import path: the models may live in them.
        tool_config = load_tool_config(settings.config_file)
        config_dir = settings.config_file.parent if settings.config_file else None
        add_import_paths(toolset_entries(tool_config, base_dir=config_dir))
        load_table_specs(tool_config)
        apis = ApiService.from_settings(settings, engine)
        # After the API catalog is written: the agents' tool allowlists are checked against every tool.
        agents = agent_team_from_settings(settings)
        operator_mcp = OperatorMcpServers.from_config_file(
            settings.config_file,
            credential_apis=apis.catalog.user_credential_apis,
            credentials=apis.user_credentials,
        )
        verifier = TokenVerifier.from_settings(settings)
    verifier.log_configuration()
    telemetry = Telemetry(
        metrics=Metrics() if settings.metrics_enabled else None,
        tracing=tracing or Tracing.from_settings(settings),
    )
    launcher = ObservedLauncher(create_launcher(settings), telemetry)
    configured_model = None if model_provider else model_provider_from_settings(settings)
    provider = model_provider or configured_model
    prepare_engine(engine)
    schema = SchemaGate(settings.resolved_database_url)
    lease = InstanceLease(engine, lease_seconds=settings.instance_lease_seconds)
    chat_service = ChatService(
        settings=settings,
        launcher=launcher,
        admission=ObservedAdmission(
            settings.max_concurrent_sessions, settings.admission_wait_seconds, telemetry
        ),
        model_provider=observed_provider(provider, telemetry) if provider is not None else None,
        engine=engine,
        conversations=ConversationStore(
            engine, stale_after=datetime.timedelta(seconds=settings.chat_timeout_seconds + 60), lease=lease
        ),
        launch_environment=apis.api_environment,
        agents=agents,
        operator_mcp=operator_mcp,
        telemetry=telemetry,
        approvals=ApprovalStore(engine, ttl=datetime.timedelta(seconds=settings.approval_ttl_seconds)),
    )
    drain = drain or Drain()
    limiter = create_rate_limiter(settings, telemetry.metrics)
    run_buffer = create_run_buffer(settings)
    if telemetry.metrics is not None:
        jwks = verifier.jwks
        telemetry.metrics.watch_jwks(lambda: (jwks.fetch_count, jwks.fetch_failures) if jwks else None)
    services = Services(
        settings=settings,
        verifier=verifier,
        chat=chat_service,
        readiness=ReadinessProbe(launcher, chat_service.admission, schema=schema),
        intake=ChatIntake(drain, limiter, telemetry.metrics, error_code_of),
        telemetry=telemetry,
        run_buffer=run_buffer,
        apis=apis,
        sandbox_level=containment.level,
    )
    if settings.metrics_enabled and settings.metrics_port is None and not settings.metrics_on_api_port:
        logger.warning(
            "/metrics is off: in production set METRICS_PORT (a separate listener) or METRICS_TOKEN"
        )

    async def close_resources() -> None:
        await verifier.aclose()
        await limiter.aclose()
        await run_buffer.aclose()
        await engine.dispose()
        telemetry.tracing.shutdown()
        if configured_model is not None:
            await configured_model.aclose()

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        try:
            # SQLite is always migrated; PostgreSQL with CHATGATE_AUTO_MIGRATE, else checked.
            await schema.prepare(migrate=settings.auto_migrate)
            log_containment(containment)
            if is_postgres(engine):
                # Tool servers get an identity signed with the database's key; without it (not
                # migrated yet) they present none and row-level security shows them nothing.
                await preload_signer(engine)
            # Renewed from before the first chat on: this instance's claims block their
            # conversations only while it lives.
            await lease.try_renew()
            await launcher.start()
        except BaseException:
            await close_resources()
            raise
        keep_lease = asyncio.create_task(lease.keep())
        warm_up = asyncio.create_task(verifier.warm_up())
        listener = start_metrics_listener(settings, telemetry.metrics)
        try:
            yield
        finally:
            # Under `chatgate serve` the drain already ran on SIGTERM; under a bare server, chats still
            # running now are cancelled (and recorded interrupted) before their tool servers go.
            drain.begin()
            if drain.cancel_all():
                await drain.wait_idle(CANCEL_SETTLE_SECONDS)
            warm_up.cancel()
            keep_lease.cancel()
            await asyncio.gather(warm_up, keep_lease, return_exceptions=True)
            await lease.release()  # after the runs were recorded: any claim still left is free now
            if listener is not None:
                listener.stop()
            await launcher.stop()
            await close_resources()

    app = FastAPI(title="chatgate", version=__version__, lifespan=lifespan)
    app.state.services = services
    app.state.startup_errors = []
    app.include_router(health.router)
    app.include_router(metrics.router)
    app.include_router(chat.router)
    app.include_router(chat_resume.router)
    app.include_router(tools.router)
    app.include_router(conversations.router)
    app.include_router(credentials.router)
    app.include_router(files.router)
    if settings.playground_enabled:
        app.include_router(playground.page_router)
        if verifier.config.dev_mode:  # tokens signed with the generated dev secret: dev only
            app.include_router(playground.dev_router)
    install_error_handlers(app)
    # The last added is the outermost: CORS wraps everything (errors included get CORS headers), then
    # the request context, so even a 413, a 500 or a schema refusal gets a request id and a log line.
    # The start-up error reporter sees only the lifespan.
    app.add_middleware(SchemaGateMiddleware, gate=schema)
    app.add_middleware(
        BodyLimitMiddleware, max_bytes=settings.max_request_bytes, upload_prefixes=(f"{files.PREFIX}/",)
    )
    # Inside the request context: the request span carries the request id.
    app.add_middleware(TracingMiddleware, tracing=telemetry.tracing)
    app.add_middleware(RequestContextMiddleware)
    if settings.cors_origins:
        app.add_middleware(ChatgateCORSMiddleware, origins=settings.cors_origins)
    app.add_middleware(StartupErrorMiddleware, errors=app.state.startup_errors)
    return app


@contextmanager
def startup_config_errors(settings: Settings) -> Iterator[None]:
    """Operator mistakes found while the app is built, translated where they enter into one
    `ConfigError` that names the setting: `CHATGATE_CONFIG` (tables, APIs and their documents) or
    `DATABASE_URL`."""
    try:
        yield
    except ConfigError:
        raise
    except ToolConfigError as exc:
        where = f"CHATGATE_CONFIG ({settings.config_file})" if settings.config_file else "CHATGATE_CONFIG"
        raise ConfigError(f"{where}: {exc} (fix the file and start again)") from None
    except DatabaseConfigError as exc:
        raise ConfigError(f"{exc}; use sqlite+aiosqlite:///PATH or postgresql+asyncpg://…") from None


def __getattr__(name: str) -> FastAPI:
    # `uvicorn chatgate.main:app` builds the app on first access, so importing this module
    # (tests, the CLI) does not read the environment or touch the state directory.
    if name == "app":
        try:
            application = create_app()
        except ConfigError as exc:
            # `uvicorn chatgate.main:app`: one line and status 2, as `chatgate serve` does.
            sys.stderr.write(f"chatgate: {exc}\n")
            raise SystemExit(2) from None
        globals()["app"] = application
        return application
    raise AttributeError(name)
