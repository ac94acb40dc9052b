"""Graceful drain of a real `chatgate serve` process on SIGTERM, with chats held in flight by a gated
model: readiness turns 503, new chats get 503 draining, chats in flight (a stream included) finish
within SHUTDOWN_GRACE_SECONDS or are cancelled and recorded interrupted; exit 0, no process left."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import psutil
import pytest

from support.gated_model import GatedOpenAI
from support.processes import wait_until
from support.servers import ThreadedServer, free_port
from support.settings import RAISED_LIMITS, SCRUBBED_ENV
from support.tokens import TEST_JWT_SECRET, auth

START_TIMEOUT = 60.0


@pytest.fixture
def gated() -> Iterator[GatedOpenAI]:
    model = GatedOpenAI()
    with ThreadedServer(model.app) as server:
        model.base_url = f"{server.url}/v1"  # type: ignore[attr-defined]
        yield model
        model.release()  # nothing may stay blocked in the model server


@dataclass
class Served:
    process: subprocess.Popen[bytes]
    url: str
    state_dir: Path
    results: dict[str, object] = field(default_factory=dict)

    def descendants(self) -> set[int]:
        try:
            return {child.pid for child in psutil.Process(self.process.pid).children(recursive=True)}
        except psutil.NoSuchProcess:
            return set()


def serve(tmp_path: Path, model: GatedOpenAI, grace_seconds: float) -> Served:
    port = free_port()
    env = {key: value for key, value in os.environ.items() if key not in SCRUBBED_ENV}
    env.update({key: str(value) for key, value in RAISED_LIMITS.items()})
    env.update(
        CHATGATE_STATE_DIR=str(tmp_path),
        JWT_SECRET=TEST_JWT_SECRET,
        OPENAI_BASE_URL=model.base_url,  # type: ignore[attr-defined]
        AGENT_MODEL="gated",
        MCP_LAUNCHER="fork",
        SHUTDOWN_GRACE_SECONDS=str(grace_seconds),
        LOG_LEVEL="WARNING",
    )
    process = subprocess.Popen(
        [sys.executable, "-m", "chatgate", "serve", "--port", str(port)],
        env=env,
        cwd=tmp_path,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    served = Served(process=process, url=f"http://127.0.0.1:{port}", state_dir=tmp_path)
    if not wait_until(lambda: _ready(served), timeout=START_TIMEOUT, interval=0.1):
        process.kill()
        pytest.fail("chatgate serve did not become ready")
    return served


def _ready(served: Served) -> bool:
    try:
        return httpx.get(f"{served.url}/readyz", timeout=10).status_code == 200
    except httpx.HTTPError:
        return False


def start_chats(served: Served) -> list[threading.Thread]:
    """One JSON chat and one streamed chat, each in its own thread; results land in `served.results`."""

    def json_chat() -> None:
        served.results["json"] = httpx.post(
            f"{served.url}/api/agents/chat", json={"message": "json"}, headers=auth("drain-a"), timeout=120
        )

    def stream_chat() -> None:
        with httpx.stream(
            "POST",
            f"{served.url}/api/agents/chat",
            json={"message": "stream", "stream": True},
            headers=auth("drain-b"),
            timeout=120,
        ) as response:
            served.results["stream_status"] = response.status_code
            served.results["stream"] = response.read().decode()

    threads = [threading.Thread(target=json_chat), threading.Thread(target=stream_chat)]
    for thread in threads:
        thread.start()
    return threads


def draining_reported(served: Served) -> bool:
    response = httpx.get(f"{served.url}/readyz", timeout=10)
    return response.status_code == 503 and response.json()["error"]["code"] == "draining"


def stop_and_check(served: Served, before: set[int]) -> None:
    assert served.process.wait(timeout=90) == 0
    assert before, "the chats in flight had tool servers"
    assert wait_until(lambda: not any(psutil.pid_exists(pid) and _alive(pid) for pid in before), timeout=15)


def _alive(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


def test_sigterm_lets_chats_in_flight_finish_and_refuses_new_ones(tmp_path: Path, gated: GatedOpenAI) -> None:
    served = serve(tmp_path, gated, grace_seconds=60)
    threads = start_chats(served)
    try:
        assert wait_until(lambda: gated.entered == 2, timeout=60)
        before = served.descendants()
        served.process.send_signal(signal.SIGTERM)
        assert wait_until(lambda: draining_reported(served), timeout=30)
        refused = httpx.post(
            f"{served.url}/api/agents/chat", json={"message": "late"}, headers=auth("late"), timeout=30
        )
        assert refused.status_code == 503
        assert refused.json()["error"]["code"] == "draining"
        assert int(refused.headers["Retry-After"]) >= 1
        assert served.process.poll() is None  # still serving while the chats run
        gated.release()
        for thread in threads:
            thread.join(timeout=60)
        answer = served.results["json"]
        assert isinstance(answer, httpx.Response) and answer.status_code == 200, answer
        assert answer.json()["response"] == "released answer"
        assert served.results["stream_status"] == 200
        stream = str(served.results["stream"])
        assert '"type":"finish"' in stream and "data: [DONE]" in stream and '"type":"error"' not in stream
        stop_and_check(served, before)
    finally:
        if served.process.poll() is None:
            served.process.kill()


def test_chats_past_the_grace_are_cancelled_recorded_and_torn_down(
    tmp_path: Path, gated: GatedOpenAI
) -> None:
    served = serve(tmp_path, gated, grace_seconds=1)
    threads = start_chats(served)
    try:
        assert wait_until(lambda: gated.entered == 2, timeout=60)
        before = served.descendants()
        served.process.send_signal(signal.SIGTERM)  # the model never answers
        for thread in threads:
            thread.join(timeout=60)
        answer = served.results["json"]
        assert isinstance(answer, httpx.Response) and answer.status_code == 503, answer
        assert answer.json()["error"]["code"] == "draining"
        stream = str(served.results["stream"])
        assert '"type":"error"' in stream and "restarted while answering" in stream
        assert stream.rstrip().endswith("data: [DONE]")
        stop_and_check(served, before)
    finally:
        if served.process.poll() is None:
            served.process.kill()
    with sqlite3.connect(tmp_path / "chatgate.db") as db:
        outcomes = [row[0] for row in db.execute("SELECT outcome FROM conversation_runs")]
        running = db.execute(
            "SELECT count(*) FROM conversations WHERE active_request_id IS NOT NULL"
        ).fetchone()
    assert outcomes == ["interrupted", "interrupted"]
    assert running == (0,)
