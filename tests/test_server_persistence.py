"""Sessions survive a restart, also a kill -9: rebuilt from SQLite, resumed by the watch."""

from __future__ import annotations

import json
import signal
import sqlite3
import subprocess
import time
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient
from websockets.sync.client import connect

from conftest import free_port, service_settings, start_server, stop_server
from prism.data.recording import read_recording
from prism.protocol import SensorFrame, encode_frame
from prism.server.app import create_app
from prism.storage import Record, SqliteStore, StoredInput
from prism.watch.replay import sensor_frames

RECORDING = read_recording(Path("datasets/demo/latte_making-s000"))
FRAMES = sensor_frames(RECORDING)


def _frame(seq: int) -> bytes:
    frame = FRAMES[seq - 1]
    return encode_frame(SensorFrame(frame.kind, seq, frame.t0, frame.rate, frame.samples))


def test_store_round_trip(tmp_path: Path) -> None:
    store = SqliteStore(tmp_path / "s.sqlite3")
    store.add_device("d", "hash", "watch")
    store.add_session("s", "d", "latte_making")
    store.record("s", StoredInput(1, "control", b"{}"), [{"seq": 1, "type": "step"}], acked=1)
    store.record("s", None, [], acked=0)  # an older acknowledgement does not go back
    store.close()
    again = SqliteStore(tmp_path / "s.sqlite3")
    assert again.devices() == {"d": "hash"}
    assert [(r.session_id, r.acked, r.ended) for r in again.sessions()] == [("s", 1, False)]
    assert list(again.inputs("s")) == [StoredInput(1, "control", b"{}")]
    assert again.outputs("s") == [{"seq": 1, "type": "step"}]


def test_a_database_of_an_older_version_gains_the_new_columns(tmp_path: Path) -> None:
    """Written before sessions had epochs, recording flags, last seqs, end times and
    pruned inputs: it opens, its ended sessions' retention starts now, nothing is lost."""
    path = tmp_path / "old.sqlite3"
    old = sqlite3.connect(path)
    old.executescript(
        """
        CREATE TABLE devices (device_id TEXT PRIMARY KEY, token_hash TEXT NOT NULL,
            name TEXT NOT NULL);
        CREATE TABLE sessions (session_id TEXT PRIMARY KEY, device_id TEXT NOT NULL,
            procedure TEXT NOT NULL, created REAL NOT NULL,
            ended INTEGER NOT NULL DEFAULT 0, acked INTEGER NOT NULL DEFAULT 0);
        INSERT INTO devices VALUES ('d', 'hash', 'watch');
        INSERT INTO sessions VALUES ('over', 'd', 'latte_making', 1.0, 1, 3);
        INSERT INTO sessions VALUES ('live', 'd', 'latte_making', 2.0, 0, 0);
        """
    )
    old.commit()
    old.close()
    before = time.time()
    store = SqliteStore(path)
    over, live = store.session("over"), store.session("live")
    assert over is not None and live is not None
    assert (over.ended, over.acked, over.epoch, over.recording, over.last_seq) == (
        True,
        3,
        0,
        False,
        0,
    )
    assert over.ended_at is not None and over.ended_at >= before and live.ended_at is None
    assert store.purge_ended(before) == []
    assert store.purge_ended(time.time() + 1) == ["over"]
    store.add_device("r", "hash-r", "research watch", recording=True)
    assert store.add_session("s", "r", "latte_making").recording
    store.close()


def test_the_write_ahead_log_stays_bounded_under_steady_commits(tmp_path: Path) -> None:
    """Commits without pause (a service streaming audio for many sessions): the WAL is
    copied into the database and rewound, instead of growing with all that was written."""
    path = tmp_path / "s.sqlite3"
    store = SqliteStore(path, wal_copy_every_s=0.02)
    store.add_device("d", "hash", "watch")
    store.add_session("s", "d", "latte_making")
    body = bytes(64 * 1024)  # 2 s of 16 kHz float32 audio is 128 kB
    written = largest_wal = 0
    for seq in range(1, 1201):
        store.record_many([Record("s", [StoredInput(seq, "frame", body)])])
        time.sleep(0.001)  # commits come in batches, not in one tight loop
        written += len(body)
        if seq % 50 == 0:
            largest_wal = max(largest_wal, Path(f"{path}-wal").stat().st_size)
    store.close()
    assert written > 75e6
    assert largest_wal < written / 4, (largest_wal, written)
    again = SqliteStore(path)
    assert [i.seq for i in again.inputs("s")] == list(range(1, 1201))


def test_a_restarted_app_rebuilds_its_sessions(tmp_path: Path) -> None:
    settings = service_settings(
        admin_token="admin", database=str(tmp_path / "db.sqlite3"), warm_up_sessions=0
    )
    admin = {"Authorization": "Bearer admin"}
    with TestClient(create_app(settings)) as client:
        token = client.post("/v1/devices", json={"name": "w"}, headers=admin).json()["token"]
        auth = {"Authorization": f"Bearer {token}"}
        session = client.post("/v1/sessions", json={"procedure": "latte_making"}, headers=auth)
        session_id = session.json()["session_id"]
        with client.websocket_connect(f"/v1/sessions/{session_id}/stream?token={token}") as ws:
            ws.send_json({"type": "hello", "seq": 1, "protocol": 1})
            ws.receive_json()
            for seq in range(1, 301):
                ws.send_bytes(_frame(seq))
            ws.send_json({"type": "question", "seq": 301, "text": "where am I?", "t": 30.0})
            while (message := ws.receive_json())["type"] != "answer":
                pass
        before = client.get(f"/v1/sessions/{session_id}", headers=auth).json()
        events = client.get(f"/v1/sessions/{session_id}/events", headers=auth).json()
    with TestClient(create_app(settings)) as client:  # a new process would do the same
        after = client.get(f"/v1/sessions/{session_id}", headers=auth).json()
        # live frames were classified in batches, the rebuild classifies one session:
        # the same state up to float rounding of the network
        assert after.pop("probability") == pytest.approx(before.pop("probability"), abs=1e-6)
        assert after == before
        assert client.get(f"/v1/sessions/{session_id}/events", headers=auth).json() == events
        with client.websocket_connect(f"/v1/sessions/{session_id}/stream?token={token}") as ws:
            ws.send_json({"type": "hello", "seq": 1, "protocol": 1, "resume_from": len(events)})
            assert ws.receive_json()["next_seq"] == 302
            ws.send_json({"type": "question", "seq": 302, "text": "what's next?", "t": 31.0})
            while (message := ws.receive_json())["type"] != "answer":
                pass
            assert message["seq"] > len(events)


def _start(port: int, database: Path) -> subprocess.Popen[bytes]:
    settings = {
        "database": str(database),
        "warm_up_sessions": "0",
        "checkpoint_every_s": "5",  # the restart goes through a checkpoint
    }
    return start_server(port, settings)


def test_kill_9_loses_no_acknowledged_message(tmp_path: Path) -> None:
    port, database = free_port(), tmp_path / "db.sqlite3"
    server = _start(port, database)
    try:
        base = f"http://127.0.0.1:{port}"
        admin = {"Authorization": "Bearer admin"}
        token = httpx.post(f"{base}/v1/devices", json={"name": "w"}, headers=admin).json()["token"]
        auth = {"Authorization": f"Bearer {token}"}
        session_id = httpx.post(
            f"{base}/v1/sessions", json={"procedure": "latte_making"}, headers=auth
        ).json()["session_id"]
        url = f"ws://127.0.0.1:{port}/v1/sessions/{session_id}/stream"
        received: list[dict[str, Any]] = []
        with connect(url, additional_headers=auth) as ws:
            ws.send(json.dumps({"type": "hello", "seq": 1, "protocol": 1}))
            json.loads(ws.recv())
            for seq in range(1, 301):
                ws.send(_frame(seq))
            ws.send(json.dumps({"type": "question", "seq": 301, "text": "where am I?", "t": 30}))
            while (message := json.loads(ws.recv(timeout=30)))["type"] != "answer":
                received.append(message)
            received.append(message)
            acked = received[-1]["seq"]
            ws.send(json.dumps({"type": "ack", "seq": 302, "up_to": acked}))
            time.sleep(0.3)
        server.send_signal(signal.SIGKILL)
        server.wait(timeout=10)
        server = _start(port, database)
        with connect(url, additional_headers=auth) as ws:
            ws.send(json.dumps({"type": "hello", "seq": 1, "protocol": 1, "resume_from": 0}))
            welcome = json.loads(ws.recv(timeout=30))
            assert welcome["next_seq"] == 303
            resent = [json.loads(ws.recv(timeout=30)) for _ in range(acked)]
        assert resent == received  # every message the watch had, exactly
        metrics = httpx.get(f"http://127.0.0.1:{port}/metrics").text
        assert "prism_sessions_restored_from_checkpoint_total 1" in metrics
    finally:
        stop_server(server)
