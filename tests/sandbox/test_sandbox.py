"""The sandbox's pieces: levels, the plan, the service's refusals, and `contain` in a real process.

`contain` is irreversible, so it runs only in subprocesses here (the corpus tests run it in real
tool servers).
"""

from __future__ import annotations

import json
import logging
import subprocess
import sys
import textwrap
from pathlib import Path

import httpx
import pytest

from chatgate.config_errors import ConfigError
from chatgate.http_apis.catalog import ApiCatalog, CompiledApi, write_catalog
from chatgate.http_apis.config import ApiConfig
from chatgate.mcp_server.settings import BoundIdentity, ChildSettings
from chatgate.sandbox import KernelSupport, SandboxError, contain, kernel_support
from chatgate.sandbox import service as service_module
from chatgate.sandbox.plan import make_plan
from chatgate.sandbox.service import assess
from support.live_app import start_live_app
from support.settings import make_settings

contain_module = sys.modules["chatgate.sandbox.contain"]  # the attribute of that name is the function
FULL = KernelSupport(linux=True, landlock_abi=7, seccomp=True)
OLD_KERNEL = KernelSupport(linux=True, landlock_abi=3, seccomp=True)


def test_levels_and_what_is_missing() -> None:
    assert FULL.missing == () and FULL.level("auto") == "full" and FULL.level("off") == "off"
    assert OLD_KERNEL.level("auto") == "partial"
    assert any("TCP port rules" in item for item in OLD_KERNEL.missing)
    assert any("scoping" in item for item in OLD_KERNEL.missing)
    assert KernelSupport(linux=False, landlock_abi=0, seccomp=False).level("required") == "partial"
    assert "missing" in OLD_KERNEL.describe("auto") and "full" in FULL.describe("auto")


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="Linux only")
def test_this_machine_gives_full_containment() -> None:
    """The suite's machine (kernel 6.18, Landlock ABI 7, libseccomp2): nothing may be missing."""
    assert kernel_support().missing == ()


def test_plan_reads_code_writes_nothing_of_the_state_directory(tmp_path: Path) -> None:
    state = tmp_path / "state"
    (state / "files").mkdir(parents=True)
    catalog = state / "apis-catalog.json"
    write_catalog(
        ApiCatalog(
            apis=(
                CompiledApi(
                    ApiConfig(name="crm", base_url="https://crm.example.com:8443/v1", openapi="x"), ()
                ),
                CompiledApi(ApiConfig(name="local", base_url="http://127.0.0.1:9000", openapi="x"), ()),
            )
        ),
        catalog,
    )
    plan = make_plan(
        files_root=state / "files",
        database_url=f"sqlite+aiosqlite:///{state / 'chatgate.db'}",
        config_file=None,
        apis_catalog=catalog,
        working_dir=state,
        extra_read_only=[str(tmp_path), str(state / "files"), str(state)],
    )
    readable = {path for path, _ in plan.read_only}
    assert str(catalog.resolve()) in readable  # the one named file of the state directory
    assert not any(Path(path) in (tmp_path, state, state / "files") for path in readable)
    assert set(plan.skipped) >= {str(tmp_path), str(state / "files"), str(state)}
    assert str(Path(sys.prefix).resolve()) in readable or any(
        Path(sys.prefix).resolve().is_relative_to(path) for path in readable
    )
    assert plan.read_write_files == ("/dev/null",)
    assert plan.sqlite_database == str((state / "chatgate.db").resolve())
    assert plan.tcp_ports == (53, 8443, 9000)  # DNS over TCP only because crm is named by host
    assert not plan.allow_unix_sockets


def test_plan_for_postgres_reaches_its_port_and_notices_unix_sockets(tmp_path: Path) -> None:
    def plan(url: str) -> tuple[tuple[int, ...], bool]:
        made = make_plan(
            files_root=None, database_url=url, config_file=None, apis_catalog=None, working_dir=tmp_path
        )
        return made.tcp_ports, made.allow_unix_sockets

    assert plan("postgresql://tools@db.internal:6543/chatgate") == ((6543,), False)
    assert plan("postgresql+asyncpg://tools@127.0.0.1/chatgate") == ((5432,), False)
    assert plan("postgresql://tools@/chatgate?host=/run/postgresql")[1] is True


def test_required_refuses_to_start_on_a_kernel_without_full_containment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(service_module, "kernel_support", lambda: OLD_KERNEL)
    with pytest.raises(ConfigError, match="TCP port rules"):
        assess(make_settings(tmp_path, MCP_SANDBOX="required"))
    assert assess(make_settings(tmp_path)).level == "partial"  # auto: runs with what there is
    assert assess(make_settings(tmp_path, MCP_SANDBOX="off")).level == "off"


def test_tool_servers_sharing_the_services_postgres_role_are_not_full_containment(tmp_path: Path) -> None:
    app = "postgresql://chatgate_app@db/chatgate"
    shared = assess(make_settings(tmp_path, DATABASE_URL=app))
    assert shared.level == "partial" and "DATABASE_TOOLS_URL" in shared.summary
    with pytest.raises(ConfigError, match="grant-tools-role"):
        assess(make_settings(tmp_path, DATABASE_URL=app, MCP_SANDBOX="required"))
    separate = assess(
        make_settings(
            tmp_path,
            DATABASE_URL=app,
            DATABASE_TOOLS_URL="postgresql://chatgate_tools@db/chatgate",
            MCP_SANDBOX="required",
        )
    )
    assert separate.level == "full" and separate.notes == ()


def test_readiness_and_the_start_up_log_report_the_level_and_sqlite(tmp_path: Path) -> None:
    records: list[logging.LogRecord] = []
    handler = logging.Handler()
    handler.emit = records.append  # type: ignore[method-assign]
    logging.getLogger("chatgate.sandbox").addHandler(handler)
    try:
        server, app = start_live_app(tmp_path, MCP_LAUNCHER="exec")
        with server:
            ready = httpx.get(f"{app.url}/readyz", timeout=60)
    finally:
        logging.getLogger("chatgate.sandbox").removeHandler(handler)
    assert ready.status_code == 200
    assert ready.json() == {"status": "ready", "launcher": "exec", "sandbox": kernel_support().level("auto")}
    messages = [record.getMessage() for record in records]
    assert any(message.startswith("tool server sandbox: full") for message in messages), messages
    assert any("SQLite" in message and "cannot separate users' rows" in message for message in messages)


def test_required_refuses_a_tool_server_before_anything_is_applied(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(contain_module, "kernel_support", lambda: OLD_KERNEL)
    settings = ChildSettings(identity=BoundIdentity("alice"), sandbox_mode="required")
    with pytest.raises(SandboxError, match="lacks"):
        contain(settings)


CHILD = textwrap.dedent(
    """
    import json, os, sys, threading
    from pathlib import Path
    from chatgate.mcp_server.settings import BoundIdentity, ChildSettings
    from chatgate.sandbox import SandboxError, contain
    root = Path(sys.argv[1])
    if sys.argv[3] == "thread":
        threading.Thread(target=threading.Event().wait, daemon=True).start()
    settings = ChildSettings(identity=BoundIdentity("alice"), files_root=root, sandbox_mode=sys.argv[2])
    try:
        done = contain(settings)
    except SandboxError as exc:
        print(json.dumps({"refused": str(exc)}))
        raise SystemExit(0)
    probes = {}
    for name, path in (("own", root / "u-alice" / "x"), ("other", root / "other" / "x")):
        try:
            Path(path).write_text("x")
            probes[name] = "written"
        except OSError as exc:
            probes[name] = type(exc).__name__
    print(json.dumps({"level": done.level, "applied": done.applied, "missing": done.missing, **probes}))
    """
)


def run_child(root: Path, mode: str, threads: str = "single") -> dict[str, object]:
    (root / "other").mkdir(parents=True, exist_ok=True)
    done = subprocess.run(
        [sys.executable, "-c", CHILD, str(root), mode, threads],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    return dict(json.loads(done.stdout.strip().splitlines()[-1]))


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="Linux only")
def test_contain_writes_only_the_users_folder(tmp_path: Path) -> None:
    outcome = run_child(tmp_path / "files", "required")
    assert outcome["level"] == "full" and outcome["missing"] == []
    assert outcome["applied"] == [
        "not dumpable",
        "no new privileges",
        "Landlock",
        "capabilities dropped",
        "seccomp",
    ]
    assert (outcome["own"], outcome["other"]) == ("written", "PermissionError")
    assert run_child(tmp_path / "files", "off")["other"] == "written"


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="Linux only")
def test_a_second_thread_is_refused_when_required_and_reported_in_auto(tmp_path: Path) -> None:
    """Landlock and seccomp bind the calling thread: one started earlier would escape both."""
    refused = run_child(tmp_path / "files", "required", "thread")
    assert "2 threads" in str(refused["refused"])
    partial = run_child(tmp_path / "files", "auto", "thread")
    assert partial["level"] == "partial" and "2 threads" in str(partial["missing"])
