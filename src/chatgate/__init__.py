"""chatgate: chat agents over a user's own data, one fresh user-bound MCP tool server per request."""

__version__ = "0.1.0"
