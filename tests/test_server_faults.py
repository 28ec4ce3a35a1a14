"""The service survives its own faults: the store failing (SQLite disk full or read-only,
Redis restarted) and a pipeline worker killed. Nothing acknowledged is lost, nothing is
sent before it is stored, every watch hears of a fault once (error 4503)."""

from __future__ import annotations

import json
import logging
import os
import shutil
import signal
import sqlite3
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import redis
from fastapi.testclient import TestClient
from starlette.testclient import WebSocketTestSession
from websockets.exceptions import InvalidStatus
from websockets.sync.client import connect

from conftest import free_port, service_settings, start_server, stop_server
from prism.data.recording import read_recording
from prism.errors import StoreError, StoreUnavailableError
from prism.protocol import ErrorCode, SensorFrame, encode_frame
from prism.server.app import create_app
from prism.server.registry import SessionRegistry
from prism.settings import Settings
from prism.storage import Record, SqliteStore, StoredInput
from prism.storage.redis_store import RedisStore
from prism.watch.replay import sensor_frames

RECORDING = read_recording(Path("datasets/demo/latte_making-s000"))
FRAMES = sensor_frames(RECORDING)
UNAVAILABLE = int(ErrorCode.UNAVAILABLE)


def _frame(seq: int) -> bytes:
    frame = FRAMES[seq - 1]
    return encode_frame(SensorFrame(frame.kind, seq, frame.t0, frame.rate, frame.samples))


def _until(check: Callable[[], bool], what: str, timeout_s: float = 30.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.05)


# ----------------------------------------------------------------- store errors
def _full(db: sqlite3.Connection) -> None:
    pages = db.execute("PRAGMA page_count").fetchone()[0]
    db.execute(f"PRAGMA max_page_count = {pages}")


def _roomy(db: sqlite3.Connection) -> None:
    db.execute("PRAGMA max_page_count = 1073741823")


def _read_only(db: sqlite3.Connection) -> None:
    db.execute("PRAGMA query_only = 1")


def _writable(db: sqlite3.Connection) -> None:
    db.execute("PRAGMA query_only = 0")


SQLITE_FAULTS = {  # how to cause the fault on the store's own connection, how to end it
    "disk full": (_full, _roomy),
    "read-only": (_read_only, _writable),
}


def _poke(store: SqliteStore, change: Callable[[sqlite3.Connection], None]) -> None:
    """Change the store's own connection (a test hook: not part of the store's API)."""
    with store._lock:
        change(store._db)


@pytest.mark.parametrize("fault", sorted(SQLITE_FAULTS))
def test_sqlite_faults_are_unavailable_errors_naming_store_and_operation(
    tmp_path: Path, fault: str
) -> None:
    store = SqliteStore(tmp_path / "s.sqlite3")
    store.add_session("s", "d", "latte_making")
    cause, end = SQLITE_FAULTS[fault]
    _poke(store, cause)
    big = Record("s", [StoredInput(1, "frame", bytes(200_000))])
    with pytest.raises(StoreUnavailableError, match=rf"s\.sqlite3: storing 1 records .*{fault}"):
        store.record_many([big])
    _poke(store, end)
    store.record_many([big])  # the same write goes through once the fault is over
    assert [i.seq for i in store.inputs("s")] == [1]
    with pytest.raises(StoreError, match="adding a session failed: UNIQUE") as raised:
        store.add_session("s", "d", "latte_making")  # a bug, not a passing fault
    assert not isinstance(raised.value, StoreUnavailableError)
    store.close()


def test_an_unreachable_redis_is_an_unavailable_error_without_its_password() -> None:
    url = f"redis://:secret@127.0.0.1:{free_port()}/0"
    with pytest.raises(StoreUnavailableError, match=r"Redis store 127\.0\.0\.1:\d+/0: conn") as e:
        RedisStore(url, timeout_s=1.0)
    assert "secret" not in str(e.value)


# ----------------------------------------------------------------- a watch in process
def _app_session(settings: Settings) -> tuple[TestClient, dict[str, str], str, str]:
    """A started app (the caller exits it), a device's auth header and token, a session."""
    client = TestClient(create_app(settings))
    client.__enter__()
    admin = {"Authorization": "Bearer admin"}
    # a recording device keeps every input: the database only grows, so capping its pages
    # (a full disk) stops the next write (deleted inputs would leave free pages to reuse)
    device = {"name": "w", "recording": True}
    token = client.post("/v1/devices", json=device, headers=admin).json()["token"]
    auth = {"Authorization": f"Bearer {token}"}
    made = client.post("/v1/sessions", json={"procedure": "latte_making"}, headers=auth)
    return client, auth, token, made.json()["session_id"]


def _receive_until(ws: WebSocketTestSession, kind: str, got: list[dict[str, Any]]) -> None:
    """Receive into ``got`` until a message of type ``kind`` (or a final step)."""
    while True:
        message = ws.receive_json()
        got.append(message)
        if message["type"] == kind and (kind != "step" or message["final"]):
            return


def _numbered(messages: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [m for m in messages if m["type"] != "error"]


def _check_stream(received: list[dict[str, Any]], last_frame: int) -> None:
    """Every message once, numbered 1, 2, ...; one 4503; the final step after the frames."""
    errors = [m for m in received if m["type"] == "error"]
    assert [e["code"] for e in errors] == [UNAVAILABLE], errors
    assert errors[0]["seq"] == 0
    numbers = [m["seq"] for m in _numbered(received)]
    assert numbers == list(range(1, len(numbers) + 1))
    steps = [m for m in received if m["type"] == "step"]
    assert steps[-1]["final"] and steps[-1]["t"] >= FRAMES[last_frame - 1].t0 - 1.0


@pytest.fixture
def sqlite_app(tmp_path: Path) -> Iterator[tuple[Settings, TestClient, dict[str, str], str, str]]:
    settings = service_settings(
        admin_token="admin",
        database=str(tmp_path / "db.sqlite3"),
        warm_up_sessions=0,
        checkpoint_every_s=5.0,
    )
    client, auth, token, session_id = _app_session(settings)
    try:
        yield settings, client, auth, token, session_id
    finally:
        client.__exit__(None, None, None)
        registry: SessionRegistry = client.app.state.registry  # type: ignore[attr-defined]
        registry.close()


@pytest.mark.parametrize("fault", sorted(SQLITE_FAULTS))
def test_a_watch_streams_through_a_sqlite_fault(
    sqlite_app: tuple[Settings, TestClient, dict[str, str], str, str],
    fault: str,
    caplog: pytest.LogCaptureFixture,
) -> None:
    settings, client, auth, token, session_id = sqlite_app
    registry: SessionRegistry = client.app.state.registry  # type: ignore[attr-defined]
    store = registry.store
    assert isinstance(store, SqliteStore)
    cause, end = SQLITE_FAULTS[fault]
    received: list[dict[str, Any]] = []
    caplog.set_level(logging.WARNING)
    with client.websocket_connect(f"/v1/sessions/{session_id}/stream?token={token}") as ws:
        ws.send_json({"type": "hello", "seq": 1, "protocol": 1})
        assert ws.receive_json()["type"] == "welcome"
        for seq in range(1, 101):
            ws.send_bytes(_frame(seq))
        ws.send_json({"type": "question", "seq": 101, "text": "where am I?", "t": 1.0})
        _receive_until(ws, "answer", received)
        before = len(received)
        _poke(store, cause)
        for seq in range(102, 131):
            ws.send_bytes(_frame(seq))
        _until(lambda: client.get("/v1/health").status_code == 503, "the fault to show")
        health = client.get("/v1/health").json()
        assert health["status"] == "degraded" and health["store"].startswith("unavailable: ")
        assert fault in health["store"] and "storing" in health["store"]
        assert "prism_store_available 0" in client.get("/metrics").text
        error = ws.receive_json()  # the held messages are not sent: the error comes first
        assert error["code"] == UNAVAILABLE and error["seq"] == 0
        received.append(error)
        for seq in range(131, 201):  # more than the session may have waiting
            ws.send_bytes(_frame(seq))
        session = registry.sessions[session_id]
        limit = settings.server.max_pending_frames
        _until(lambda: session.pending_frames == limit, "the frames to wait")
        time.sleep(0.5)  # retries meanwhile: nothing is sent, logged, taken or stored
        assert session.pending_frames == limit  # the connection is not read further
        assert len(store.outputs(session_id)) == before
        _poke(store, end)
        ws.send_json({"type": "end", "seq": 201, "t": 30.0})
        _receive_until(ws, "step", received)
    _check_stream(received, 200)
    assert client.get("/v1/health").json()["status"] == "ok"
    metrics = client.get("/metrics").text
    assert "prism_store_available 1" in metrics
    errors = next(line for line in metrics.splitlines() if line.startswith("prism_store_errors"))
    assert int(errors.split()[1]) >= 2  # retried, counted
    assert "prism_internal_errors_total" not in metrics
    said = [r for r in caplog.records if r.levelno >= logging.WARNING]
    assert [r.getMessage().split(",")[0].split(":")[0] for r in said] == [
        "store unavailable",
        "store available again",
    ]
    assert all(r.exc_info is None for r in said)
    events = client.get(f"/v1/sessions/{session_id}/events", headers=auth).json()
    assert events == _numbered(received)
    inputs = [i.seq for i in store.inputs(session_id)]
    assert inputs == list(range(1, 202))
    with TestClient(create_app(settings)) as again:  # a restart finds the same session
        assert again.get(f"/v1/sessions/{session_id}/events", headers=auth).json() == events
        assert again.get(f"/v1/sessions/{session_id}", headers=auth).json()["ended"] is True
        again.app.state.registry.close()  # type: ignore[attr-defined]


def test_a_killed_pipeline_worker_is_restarted_and_its_sessions_rebuilt(tmp_path: Path) -> None:
    settings = service_settings(
        admin_token="admin",
        database=str(tmp_path / "db.sqlite3"),
        warm_up_sessions=0,
        checkpoint_every_s=5.0,
        pipeline_workers=1,
    )
    client, auth, token, session_id = _app_session(settings)
    registry: SessionRegistry = client.app.state.registry  # type: ignore[attr-defined]
    try:
        received: list[dict[str, Any]] = []
        with client.websocket_connect(f"/v1/sessions/{session_id}/stream?token={token}") as ws:
            ws.send_json({"type": "hello", "seq": 1, "protocol": 1})
            ws.receive_json()
            for seq in range(1, 151):
                ws.send_bytes(_frame(seq))
            ws.send_json({"type": "question", "seq": 151, "text": "where am I?", "t": 1.0})
            _receive_until(ws, "answer", received)
            (killed,) = registry.pipeline.pids  # type: ignore[attr-defined]
            os.kill(killed, signal.SIGKILL)
            time.sleep(0.2)
            for seq in range(152, 251):
                ws.send_bytes(_frame(seq))
            _until(lambda: client.get("/v1/health").status_code == 503, "the restart to show")
            assert client.get("/v1/health").json()["pipeline"].startswith("restarting")
            ws.send_json({"type": "end", "seq": 251, "t": 60.0})
            _receive_until(ws, "step", received)
        _check_stream(received, 250)
        assert registry.pipeline.pids != [killed]  # type: ignore[attr-defined]
        assert client.get("/v1/health").json()["status"] == "ok"
        metrics = client.get("/metrics").text
        assert "prism_pipeline_workers_restarted_total 1" in metrics
        assert "prism_internal_errors_total" not in metrics
        # the frames of the batch that failed were stepped again: all stored, once, in order
        assert [i.seq for i in registry.store.inputs(session_id)] == list(range(1, 252))
        marks = [m["in_seq"] for m in received if m["type"] == "step" and m.get("in_seq")]
        assert marks == sorted(marks) and marks[-1] > 200
        state = client.get(f"/v1/sessions/{session_id}", headers=auth).json()
        events = client.get(f"/v1/sessions/{session_id}/events", headers=auth).json()
        assert events == _numbered(received)
    finally:
        client.__exit__(None, None, None)
        registry.close()
    restarted = service_settings(
        admin_token="admin", database=settings.server.database, warm_up_sessions=0
    )
    with TestClient(create_app(restarted)) as again:  # rebuilt from the store alone
        after = again.get(f"/v1/sessions/{session_id}", headers=auth).json()
        assert after.pop("probability") == pytest.approx(state.pop("probability"), abs=1e-6)
        assert after == state
        again.app.state.registry.close()  # type: ignore[attr-defined]


# ----------------------------------------------------------------- Redis restarted
class _Redis:
    """A redis-server with ``appendonly yes`` (its data survives a restart), started and
    stopped by its own pid."""

    def __init__(self, binary: str, folder: Path) -> None:
        self.binary, self.folder, self.port = binary, folder, free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        self.process = subprocess.Popen(
            [self.binary, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
             "--appendonly", "yes", "--appendfsync", "always", "--dir", str(self.folder)],
            stdout=subprocess.DEVNULL,
        )  # fmt: skip
        client = redis.Redis.from_url(self.url)
        try:
            _until(lambda: _answers(client), "redis-server to start", timeout_s=20)
        finally:
            client.close()

    def stop(self) -> None:
        if self.process is not None:
            self.process.terminate()
            self.process.wait(timeout=10)
            self.process = None


def _answers(client: redis.Redis) -> bool:
    try:
        return bool(client.ping())
    except redis.RedisError:
        return False


@pytest.fixture
def restartable_redis(tmp_path: Path) -> Iterator[_Redis]:
    binary = shutil.which("redis-server")
    if binary is None:
        pytest.skip("redis-server is not installed (apt-get install redis-server)")
    server = _Redis(binary, tmp_path)
    server.start()
    try:
        yield server
    finally:
        server.stop()


def test_a_redis_write_retried_after_its_connection_broke_is_not_doubled(
    restartable_redis: _Redis,
) -> None:
    store = RedisStore(restartable_redis.url, prefix="retried")
    store.add_session("s", "d", "latte_making")
    record = Record("s", [StoredInput(1, "frame", b"a"), StoredInput(2, "frame", b"b")])
    store.record_many([record])
    store._unsure = True  # as after a broken connection: the write may have been applied
    store.record_many([record])  # the writer's retry
    store.record_many([Record("s", [StoredInput(3, "frame", b"c")])])
    assert [i.seq for i in store.inputs("s")] == [1, 2, 3]
    store.close()


def test_a_watch_streams_through_a_redis_restart(restartable_redis: _Redis) -> None:
    port = free_port()
    settings = {"redis_url": restartable_redis.url, "warm_up_sessions": "0"}
    service = start_server(port, settings)
    try:
        base = f"http://127.0.0.1:{port}"
        admin = {"Authorization": "Bearer admin"}
        token = httpx.post(f"{base}/v1/devices", json={"name": "w"}, headers=admin).json()
        auth = {"Authorization": f"Bearer {token['token']}"}
        made = httpx.post(f"{base}/v1/sessions", json={"procedure": "latte_making"}, headers=auth)
        session_id = made.json()["session_id"]
        received: list[dict[str, Any]] = []
        url = f"ws://127.0.0.1:{port}/v1/sessions/{session_id}/stream"
        with connect(url, additional_headers=auth) as ws:

            def until(kind: str) -> None:
                while True:
                    message = json.loads(ws.recv(timeout=60))
                    received.append(message)
                    if message["type"] == kind and (kind != "step" or message["final"]):
                        return

            ws.send(json.dumps({"type": "hello", "seq": 1, "protocol": 1}))
            json.loads(ws.recv(timeout=30))
            for seq in range(1, 101):
                ws.send(_frame(seq))
            ws.send(json.dumps({"type": "question", "seq": 101, "text": "where?", "t": 1}))
            until("answer")
            restartable_redis.stop()
            for seq in range(102, 141):
                ws.send(_frame(seq))
            until("error")
            assert received[-1]["code"] == UNAVAILABLE
            health = httpx.get(f"{base}/v1/health")
            assert health.status_code == 503
            assert health.json()["store"].startswith("unavailable: Redis store 127.0.0.1")
            listed = httpx.get(f"{base}/v1/sessions", headers=auth)  # needs the store
            assert listed.status_code == 503 and "try again" in listed.json()["detail"]
            opened = httpx.post(f"{base}/v1/sessions", json={"procedure": "latte_making"},
                                headers=auth)  # fmt: skip
            assert opened.status_code == 503  # and not opened
            with pytest.raises(InvalidStatus) as refused:  # another connection: not attached
                connect(url, additional_headers=auth, open_timeout=10).close()
            assert refused.value.response.status_code == 503
            restartable_redis.start()
            for seq in range(141, 161):
                ws.send(_frame(seq))
            ws.send(json.dumps({"type": "end", "seq": 161, "t": 30}))
            until("step")
        _check_stream(received, 160)
        assert httpx.get(f"{base}/v1/health").json()["status"] == "ok"
        metrics = httpx.get(f"{base}/metrics").text
        assert "prism_store_available 1" in metrics
        assert "prism_store_errors_total 0" not in metrics
        listed = httpx.get(f"{base}/v1/sessions", headers=auth).json()
        assert [s["session_id"] for s in listed] == [session_id]
        stop_server(service)
        service = start_server(port, settings)  # a new process reads it all from Redis
        events = httpx.get(f"{base}/v1/sessions/{session_id}/events", headers=auth).json()
        assert events == _numbered(received)
        state = httpx.get(f"{base}/v1/sessions/{session_id}", headers=auth).json()
        assert state["ended"] is True
    finally:
        stop_server(service)
