"""A PgBouncer of the test's own, in transaction mode, on a free loopback port, with a generated config.

Debian's `pgbouncer` package (`apt-get install pgbouncer`; `.ci/run` installs it). PgBouncer refuses
to run as root: as root it is started with `-u postgres`, its directory handed to that user.
"""

from __future__ import annotations

import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy.engine import make_url

from support.servers import free_port

START_TIMEOUT_SECONDS = 30.0


# Debian installs it in /usr/sbin, which a non-root PATH may lack.
PGBOUNCER_PATHS = ("/usr/sbin/pgbouncer", "/usr/bin/pgbouncer", "/usr/local/bin/pgbouncer")


def pgbouncer_binary() -> str | None:
    """The pgbouncer executable: on PATH, else where packages install it; None when there is none."""
    return shutil.which("pgbouncer") or next(
        (path for path in PGBOUNCER_PATHS if os.access(path, os.X_OK)), None
    )


def missing_reason() -> str:
    """Why `pgbouncer_binary()` found nothing, naming every place it looked."""
    return (
        f"pgbouncer is not installed: not on PATH, not at {', '.join(PGBOUNCER_PATHS)} "
        "(apt-get install pgbouncer; .ci/run installs it)"
    )


@dataclass
class PgBouncer:
    process: subprocess.Popen[bytes]
    port: int
    directory: Path

    def url(self, postgres_url: str, *, database: str | None = None, pooled_flag: bool = True) -> str:
        """`postgres_url` (its user and database) through this PgBouncer; `?pgbouncer=true` by default."""
        parsed = make_url(postgres_url).set(host="127.0.0.1", port=self.port)
        if database is not None:
            parsed = parsed.set(database=database)
        if pooled_flag:
            parsed = parsed.update_query_dict({"pgbouncer": "true"})
        return parsed.render_as_string(hide_password=False)

    def log(self) -> str:
        path = self.directory / "pgbouncer.log"
        return path.read_text(errors="replace") if path.exists() else ""

    def stop(self) -> None:
        if self.process.stderr is not None:
            self.process.stderr.close()
        self.process.terminate()
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(timeout=10)
        shutil.rmtree(self.directory, ignore_errors=True)


def start_pgbouncer(binary: str, postgres_url: str, database: str, users: list[str]) -> PgBouncer:
    """PgBouncer in front of `database` on the server of `postgres_url`.

    Databases: `database` (server pool of 2 per user) and `<database>_single` (one server connection
    per user: every client transaction of a user runs on the same PostgreSQL backend).
    """
    upstream = make_url(postgres_url)
    port = free_port()
    directory = Path(tempfile.mkdtemp(prefix="chatgate-pgbouncer-"))
    backend = f"host={upstream.host or '127.0.0.1'} port={upstream.port or 5432} dbname={database}"
    (directory / "users.txt").write_text("".join(f'"{user}" ""\n' for user in users))
    (directory / "pgbouncer.ini").write_text(
        f"""[databases]
{database} = {backend} pool_size=2
{database}_single = {backend} pool_size=1

[pgbouncer]
listen_addr = 127.0.0.1
listen_port = {port}
unix_socket_dir =
auth_type = trust
auth_file = {directory / "users.txt"}
pool_mode = transaction
max_client_conn = 500
logfile = {directory / "pgbouncer.log"}
pidfile = {directory / "pgbouncer.pid"}
ignore_startup_parameters = extra_float_digits
query_wait_timeout = 60
"""
    )
    command = [binary, str(directory / "pgbouncer.ini")]
    if os.geteuid() == 0:
        account = pwd.getpwnam("postgres")
        os.chown(directory, account.pw_uid, account.pw_gid)
        for path in directory.iterdir():
            os.chown(path, account.pw_uid, account.pw_gid)
        command[1:1] = ["-u", "postgres"]
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    bouncer = PgBouncer(process=process, port=port, directory=directory)
    deadline = time.monotonic() + START_TIMEOUT_SECONDS
    while True:
        if process.poll() is not None:
            error = process.stderr.read().decode(errors="replace") if process.stderr else ""
            if process.stderr is not None:
                process.stderr.close()
            shutil.rmtree(directory, ignore_errors=True)
            raise RuntimeError(f"pgbouncer exited at start: {error or bouncer.log()}")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return bouncer
        except OSError:
            if time.monotonic() > deadline:
                bouncer.stop()
                raise TimeoutError("pgbouncer did not start listening") from None
            time.sleep(0.05)
