"""The hostile-code corpus, run inside real bound tool servers on both launchers.

A sibling tool server (bob's) is live while alice's runs the `hostile_probe` tool
(`child_hooks/chatgate_hostile_probe.py`, put into every tool server through `PYTHONPATH` by
`child_hooks/sitecustomize.py`). With `MCP_SANDBOX=required` every attempt must fail and only the
controls (alice's own folder, alice's own rows) succeed; with `MCP_SANDBOX=off` the same corpus
reaches other users' files, the state directory, siblings, the API process, programs and ports,
which proves the corpus can see an escape when there is one. PostgreSQL runs add the database
attempts: a hand-set `app.user_id`, a forged and an expired identity, the service-only tables, and
signing with the identity key (possible off, where tools share the service's role; never required).
"""

from __future__ import annotations

import datetime
import json
import os
import socket
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from chatgate.auth.dev_secret import DEV_SECRET_FILE
from chatgate.auth.principal import Principal
from chatgate.conversations.history import ConversationSession, prepare_engine
from chatgate.conversations.store import ConversationStore
from chatgate.files.encoding import space_dir_name
from chatgate.storage import RecordStore, create_engine, owner_transaction, upgrade_database
from chatgate.storage.identity import load_signer, preload_signer
from support.launching import LAUNCHERS, launcher_settings, live_descendants, make_launcher, session_pid
from support.postgres import ContainedPostgres

HOOKS = Path(__file__).parent / "child_hooks"
CONTROLS = {"own_dir_write", "pg_own_records_control"}
# Contained by the database whatever MCP_SANDBOX says: identities are verified, history is behind
# its conversation, service tables are the service's.
DATABASE_CONTAINED = {
    "pg_set_app_user_id",
    "pg_forge_identity",
    "pg_replay_expired_identity",
    "pg_read_agent_messages",
    "pg_read_agent_sessions",
    "pg_read_conversations",
    "pg_read_api_credentials",
}
# What the same corpus reaches without the sandbox (root-run machine, tools sharing the service's role).
REACHED_WHEN_OFF = {
    "read_other_user_file",
    "read_other_user_file_via_proc_root",
    "read_other_user_file_from_new_thread",
    "list_files_root",
    "read_dev_secret",
    "read_env_file",
    "read_other_sqlite_file",
    "read_sibling_environ",
    "open_sibling_mem",
    "read_api_environ",
    "ptrace_sibling",
    "vm_read_sibling",
    "vm_read_api",
    "signal_sibling",
    "signal_api",
    "execve_sh",
    "run_program",
    "connect_unconfigured_port",
    "connect_unix_socket",
    "write_other_user_dir",
    "write_state_dir",
    "write_tmp",
    "symlink_out",
    "hardlink_out",
}


@dataclass
class Scene:
    settings_env: dict[str, Any]
    targets: dict[str, Any]
    postgres: bool


@pytest.fixture
def listeners(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[int, str]]:
    """A TCP port nothing configures, and a Unix socket path, both listening."""
    tcp = socket.create_server(("127.0.0.1", 0))
    path = tmp_path_factory.mktemp("unix") / "listening.sock"
    unix = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    unix.bind(str(path))
    unix.listen(8)
    try:
        yield tcp.getsockname()[1], str(path)
    finally:
        tcp.close()
        unix.close()


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def database(request: pytest.FixtureRequest) -> ContainedPostgres | None:
    """None for SQLite; the run's PostgreSQL otherwise (set up outside the test's event loop)."""
    if request.param == "postgres":
        postgres: ContainedPostgres = request.getfixturevalue("contained_postgres")
        return postgres
    return None


@pytest.fixture
async def scene(
    database: ContainedPostgres | None,
    tmp_path: Path,
    tmp_path_factory: pytest.TempPathFactory,
    listeners: tuple[int, str],
    monkeypatch: pytest.MonkeyPatch,
) -> AsyncIterator[Scene]:
    monkeypatch.setenv(
        "PYTHONPATH", os.pathsep.join(filter(None, [str(HOOKS), os.environ.get("PYTHONPATH")]))
    )
    state = tmp_path / "state"
    state.mkdir()
    (state / ".env").write_text("JWT_SECRET=" + "x" * 40 + "\n")
    (state / DEV_SECRET_FILE).write_text("dev-secret\n")
    other_sqlite = tmp_path_factory.mktemp("other-deployment") / "chatgate.db"
    other_sqlite.write_bytes(b"SQLite format 3\x00")
    alice, bob = f"alice-{uuid.uuid4().hex[:8]}", f"bob-{uuid.uuid4().hex[:8]}"
    files_root = state / "files"
    bob_dir = files_root / space_dir_name(bob)
    bob_dir.mkdir(parents=True)
    (bob_dir / "secret.txt").write_text("bob's secret")
    marker = b"the API process's memory"
    targets: dict[str, Any] = {
        "own_dir": str(files_root / space_dir_name(alice)),
        "other_user": bob,
        "other_user_file": str(bob_dir / "secret.txt"),
        "files_root": str(files_root),
        "state_dir": str(state),
        "dev_secret": str(state / DEV_SECRET_FILE),
        "env_file": str(state / ".env"),
        "other_sqlite": str(other_sqlite),
        "api_pid": os.getpid(),
        "api_address": id(marker),
        "unconfigured_port": listeners[0],
        "unix_socket": listeners[1],
        "alice": alice,
    }
    env: dict[str, Any] = {"CHATGATE_STATE_DIR": state, "FILES_ROOT": files_root}
    if database is None:
        url = f"sqlite+aiosqlite:///{state / 'chatgate.db'}"
        await upgrade_database(url)
        env["DATABASE_URL"] = url
        yield Scene(env, targets, postgres=False)
        return
    pg = database
    env["DATABASE_URL"] = pg.app_url
    env["DATABASE_TOOLS_URL"] = pg.tools_url
    engine = create_engine(pg.app_url)
    try:
        await preload_signer(engine)  # what the service does at start-up: launches get signed identities
        await seed_postgres(engine, alice, bob, targets)
        yield Scene(env, targets, postgres=True)
    finally:
        await engine.dispose()


async def seed_postgres(engine: Any, alice: str, bob: str, targets: dict[str, Any]) -> None:
    """Bob's rows in every table the corpus goes after; alice's one record (the control)."""
    prepare_engine(engine)
    await RecordStore(engine, bob).create("notes", {"secret": "bob's"})
    await RecordStore(engine, alice).create("notes", {"mine": True})
    conversation = uuid.uuid4().hex
    await ConversationStore(engine, stale_after=datetime.timedelta(minutes=5)).claim(
        bob, conversation, "r", "hi"
    )
    await ConversationSession(conversation, engine, history_limit=None, owner=bob).add_items(
        [{"role": "user", "content": "bob's private message"}]
    )
    async with owner_transaction(engine, bob, write=True) as connection:
        await connection.execute(
            sa.text(
                "INSERT INTO api_credentials (owner, api_name, sealed, key_id, created_at, updated_at) "
                "VALUES (:o, 'crm', 'sealed', 'k1', now(), now())"
            ),
            {"o": bob},
        )
    async with engine.connect() as connection:
        signer = await load_signer(connection)
    targets["expired_token"] = signer.mint(bob, ttl_seconds=-30)  # a token of bob's, expired


def first_mapping(pid: int) -> int:
    with open(f"/proc/{pid}/maps", encoding="ascii") as maps:
        return int(maps.readline().split("-", 1)[0], 16)


async def run_corpus(kind: str, mode: str, scene: Scene) -> dict[str, str]:
    env = dict(scene.settings_env)
    if mode == "off" and scene.postgres:
        env.pop("DATABASE_TOOLS_URL")  # off is today's behaviour: tools share the service's role
    settings = launcher_settings(Path(env["CHATGATE_STATE_DIR"]), MCP_SANDBOX=mode, **env)
    launcher = make_launcher(kind, settings)
    await launcher.start()
    try:
        before = live_descendants()
        async with launcher.launch(Principal(scene.targets["other_user"]), request_id="sibling") as sibling:
            await sibling.list_tools()
            sibling_pid = session_pid(sibling, before)
            targets = {
                **scene.targets,
                "sibling_pid": sibling_pid,
                "sibling_address": first_mapping(sibling_pid),
            }
            async with launcher.launch(Principal(scene.targets["alice"]), request_id="hostile") as hostile:
                result = await hostile.call_tool("hostile_probe", {"targets": json.dumps(targets)})
        assert not result.is_error, result.content
        outcomes: dict[str, str] = json.loads(result.content[0].text)  # type: ignore[union-attr]
        return outcomes
    finally:
        await launcher.stop()
        remove_planted_files()


def remove_planted_files() -> None:
    for planted in Path("/tmp").glob("chatgate-planted-*.txt"):
        planted.unlink(missing_ok=True)


def reached(outcomes: dict[str, str]) -> set[str]:
    return {name for name, outcome in outcomes.items() if outcome.startswith("reached")}


@pytest.mark.parametrize("kind", LAUNCHERS)
async def test_required_sandbox_contains_every_attempt(kind: str, scene: Scene) -> None:
    outcomes = await run_corpus(kind, "required", scene)
    expected_controls = CONTROLS if scene.postgres else CONTROLS - {"pg_own_records_control"}
    assert reached(outcomes) == expected_controls, json.dumps(outcomes, indent=1)
    assert set(REACHED_WHEN_OFF) <= set(outcomes)  # every attempt ran
    if scene.postgres:
        assert set(DATABASE_CONTAINED) | {"pg_sign_with_identity_key"} <= set(outcomes)


@pytest.mark.parametrize("kind", LAUNCHERS)
async def test_the_corpus_escapes_without_the_sandbox(kind: str, scene: Scene) -> None:
    """The same corpus with MCP_SANDBOX=off: it reaches what `required` stops, so it can fail."""
    outcomes = await run_corpus(kind, "off", scene)
    expected = REACHED_WHEN_OFF | CONTROLS
    if scene.postgres:
        expected |= {"pg_sign_with_identity_key"}  # the shared role can read the key and sign for bob
    else:
        expected -= {"pg_own_records_control"}
    assert reached(outcomes) == expected, json.dumps(outcomes, indent=1)
    assert not reached(outcomes) & DATABASE_CONTAINED
