"""A stand-in API process for the parent-death test: start a launcher, hold a session, print pids.

Run as `python hold_session.py exec|fork STATE_DIR`; prints one JSON line with the pids of its
descendants once a session is live, then waits to be killed.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import anyio
import psutil

from chatgate.auth.principal import Principal
from chatgate.config import Settings
from chatgate.launcher.exec import ExecLauncher


async def main(kind: str, state_dir: Path) -> None:
    settings = Settings(_env_file=None, CHATGATE_STATE_DIR=state_dir)  # type: ignore[call-arg]
    if kind == "fork":
        from chatgate.launcher.fork import ForkLauncher

        launcher = ForkLauncher(settings)
    else:
        launcher = ExecLauncher(settings)
    await launcher.start()
    async with launcher.launch(Principal("alice"), request_id="held") as server:
        await server.call_tool("whoami", {})
        pids = [child.pid for child in psutil.Process().children(recursive=True)]
        sys.stdout.write(json.dumps(pids) + "\n")
        sys.stdout.flush()
        await anyio.sleep_forever()


if __name__ == "__main__":
    anyio.run(main, sys.argv[1], Path(sys.argv[2]))
