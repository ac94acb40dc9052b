"""The HTTP API: thin routes over the services, one error shape, one log line per request."""
