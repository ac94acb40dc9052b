"""Real HTTP servers for tests: an ASGI app on a free loopback port, in a background thread.

`ThreadedServer` is the testing kit's own `chatgate.testing.server.BackgroundServer` (the port is
bound before uvicorn starts, so no other process can take it in between); one implementation serves
the suite and operators' tests alike.
"""

from __future__ import annotations

import socket

from chatgate.testing.server import BackgroundServer as ThreadedServer

__all__ = ["ThreadedServer", "free_port"]


def free_port() -> int:
    """A loopback port free at the time of asking (for servers the suite starts as processes)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port
