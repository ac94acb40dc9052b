"""The `chatgate` command: `serve`, `token` and `db`."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from chatgate.auth.dev_secret import DEV_ISSUER, load_or_create_dev_secret, mint_token
from chatgate.config import Settings, get_settings
from chatgate.config_errors import ConfigError
from chatgate.storage.cli import add_db_commands

DEV_USER = "dev-user"


def _out(text: str) -> None:
    sys.stdout.write(text + "\n")


def _err(text: str) -> None:
    sys.stderr.write(text + "\n")


def _signing_secret(settings: Settings) -> tuple[str, str | None]:
    """The HS256 secret tokens can be minted with, and the issuer to stamp.

    Raises:
        ConfigError: only JWKS is configured; tokens come from the identity provider.
    """
    if settings.jwt_secret is not None:
        return settings.jwt_secret.get_secret_value(), settings.jwt_issuer
    if settings.auth_configured:
        raise ConfigError(
            "only JWKS auth is configured: tokens come from your identity provider, not this command"
        )
    return load_or_create_dev_secret(settings.state_dir), settings.jwt_issuer or DEV_ISSUER


def cmd_token(args: argparse.Namespace) -> int:
    settings = get_settings()
    secret, issuer = _signing_secret(settings)
    extra = {key: value for key, value in (("email", args.email), ("name", args.name)) if value}
    token = mint_token(
        secret,
        args.user,
        ttl_seconds=args.ttl,
        issuer=issuer,
        audience=settings.jwt_audience,
        extra_claims=extra,
    )
    _out(token)
    return 0


def cmd_serve(args: argparse.Namespace) -> int:
    """Serve until interrupted; SIGTERM drains (SHUTDOWN_GRACE_SECONDS), then the process exits 0.
    Exit status 2 for a configuration error: one line on stderr (from `main` when found building the
    app, from the server's log when found during start-up)."""
    from chatgate.drain import Drain
    from chatgate.main import create_app
    from chatgate.serving import serve

    settings = get_settings()
    drain = Drain()
    app = create_app(settings, drain=drain)
    if args.print_curl:
        _print_quickstart(settings, args.host, args.port)
    try:
        serve(app, drain, host=args.host, port=args.port, grace_seconds=settings.shutdown_grace_seconds)
    except SystemExit:  # uvicorn exits 3 when start-up fails
        if app.state.startup_errors:
            return 2
        raise
    return 0


def _print_quickstart(settings: Settings, host: str, port: int) -> None:
    base = f"http://{host}:{port}"
    if settings.playground_enabled:
        how = "a button there mints dev tokens" if not settings.auth_configured else "paste a token there"
        _out(f"\nPlayground: open {base}/ in a browser ({how}; CHATGATE_PLAYGROUND=false turns it off)")
    if settings.auth_configured and settings.jwt_secret is None:
        _out(f"chatgate on {base} (JWKS auth: use a token from your identity provider)")
        return
    secret, issuer = _signing_secret(settings)
    token = mint_token(secret, DEV_USER, ttl_seconds=12 * 3600, issuer=issuer, audience=settings.jwt_audience)
    _out(f"\nchatgate on {base}  (a dev token for '{DEV_USER}', valid 12 h)")
    _out("More tokens: chatgate token --user NAME\n")
    _out(f"curl -s {base}/api/agents/tools -H 'Authorization: Bearer {token}'\n")
    _out(
        f"curl -s {base}/api/agents/chat -H 'Authorization: Bearer {token}' "
        "-H 'Content-Type: application/json' -d '{\"message\": \"Who am I?\"}'\n"
    )
    if not settings.model_configured:
        _out("No model configured yet: chat answers 503 until OPENAI_API_KEY or OPENAI_BASE_URL is set.\n")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="chatgate", description="Chat agents over a user's own data.")
    commands = parser.add_subparsers(dest="command", required=True)

    serve = commands.add_parser("serve", help="serve the HTTP API")
    serve.add_argument("--host", default="127.0.0.1", help="interface to bind (default 127.0.0.1)")
    serve.add_argument("--port", type=int, default=8000, help="port to bind (default 8000)")
    serve.add_argument(
        "--print-curl", action="store_true", help="print ready-to-paste curl commands with a dev token"
    )
    serve.set_defaults(handler=cmd_serve)

    token = commands.add_parser("token", help="mint a signed token (dev secret or JWT_SECRET)")
    token.add_argument("--user", required=True, help="the user id (the token's sub)")
    token.add_argument("--ttl", type=int, default=3600, help="lifetime in seconds (default 3600)")
    token.add_argument("--email", help="an email claim for whoami")
    token.add_argument("--name", help="a name claim for whoami")
    token.set_defaults(handler=cmd_token)

    add_db_commands(commands)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if getattr(args, "ttl", 1) <= 0:
        _err("chatgate: --ttl must be a positive number of seconds")
        return 2
    try:
        result: int = args.handler(args)
    except ConfigError as exc:
        _err(f"chatgate: {exc}")  # one line (ConfigError guarantees it), no traceback
        return 2
    return result


if __name__ == "__main__":
    raise SystemExit(main())
