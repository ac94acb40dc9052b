"""How a configuration that cannot be served is reported: one line, naming the setting and the fix."""

from __future__ import annotations

from pydantic import ValidationError


class ConfigError(ValueError):
    """The configuration cannot be served; raised at start-up, never per request.

    Its message is one line naming the setting and the fix: `chatgate serve` (and `uvicorn
    chatgate.main:app`) print it to stderr and exit with status 2, never with a traceback.
    """

    def __init__(self, message: str) -> None:
        super().__init__(" ".join(message.split()))  # one line, whatever the source said


def describe_settings_errors(exc: ValidationError) -> str:
    """One line naming each bad variable and what it needs; never the value (it may be a secret)."""
    problems = []
    for error in exc.errors()[:5]:
        name = ".".join(str(part) for part in error.get("loc", ())) or "settings"
        message = str(error.get("msg", "invalid")).removeprefix("Value error, ")
        problems.append(f"{name}: {message}")
    return (
        f"invalid setting {'; '.join(problems)} (fix it in the environment or .env; "
        ".env.example documents every variable)"
    )
