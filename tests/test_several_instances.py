"""Two real `chatgate serve` instances on one PostgreSQL and one Redis, behind a round-robin proxy:
a conversation continues on either; a second message while one runs on the other instance is 409;
rate limits are shared; resume works from the other instance; SIGKILL of one instance mid-stream
loses no stored data, its tool servers die with it, the survivor is left with no tool server, and the
survivor answers the cut conversation again once the dead instance's lease lapses (its run recorded
as interrupted).

The model is the scripted OpenAI-compatible server; "slow" messages call `whoami` (a real tool server)
and then stream half their answer and wait for the test to release the rest."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import psutil
import pytest

from support.openai_wire import ScriptedOpenAI, WireReply, last_tool_result
from support.postgres import fresh_postgres_database
from support.processes import tool_server_children, wait_until
from support.redis import require_redis
from support.round_robin import RoundRobinProxy
from support.servers import ThreadedServer, free_port
from support.settings import SCRUBBED_ENV
from support.sse_reader import StreamReader
from support.tokens import TEST_JWT_SECRET, auth
from support.ui_stream import check_chunks, parse_sse

pytestmark = [pytest.mark.postgres, pytest.mark.redis]

START_TIMEOUT = 90.0  # an interpreter start and the app's imports, on a loaded machine
# A claim frees itself by age alone after CHAT_TIMEOUT_SECONDS + 60 (300 s here); a dead instance's
# lease lapses after INSTANCE_LEASE_SECONDS (15): the test waits four times that, far below the age.
CHAT_TIMEOUT_SECONDS = 240.0
LEASE_WAIT_SECONDS = 60.0
PER_MINUTE = 4
FIRST_PART, REST = "First part. ", "And the rest."


@dataclass
class Instance:
    process: subprocess.Popen[bytes]
    port: int

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def tool_servers(self) -> list[psutil.Process]:
        try:
            return tool_server_children(psutil.Process(self.process.pid))
        except psutil.NoSuchProcess:
            return []


@dataclass
class Cluster:
    instances: list[Instance]
    proxy: RoundRobinProxy
    model: ScriptedOpenAI
    gate: threading.Event


def script(gate: threading.Event) -> Any:
    def reply(messages: list[dict[str, Any]]) -> WireReply:
        users = [str(m.get("content")) for m in messages if m.get("role") == "user"]
        if "slow" not in users[-1]:
            return WireReply(text=f"ok, {len(users)} user message(s) seen")
        if last_tool_result(messages[_last_user(messages) :]) is None:
            return WireReply(tool_calls=[("whoami", {})])
        return WireReply(text=FIRST_PART + REST, hold=gate, hold_after_chars=len(FIRST_PART))

    return reply


def _last_user(messages: list[dict[str, Any]]) -> int:
    return max(i for i, m in enumerate(messages) if m.get("role") == "user")


def start_instance(tmp_path: Path, name: str, env: dict[str, str]) -> Instance:
    port = free_port()
    state = tmp_path / name
    state.mkdir()
    with (state / "stderr").open("wb") as stderr:
        process = subprocess.Popen(
            [sys.executable, "-m", "chatgate", "serve", "--port", str(port)],
            env={**env, "CHATGATE_STATE_DIR": str(state)},
            cwd=state,
            stdout=subprocess.DEVNULL,
            stderr=stderr,
        )
    instance = Instance(process, port)
    if not wait_until(lambda: process.poll() is not None or _ready(instance), START_TIMEOUT, 0.1):
        pytest.fail(f"instance {name} did not become ready")
    assert process.poll() is None, (state / "stderr").read_text()[-2000:]
    return instance


def _ready(instance: Instance) -> bool:
    try:
        return httpx.get(f"{instance.url}/readyz", timeout=10).status_code == 200
    except httpx.HTTPError:
        return False


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    redis_url = require_redis()
    tmp_path = tmp_path_factory.mktemp("instances")
    gate = threading.Event()
    model = ScriptedOpenAI()
    model.script = script(gate)
    with fresh_postgres_database() as database_url, ThreadedServer(model.app) as model_server:
        env = {key: value for key, value in os.environ.items() if key not in SCRUBBED_ENV}
        env.update(
            DATABASE_URL=database_url,
            CHATGATE_AUTO_MIGRATE="true",
            REDIS_URL=redis_url,
            JWT_SECRET=TEST_JWT_SECRET,
            OPENAI_BASE_URL=f"{model_server.url}/v1",
            AGENT_MODEL="scripted",
            MCP_LAUNCHER="fork",
            FILES_ROOT=str(tmp_path / "files"),  # the shared volume
            RATE_LIMIT_CHATS_PER_MINUTE=str(PER_MINUTE),
            MAX_CONCURRENT_CHATS_PER_USER="100",
            STREAM_KEEPALIVE_SECONDS="0.5",
            CHAT_TIMEOUT_SECONDS=str(CHAT_TIMEOUT_SECONDS),
            LOG_LEVEL="WARNING",
        )
        # One after the other: the first migrates the empty database, the second finds it current.
        instances = [start_instance(tmp_path, "a", env)]
        instances.append(start_instance(tmp_path, "b", env))
        try:
            with RoundRobinProxy([("127.0.0.1", each.port) for each in instances]) as proxy:
                yield Cluster(instances, proxy, model, gate)
        finally:
            gate.set()
            for instance in instances:
                if instance.process.poll() is None:
                    instance.process.send_signal(signal.SIGINT)
            for instance in instances:
                try:
                    instance.process.wait(timeout=60)
                except subprocess.TimeoutExpired:
                    instance.process.kill()
                    instance.process.wait(timeout=10)


def user() -> str:
    """A user of this run only: Redis is shared with other runs, and limits are kept per user."""
    return f"user-{uuid.uuid4().hex[:10]}"


def chat(cluster: Cluster, who: str, message: str, conversation_id: str, *, on: int) -> httpx.Response:
    cluster.proxy.send_next_to(on)
    return httpx.post(
        f"{cluster.proxy.url}/api/agents/chat",
        json={"message": message, "conversation_id": conversation_id},
        headers=auth(who),
        timeout=60,
    )


def stream(cluster: Cluster, who: str, message: str, conversation_id: str, *, on: int) -> StreamReader:
    cluster.proxy.send_next_to(on)
    body = {"message": message, "conversation_id": conversation_id, "stream": True}
    reader = StreamReader("POST", f"{cluster.proxy.url}/api/agents/chat", json=body, headers=auth(who))
    assert reader.wait_status() == 200
    return reader


def conversation(cluster: Cluster, who: str, conversation_id: str, *, on: int) -> dict[str, Any]:
    cluster.proxy.send_next_to(on)
    response = httpx.get(
        f"{cluster.proxy.url}/api/agents/conversations/{conversation_id}", headers=auth(who), timeout=30
    )
    assert response.status_code == 200, response.text
    detail: dict[str, Any] = response.json()
    return detail


def message_texts(detail: dict[str, Any]) -> list[str]:
    return [str(m.get("text")) for m in detail["messages"] if m["type"] == "message"]


def test_a_conversation_continues_on_either_instance(cluster: Cluster) -> None:
    who, conversation_id = user(), f"c-{uuid.uuid4().hex[:8]}"
    replies = [chat(cluster, who, f"turn {turn}", conversation_id, on=turn % 2) for turn in range(3)]
    assert [reply.status_code for reply in replies] == [200, 200, 200]
    assert cluster.proxy.routed[-3:] == [0, 1, 0]
    # The third turn, on the first instance, saw the second one, answered by the other.
    assert replies[2].json()["response"] == "ok, 3 user message(s) seen"
    detail = conversation(cluster, who, conversation_id, on=1)
    assert message_texts(detail)[:2] == ["turn 0", "ok, 1 user message(s) seen"]
    assert len(detail["runs"]) == 3


def test_busy_on_one_instance_is_409_on_the_other_and_resume_follows_from_there(cluster: Cluster) -> None:
    who, conversation_id = user(), f"busy-{uuid.uuid4().hex[:8]}"
    held = cluster.model.held
    original = stream(cluster, who, "slow, please", conversation_id, on=0)
    try:
        assert wait_until(lambda: cluster.model.held == held + 1, timeout=60)
        assert original.wait_for(FIRST_PART.strip())
        second = chat(cluster, who, "me again", conversation_id, on=1)
        assert second.status_code == 409 and second.json()["error"]["code"] == "conversation_busy"
        cluster.proxy.send_next_to(1)
        resumed = StreamReader(
            "GET", f"{cluster.proxy.url}/api/agents/chat/{conversation_id}/stream", headers=auth(who)
        )
        assert resumed.wait_for(FIRST_PART.strip()), "replayed on the other instance"
        assert resumed.status == 200
    finally:
        cluster.gate.set()
    original.join()
    resumed.join()
    cluster.gate.clear()
    sent, _ = parse_sse(original.text)
    check_chunks(sent)
    assert sent[-1]["type"] == "finish"
    assert parse_sse(resumed.text)[0] == sent
    cluster.proxy.send_next_to(1)
    after = httpx.get(
        f"{cluster.proxy.url}/api/agents/chat/{conversation_id}/stream", headers=auth(who), timeout=30
    )
    assert after.status_code == 204


def test_rate_limits_are_shared(cluster: Cluster) -> None:
    who = user()
    replies = [
        chat(cluster, who, "quick", f"r-{uuid.uuid4().hex[:8]}", on=turn % 2) for turn in range(PER_MINUTE)
    ]
    assert [reply.status_code for reply in replies] == [200] * PER_MINUTE
    for instance in (0, 1):
        refused = chat(cluster, who, "one more", f"r-{uuid.uuid4().hex[:8]}", on=instance)
        assert refused.status_code == 429 and refused.json()["error"]["code"] == "rate_limited"
        assert int(refused.headers["retry-after"]) >= 1


@pytest.mark.timeout(300)  # a lease to lapse besides the kill, on a loaded machine
def test_killing_an_instance_mid_stream_loses_nothing_and_leaves_no_orphan(cluster: Cluster) -> None:
    victim, survivor = cluster.instances
    who, earlier, cut = user(), f"k-{uuid.uuid4().hex[:8]}", f"cut-{uuid.uuid4().hex[:8]}"
    assert chat(cluster, who, "before the crash", earlier, on=0).status_code == 200
    held = cluster.model.held
    doomed = stream(cluster, who, "slow on the victim", cut, on=0)
    elsewhere_id = f"live-{uuid.uuid4().hex[:8]}"
    elsewhere = stream(cluster, user(), "slow on the survivor", elsewhere_id, on=1)
    try:
        assert wait_until(lambda: cluster.model.held == held + 2, timeout=60)
        victims_tools = victim.tool_servers()
        assert victims_tools and survivor.tool_servers(), "both chats hold a tool server"
        victim.process.send_signal(signal.SIGKILL)
        victim.process.wait(timeout=30)
        # Its tool servers die with it (PR_SET_PDEATHSIG / a watchdog), not left to the survivor's host.
        assert wait_until(lambda: not any(_alive(p) for p in victims_tools), timeout=30)
        doomed.join()
    finally:
        cluster.gate.set()
    elsewhere.join()
    assert parse_sse(elsewhere.text)[0][-1]["type"] == "finish"
    assert wait_until(lambda: not survivor.tool_servers(), timeout=60)
    # Everything stored before the crash is there, read through the survivor.
    detail = conversation(cluster, who, earlier, on=1)
    assert message_texts(detail) == ["before the crash", "ok, 1 user message(s) seen"]
    assert "slow on the victim" in message_texts(conversation(cluster, who, cut, on=1))
    # The interrupted answer's readers are told it ended once its lease lapses.
    cluster.proxy.send_next_to(1)
    resumed = StreamReader("GET", f"{cluster.proxy.url}/api/agents/chat/{cut}/stream", headers=auth(who))
    resumed.join()
    if resumed.status == 200:
        assert parse_sse(resumed.text)[0][-1] == {"type": "abort"}
    else:
        assert resumed.status == 204
    # The victim's claim lapses with its instance lease (INSTANCE_LEASE_SECONDS), long before the
    # claim's age would free it (CHAT_TIMEOUT_SECONDS + 60): the survivor answers the conversation again.
    assert wait_until(
        lambda: not conversation(cluster, who, cut, on=1)["running"],
        timeout=LEASE_WAIT_SECONDS,
        interval=0.5,
    ), "the dead instance's claim still blocks the conversation"
    again = chat(cluster, who, "after the crash", cut, on=1)
    assert again.status_code == 200, again.text
    assert again.json()["response"] == "ok, 2 user message(s) seen"  # the cut turn's message was kept
    detail = conversation(cluster, who, cut, on=1)
    assert message_texts(detail) == ["slow on the victim", "after the crash", "ok, 2 user message(s) seen"]
    assert [run["outcome"] for run in detail["runs"]] == ["interrupted", "completed"]


def _alive(process: psutil.Process) -> bool:
    try:
        return process.is_running() and process.status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False
