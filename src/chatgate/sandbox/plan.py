"""What a tool server may reach, worked out from its settings before any user is bound.

Pure bookkeeping (no rule is enforced here): the fork template computes the plan once for all its
children; a child only adds its user's folder and applies it.

Readable: the Python installation and every import path (the project's code, installed packages,
operators' modules and `[[toolsets]]` folders), system libraries the interpreter loads late
(`libnss_*`, OpenSSL), TLS certificates, resolver and time-zone files, `/dev/urandom`, the tool
configuration and the compiled API catalog. Writable: `/dev/null`, the bound user's folder (added
per child) and, on SQLite, the database file with its WAL files. Reachable over TCP: the database
port and each configured API's port (and DNS over TCP when an API is named by host). Nothing else:
not the state directory, not other users' folders, not `/proc`.

A readable candidate that contains protected data (the state directory, the files root, the
database's folder), or lies inside the last two, is left out and named in `skipped`: an import path
like `.` run from the state directory must not make the dev secret readable.
"""

from __future__ import annotations

import ipaddress
import os
import ssl
import sys
import sysconfig
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError

from chatgate.http_apis.catalog import read_catalog
from chatgate.sandbox.landlock import path_kind
from chatgate.tool_config import ToolConfigError, load_tool_config

# System libraries loaded after start (name service modules, OpenSSL engines) and the loader's cache.
_SYSTEM_LIBRARIES = (
    "/lib",
    "/lib64",
    "/usr/lib",
    "/usr/lib64",
    "/usr/local/lib",
    "/etc/ld.so.cache",
)
_RESOLVER_FILES = (
    "/etc/resolv.conf",
    "/etc/hosts",
    "/etc/nsswitch.conf",
    "/etc/host.conf",
    "/etc/gai.conf",
    "/etc/services",
    "/etc/protocols",
    "/etc/localtime",
    "/usr/share/zoneinfo",
)
_TLS_LOCATIONS = ("/etc/ssl", "/etc/pki", "/usr/share/ca-certificates")
_READABLE_DEVICES = ("/dev/urandom", "/dev/random")
_WRITABLE_DEVICES = ("/dev/null",)
SQLITE_COMPANIONS = ("-wal", "-shm", "-journal")
DNS_PORT = 53
POSTGRES_DEFAULT_PORT = 5432


@dataclass(frozen=True)
class SandboxPlan:
    """Everything a child's ruleset needs except its user's folder."""

    read_only: tuple[tuple[str, bool], ...]  # (path, is a directory)
    read_write_files: tuple[str, ...]  # devices
    sqlite_database: str | None  # read-write with its -wal, -shm (created if missing) and -journal
    tcp_ports: tuple[int, ...]
    allow_unix_sockets: bool  # a database reached through a Unix-domain socket
    files_root: Path | None
    skipped: tuple[str, ...]  # readable candidates left out because they hold protected data


def make_plan(
    *,
    files_root: Path | None,
    database_url: str | None,
    config_file: Path | None,
    apis_catalog: Path | None,
    working_dir: Path,
    extra_read_only: Iterable[str] = (),
) -> SandboxPlan:
    """The plan for tool servers with this configuration (`working_dir` is the state directory)."""
    sqlite_file, tcp_ports, unix_socket = _database_reach(database_url)
    # Folders of user data: nothing above them and nothing inside them is granted. The working
    # directory (the state directory, for launched tool servers): nothing above it and not itself.
    protected = []
    if files_root is not None:
        protected.append(_real(files_root))
    if sqlite_file is not None:
        protected.append(_real(Path(sqlite_file).parent))
    working = _real(working_dir)

    candidates = [*_python_paths(), *_SYSTEM_LIBRARIES, *_RESOLVER_FILES, *_tls_paths(), *_READABLE_DEVICES]
    candidates.extend(str(path) for path in (config_file, apis_catalog) if path is not None)
    candidates.extend(_toolset_paths(config_file))
    candidates.extend(extra_read_only)
    read_only: dict[str, bool] = {}
    skipped: list[str] = []
    for candidate in candidates:
        kind = path_kind(candidate)
        if kind is None:
            continue
        real = _real(Path(candidate))
        # A single file named on purpose (the catalog in the state directory) is fine; a folder that
        # holds protected data, or lies inside it, is not.
        named_file = not kind and candidate in {str(config_file), str(apis_catalog)}
        exposes = any(_overlaps(real, guarded) for guarded in protected) or _contains(real, working)
        if not named_file and exposes:
            skipped.append(candidate)
            continue
        read_only.setdefault(str(real), kind)

    read_write = tuple(device for device in _WRITABLE_DEVICES if path_kind(device) is False)
    # A rule beneath a readable folder adds nothing; fewer rules make each child's ruleset cheaper.
    folders = {Path(path) for path, is_directory in read_only.items() if is_directory}
    read_only = {
        path: kind
        for path, kind in read_only.items()
        if not any(parent in folders for parent in Path(path).parents)
    }
    ports = set(tcp_ports) | _api_ports(apis_catalog)
    return SandboxPlan(
        read_only=tuple(sorted(read_only.items())),
        read_write_files=read_write,
        sqlite_database=sqlite_file,
        tcp_ports=tuple(sorted(ports)),
        allow_unix_sockets=unix_socket,
        files_root=files_root,
        skipped=tuple(dict.fromkeys(skipped)),
    )


def _python_paths() -> list[str]:
    paths: list[str] = []
    for prefix in {sys.prefix, sys.base_prefix, sys.exec_prefix, sys.base_exec_prefix}:
        scheme_paths = sysconfig.get_paths(
            vars={"base": prefix, "platbase": prefix, "installed_base": prefix}
        )
        paths.extend(scheme_paths[key] for key in ("stdlib", "platstdlib", "purelib", "platlib"))
    paths.extend(entry for entry in sys.path if entry)  # "" is the working directory: never
    import chatgate

    paths.append(str(Path(chatgate.__file__).resolve().parent))
    return paths


def _toolset_paths(config_file: Path | None) -> list[str]:
    """The `path` folders of `[[toolsets]]`: operators' code, imported after containment by exec children."""
    from chatgate.toolsets.loader import toolset_entries

    try:
        entries = toolset_entries(
            load_tool_config(config_file), base_dir=config_file.parent if config_file else None
        )
    except ToolConfigError:
        return []  # the tool server reports the configuration itself
    return [str(entry.path) for entry in entries if entry.path is not None]


def _tls_paths() -> list[str]:
    defaults = ssl.get_default_verify_paths()
    found: list[str | None] = [
        defaults.cafile,
        defaults.capath,
        defaults.openssl_cafile,
        defaults.openssl_capath,
    ]
    found.extend(os.environ.get(name) for name in ("SSL_CERT_FILE", "SSL_CERT_DIR"))
    return [*_TLS_LOCATIONS, *(path for path in found if path)]


def _database_reach(url: str | None) -> tuple[str | None, set[int], bool]:
    """(the SQLite file, TCP ports, whether a Unix socket is used) for a database URL."""
    if not url:
        return None, set(), False
    try:
        parsed = make_url(url)
    except ArgumentError:
        return None, set(), False  # the tools report the bad URL; nothing to reach
    backend = parsed.get_backend_name()
    if backend == "sqlite":
        database = parsed.database
        if not database or database == ":memory:":
            return None, set(), False
        return str(_real(Path(database))), set(), False
    host = parsed.host or ""
    query_host = parsed.query.get("host")
    socket_host = query_host if isinstance(query_host, str) else None
    # No host: the drivers try a Unix socket first (PGHOST, /run/postgresql); so does a host path.
    unix = not host or host.startswith("/") or bool(socket_host and socket_host.startswith("/"))
    port = parsed.port or POSTGRES_DEFAULT_PORT
    return None, {port}, unix


def _api_ports(catalog_path: Path | None) -> set[int]:
    try:
        catalog = read_catalog(catalog_path)
    except ToolConfigError:
        return set()  # the tool server reports the unreadable catalog itself
    ports: set[int] = set()
    for api in catalog.apis:
        parts = urlsplit(api.config.base_url)
        ports.add(parts.port or (443 if parts.scheme == "https" else 80))
        if parts.hostname and not _is_ip(parts.hostname):
            ports.add(DNS_PORT)  # resolvers fall back to TCP for long answers
    return ports


def _is_ip(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True


def _real(path: Path) -> Path:
    return Path(os.path.realpath(path))


def _contains(candidate: Path, guarded: Path) -> bool:
    """True when granting `candidate` would expose `guarded` (it is `guarded` or above it)."""
    return candidate == guarded or candidate in guarded.parents


def _overlaps(candidate: Path, guarded: Path) -> bool:
    """True when granting `candidate` would expose `guarded`, or lies inside it."""
    return _contains(candidate, guarded) or guarded in candidate.parents
