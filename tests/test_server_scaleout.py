"""Checkpoints and scale-out: restoring a runtime from a checkpoint, two servers and two
uvicorn workers sharing sessions through Redis (a real redis-server)."""

from __future__ import annotations

import json
import subprocess
import time
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import ClientConnection, connect

from conftest import free_port, service_settings, start_server, stop_server
from prism.data.recording import read_recording
from prism.protocol import SensorFrame, encode_frame
from prism.server.app import create_app
from prism.server.checkpoint import MAGIC, CheckpointError, dump_runtime, load_runtime
from prism.server.pipeline import LocalPipeline
from prism.settings import Settings
from prism.storage import SqliteStore
from prism.watch.replay import sensor_frames

RECORDING = read_recording(Path("datasets/demo/latte_making-s000"))
FRAMES = sensor_frames(RECORDING)


def _frame(seq: int, index: int | None = None) -> bytes:
    """Recording frame ``index`` (default ``seq - 1``) numbered ``seq``."""
    frame = FRAMES[(seq if index is None else index + 1) - 1]
    return encode_frame(SensorFrame(frame.kind, seq, frame.t0, frame.rate, frame.samples))


def test_a_runtime_restored_from_its_checkpoint_continues_exactly() -> None:
    pipeline = LocalPipeline(Path("tasks"), Path("models"))
    pipeline.open("a", "latte_making")
    half = len(FRAMES) // 2
    for seq in range(1, half + 1):
        pipeline.step({"a": [_frame(seq)]})
    blob = dump_runtime(pipeline.runtimes["a"])
    assert blob.startswith(MAGIC) and len(blob) < 1_000_000
    pipeline.replay("b", "latte_making", [], checkpoint=blob)
    assert pipeline.runtimes["b"].state.time == pipeline.runtimes["a"].state.time
    continued: dict[str, list[Any]] = {"a": [], "b": []}
    for seq in range(half + 1, len(FRAMES) + 1):
        results = pipeline.step({"a": [_frame(seq)], "b": [_frame(seq)]})
        for name in continued:
            continued[name] += [(e.kind, e.t, e.data) for e in results[name].events]
    assert continued["a"] and continued["a"] == continued["b"]


def test_foreign_or_damaged_checkpoints_are_refused() -> None:
    pipeline = LocalPipeline(Path("tasks"), Path("models"))
    pipeline.open("a", "latte_making")
    template = pipeline.runtimes["a"]
    blob = dump_runtime(template)
    with pytest.raises(CheckpointError, match="another version"):
        load_runtime(b"prism-checkpoint/0 prism=0.0.1\n" + blob[len(MAGIC) :], template)
    with pytest.raises(CheckpointError, match="damaged"):
        load_runtime(blob[: len(blob) // 2], template)


def _stream(client: TestClient, session_id: str, token: str, seqs: range) -> None:
    with client.websocket_connect(f"/v1/sessions/{session_id}/stream?token={token}") as ws:
        ws.send_json({"type": "hello", "seq": 1, "protocol": 1})
        assert ws.receive_json()["next_seq"] == seqs.start
        for seq in seqs:
            ws.send_bytes(_frame(seq))
        ws.send_json({"type": "question", "seq": seqs.stop, "text": "where am I?", "t": 1.0})
        while ws.receive_json()["type"] != "answer":
            pass


def _streamed_session(
    tmp_path: Path, frames: int, *, recording: bool = False
) -> tuple[Settings, dict[str, str], str, str, dict[str, Any]]:
    """A file-backed app with checkpoints every 5 s, a session (of a ``recording``
    device) streamed ``frames`` frames and a question; its settings, device auth header
    and token, session id and state."""
    settings = service_settings(
        admin_token="admin",
        database=str(tmp_path / "db.sqlite3"),
        warm_up_sessions=0,
        checkpoint_every_s=5.0,
    )
    admin = {"Authorization": "Bearer admin"}
    with TestClient(create_app(settings)) as client:
        device = {"name": "w", "recording": recording}
        token = client.post("/v1/devices", json=device, headers=admin).json()["token"]
        auth = {"Authorization": f"Bearer {token}"}
        made = client.post("/v1/sessions", json={"procedure": "latte_making"}, headers=auth)
        session_id = made.json()["session_id"]
        _stream(client, session_id, token, range(1, frames + 1))
        state = client.get(f"/v1/sessions/{session_id}", headers=auth).json()
    return settings, auth, token, session_id, state


def test_a_restart_replays_only_the_inputs_after_the_checkpoint(tmp_path: Path) -> None:
    settings, auth, token, session_id, before = _streamed_session(tmp_path, 300)
    store = SqliteStore(settings.server.database)
    checkpoint = store.checkpoint(session_id)
    assert checkpoint is not None and checkpoint.front["last_seq"] > 100
    after_checkpoint = list(store.inputs(session_id, after=checkpoint.position))
    assert 0 < len(after_checkpoint) < 300
    store.close()
    with TestClient(create_app(settings)) as client:
        metrics = client.get("/metrics").text
        assert "prism_sessions_restored_from_checkpoint_total 1" in metrics
        after = client.get(f"/v1/sessions/{session_id}", headers=auth).json()
        assert after.pop("probability") == pytest.approx(before.pop("probability"), abs=1e-6)
        assert after == before
        _stream(client, session_id, token, range(302, 351))  # and it goes on


def test_a_checkpoint_that_cannot_be_used_falls_back_to_all_inputs(tmp_path: Path) -> None:
    """A recording session keeps every input: it is replayed in full (a session that
    does not record restarts its pipeline instead: tests/test_server_restore.py)."""
    settings, auth, _, session_id, before = _streamed_session(tmp_path, 200, recording=True)
    store = SqliteStore(settings.server.database)
    with store._transaction("damaging") as db:  # as if written by another version of PrISM
        db.execute("UPDATE checkpoints SET state = ?", (b"prism-checkpoint/0\n",))
    store.close()
    with TestClient(create_app(settings)) as client:
        assert "prism_sessions_replayed_in_full_total 1" in client.get("/metrics").text
        after = client.get(f"/v1/sessions/{session_id}", headers=auth).json()
        assert after.pop("probability") == pytest.approx(before.pop("probability"), abs=1e-6)
        assert after == before


def _start(port: int, redis_url: str, prefix: str, *extra: str) -> subprocess.Popen[bytes]:
    settings = {
        "redis_url": redis_url,
        "redis_prefix": prefix,
        "warm_up_sessions": "0",
        "checkpoint_every_s": "5",
        "checkpoint_secret": "the servers' shared checkpoint secret",
    }
    return start_server(port, settings, *extra)


class _Watch:
    """A minimal watch: streams frames, acknowledges, keeps what it received."""

    def __init__(self, base: str, token: str, session_id: str) -> None:
        self.url = base.replace("http", "ws", 1) + f"/v1/sessions/{session_id}/stream"
        self.auth = {"Authorization": f"Bearer {token}"}
        self.received: list[dict[str, Any]] = []

    def session(self, first_seq: int, frames: range) -> int:
        """One connection: resume, send ``frames`` (recording indices) from ``first_seq``,
        ask a question, acknowledge; returns the next watch seq."""
        with connect(self.url, additional_headers=self.auth) as ws:
            last = self.received[-1]["seq"] if self.received else 0
            ws.send(json.dumps({"type": "hello", "seq": 1, "protocol": 1, "resume_from": last}))
            welcome = json.loads(ws.recv(timeout=60))
            assert welcome["type"] == "welcome" and welcome["next_seq"] == first_seq
            seq = first_seq
            for index in frames:
                ws.send(_frame(seq, index))
                seq += 1
            ws.send(json.dumps({"type": "question", "seq": seq, "text": "what's next?", "t": 1}))
            self._until_answer(ws)
            ws.send(json.dumps({"type": "ack", "seq": seq + 1, "up_to": self.received[-1]["seq"]}))
            time.sleep(0.3)
            return seq + 2

    def _until_answer(self, ws: ClientConnection) -> None:
        while True:
            message = json.loads(ws.recv(timeout=60))
            if message["type"] == "error":
                raise AssertionError(f"server error: {message}")
            self.received.append(message)
            if message["type"] == "answer":
                return


def _device_and_session(base: str) -> tuple[str, str]:
    admin = {"Authorization": "Bearer admin"}
    token = httpx.post(f"{base}/v1/devices", json={"name": "w"}, headers=admin).json()["token"]
    auth = {"Authorization": f"Bearer {token}"}
    made = httpx.post(f"{base}/v1/sessions", json={"procedure": "latte_making"}, headers=auth)
    return token, made.json()["session_id"]


def test_two_servers_share_sessions_through_redis(redis_url: str) -> None:
    ports = [free_port(), free_port()]
    servers = [_start(port, redis_url, "two-servers") for port in ports]
    try:
        bases = [f"http://127.0.0.1:{port}" for port in ports]
        token, session_id = _device_and_session(bases[0])
        watch = _Watch(bases[0], token, session_id)
        third = len(FRAMES) // 3
        seq = watch.session(1, range(0, third))  # on server A
        watch.url = watch.url.replace(str(ports[0]), str(ports[1]))
        seq = watch.session(seq, range(third, 2 * third))  # B takes over: resumes exactly
        watch.url = watch.url.replace(str(ports[1]), str(ports[0]))
        seq = watch.session(seq, range(2 * third, len(FRAMES)))  # back to A (rebuilt)
        numbers = [m["seq"] for m in watch.received]
        assert numbers == list(range(1, len(numbers) + 1))  # nothing lost, nothing twice
        steps = [m["t"] for m in watch.received if m["type"] == "step"]
        assert steps == sorted(steps) and steps[-1] > 0.9 * RECORDING.annotation.duration - 5
        auth = {"Authorization": f"Bearer {token}"}
        events = [httpx.get(f"{b}/v1/sessions/{session_id}/events", headers=auth).json()
                  for b in bases]  # fmt: skip
        assert events[0] == events[1] == watch.received
        taken = [httpx.get(f"{b}/metrics").text for b in bases]
        assert "prism_sessions_taken_over_total 1" in taken[0]  # back from B
        assert "prism_sessions_taken_over_total 1" in taken[1]  # from A
    finally:
        for server in servers:
            stop_server(server)


def test_two_uvicorn_workers_behind_one_address(redis_url: str) -> None:
    port = free_port()
    server = _start(port, redis_url, "two-workers", "--workers", "2")
    try:
        base = f"http://127.0.0.1:{port}"
        token, session_id = _device_and_session(base)
        watch = _Watch(base, token, session_id)
        pieces = 6
        size = len(FRAMES) // pieces
        seq = 1
        for piece in range(pieces):  # each connection may land on either worker
            stop = len(FRAMES) if piece == pieces - 1 else (piece + 1) * size
            seq = watch.session(seq, range(piece * size, stop))
        numbers = [m["seq"] for m in watch.received]
        assert numbers == list(range(1, len(numbers) + 1))
        assert sum(m["type"] == "answer" for m in watch.received) == pieces
        auth = {"Authorization": f"Bearer {token}"}
        listed = httpx.get(f"{base}/v1/sessions", headers=auth).json()
        assert [s["session_id"] for s in listed] == [session_id]
        state = httpx.get(f"{base}/v1/sessions/{session_id}", headers=auth).json()
        assert state["time_s"] == pytest.approx(watch.received[-2]["t"], abs=1.0)
    finally:
        stop_server(server)


def test_a_connection_on_another_server_takes_over_only_when_it_says_hello(
    redis_url: str,
) -> None:
    ports = [free_port(), free_port()]
    servers = [_start(port, redis_url, "hello-takes-over") for port in ports]
    try:
        token, session_id = _device_and_session(f"http://127.0.0.1:{ports[0]}")
        auth = {"Authorization": f"Bearer {token}"}
        urls = [f"ws://127.0.0.1:{port}/v1/sessions/{session_id}/stream" for port in ports]
        with connect(urls[0], additional_headers=auth) as live:
            live.send(json.dumps({"type": "hello", "protocol": 1}))
            assert json.loads(live.recv(timeout=60))["type"] == "welcome"
            with connect(urls[1], additional_headers=auth) as silent:  # says nothing yet
                for seq in range(1, 21):
                    live.send(_frame(seq))
                live.send(json.dumps({"type": "question", "seq": 21, "text": "hi?", "t": 1}))
                _Watch(urls[0], token, session_id)._until_answer(live)  # served on
                silent.send(json.dumps({"type": "hello", "protocol": 1, "resume_from": 10**6}))
                assert json.loads(silent.recv(timeout=60))["next_seq"] == 22
                live.send(_frame(22))
                with pytest.raises(ConnectionClosed) as closed:
                    while True:
                        live.recv(timeout=60)
                assert closed.value.rcvd is not None and closed.value.rcvd.code == 4010
    finally:
        for server in servers:
            stop_server(server)
