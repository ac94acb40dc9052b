"""The API side of the fork template: start it, ask it for children, notice when it dies.

The template runs `python -m chatgate.forkserver.template` in its own session, with an environment
holding only what an interpreter needs (its children inherit nothing else), and its socket in a
fresh 0700 directory. A start frame (the channel token and the shared tool configuration) goes to
its stdin, which then stays open: the template treats EOF there as "the API process is gone" (it
also has PDEATHSIG). Its stdout carries one ready frame (pid, tool list) and then nothing; EOF on
it means the template died.
"""

from __future__ import annotations

import logging
import os
import secrets
import shutil
import subprocess
import sys
import tempfile
from contextlib import suppress
from pathlib import Path
from typing import Any

import anyio
from mcp.types import Tool as MCPTool

from chatgate.forkserver import protocol
from chatgate.launcher.environment import MALLOC_ENVIRONMENT
from chatgate.launcher.pipes import ChildPipes
from chatgate.launcher.process import ToolProcess
from chatgate.spawn import INTERPRETER_VARIABLES

logger = logging.getLogger(__name__)

TEMPLATE_MODULE = "chatgate.forkserver.template"
# Only what the interpreter needs to start and find packages: children are forks of this process.
_TEMPLATE_ENV_VARIABLES = ("PATH", "HOME", *INTERPRETER_VARIABLES)
STOP_GRACE_SECONDS = 2.0


class TemplateUnavailableError(RuntimeError):
    """The template did not start, died, or refused a request."""


class TemplateProcess:
    """One running incarnation of the template."""

    def __init__(self, process: subprocess.Popen[bytes], directory: Path, token: str) -> None:
        self.process = process
        self.directory = directory
        self.socket_path = directory / "template.sock"
        self._token = token
        self._dying = False
        self.tools: list[MCPTool] = []

    @property
    def pid(self) -> int:
        return self.process.pid

    @property
    def stdout_fd(self) -> int:
        assert self.process.stdout is not None
        return self.process.stdout.fileno()

    def alive(self) -> bool:
        """False once it has exited, or is exiting: its stdout closed or its socket refused us."""
        return not self._dying and self.process.poll() is None

    @classmethod
    async def start(
        cls,
        *,
        base_env: dict[str, str],
        cwd: Path,
        memory_mb: int,
        lifetime: float,
        spares: int,
        warm_up_limit: float,
    ) -> TemplateProcess:
        """Spawn a template and wait until it is warm.

        `base_env` is a child environment with a placeholder identity: the tool configuration the
        template builds its server from (each child later binds the environment of its request).

        Raises:
            TemplateUnavailableError: it exited or did not report ready within `warm_up_limit` seconds.
        """
        directory = Path(tempfile.mkdtemp(prefix="chatgate-fork-"))  # mode 0700
        token = secrets.token_hex(protocol.TOKEN_BYTES)
        env = {name: os.environ[name] for name in _TEMPLATE_ENV_VARIABLES if name in os.environ}
        # Children are forks: they keep the malloc settings the template started with.
        env.update({"PYTHONDONTWRITEBYTECODE": "1", "PYTHONUNBUFFERED": "1", **MALLOC_ENVIRONMENT})
        args = [sys.executable, "-u", "-m", TEMPLATE_MODULE, "--socket", str(directory / "template.sock")]
        args += ["--parent-pid", str(os.getpid()), "--memory-mb", str(memory_mb), "--lifetime", str(lifetime)]
        args += ["--spares", str(spares)]
        # Spawned from the event loop's thread: PDEATHSIG fires when the spawning thread exits.
        process = subprocess.Popen(  # noqa: ASYNC220 - a fork/exec, not a wait
            args,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            env=env,
            cwd=cwd,
            start_new_session=True,
        )
        template = cls(process, directory, token)
        try:
            assert process.stdin is not None
            process.stdin.write(protocol.encode_frame({"token": token, "env": base_env}))
            process.stdin.flush()
            with anyio.fail_after(warm_up_limit):
                ready = await template._read_ready()
        except (OSError, TimeoutError, protocol.ProtocolError) as exc:
            template.kill()
            raise TemplateUnavailableError("fork template did not start") from exc
        except BaseException:  # cancelled while warming up: leave nothing running
            template.kill()
            raise
        template.tools = [MCPTool.model_validate(tool) for tool in ready.get("tools", [])]
        return template

    async def _read_ready(self) -> dict[str, Any]:
        os.set_blocking(self.stdout_fd, False)
        buffer = bytearray()
        while (framed := protocol.split_frame(buffer)) is None:
            await anyio.wait_readable(self.stdout_fd)
            try:
                chunk = os.read(self.stdout_fd, 65536)
            except BlockingIOError:
                continue
            if not chunk:
                raise TemplateUnavailableError("fork template exited during warm-up")
            buffer += chunk
        return framed[0]

    async def wait_closed(self) -> None:
        """Return when the template's stdout reaches EOF: it is exiting (its files close first)."""
        try:
            while True:
                try:
                    await anyio.wait_readable(self.stdout_fd)
                    if not os.read(self.stdout_fd, 4096):
                        return
                except BlockingIOError:
                    continue
                except (OSError, ValueError, anyio.ClosedResourceError):
                    return
        finally:
            self._dying = True

    async def fork_child(self, env: dict[str, str], cwd: str) -> ToolProcess:
        """Ask the template for a child bound to `env`; its pipes (and pidfd) come back over the socket.

        Raises:
            TemplateUnavailableError: the template is gone, refused, or answered nonsense.
        """
        request = protocol.encode_frame({"token": self._token, "env": env, "cwd": cwd})
        fds: list[int] = []
        try:
            async with await anyio.connect_unix(self.socket_path) as stream:
                await stream.send(request)
                message, fds = await stream.receive_fds(4096, protocol.MAX_CHILD_FDS)
                reply = await _complete_frame(stream, bytearray(message))
        except BaseException as exc:
            # Whatever happened once the fds arrived (cancelled while closing the stream, say), they
            # are closed here: a child whose stdin we kept open would never see EOF.
            for fd in fds:
                os.close(fd)
            if isinstance(
                exc, OSError | anyio.EndOfStream | anyio.BrokenResourceError | protocol.ProtocolError
            ):
                # Refused, reset or cut short: it is dying or broken; the next request gets a new one.
                self._dying = True
                raise TemplateUnavailableError("fork template did not answer") from exc
            raise
        pid = reply.get("pid")
        if reply.get("ok") is not True or len(fds) < protocol.CHILD_FDS or not isinstance(pid, int):
            for fd in fds:
                os.close(fd)
            raise TemplateUnavailableError(f"fork template refused: {reply.get('error', 'malformed reply')}")
        pidfd = fds[2] if len(fds) > protocol.CHILD_FDS else None
        if pidfd is not None:
            os.set_inheritable(pidfd, False)  # SCM_RIGHTS fds arrive without close-on-exec
        return ToolProcess(ChildPipes(pid, stdin_fd=fds[0], stdout_fd=fds[1]), pidfd=pidfd)

    def terminate(self) -> None:
        """Ask the template to stop (stdin EOF: it kills its children and exits); kill it if it lingers."""
        try:
            if self.process.stdin is not None:
                self.process.stdin.close()
            self.process.wait(STOP_GRACE_SECONDS)
        except (OSError, subprocess.TimeoutExpired):
            self.kill()
        self.release()

    def kill(self) -> None:
        """SIGKILL the template (its children follow through PDEATHSIG), reap it, release its files."""
        self.reap()
        self.release()

    def reap(self) -> None:
        """SIGKILL the template if it still runs and wait for it (blocking, but only for an exit)."""
        if self.process.poll() is None:
            self.process.kill()
        self.process.wait()

    def release(self) -> None:
        """Close our ends of its pipes and remove its socket directory."""
        for pipe in (self.process.stdin, self.process.stdout):
            if pipe is not None and not pipe.closed:
                with suppress(RuntimeError):  # wake a watcher waiting on it (none outside a loop)
                    anyio.notify_closing(pipe.fileno())
                pipe.close()
        shutil.rmtree(self.directory, ignore_errors=True)


async def _complete_frame(stream: Any, buffer: bytearray) -> dict[str, Any]:
    while (framed := protocol.split_frame(buffer)) is None:
        buffer += await stream.receive(4096)
    return framed[0]
