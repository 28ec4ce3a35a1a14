"""The service through HTTP and its WebSocket (FastAPI TestClient: real app, in process)."""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from fastapi.testclient import TestClient
from starlette.websockets import WebSocketDisconnect

from conftest import service_settings
from prism.data.recording import read_recording
from prism.protocol import ErrorCode, FrameKind, SensorFrame, decode_frame, encode_frame
from prism.server.app import CLOSE_CODES, HTTP_STATUS, create_app
from prism.server.errors import ServiceError
from prism.settings import ServerSettings, Settings
from prism.speech import espeak_available
from prism.watch.replay import sensor_frames

RECORDING = read_recording(Path("datasets/demo/latte_making-s000"))


def _client(**settings: Any) -> TestClient:
    return TestClient(
        create_app(
            service_settings(
                admin_token="admin-secret", database=":memory:", warm_up_sessions=0, **settings
            )
        )
    )


@pytest.fixture
def client() -> Iterator[TestClient]:
    with _client() as test_client:
        yield test_client


def _device(client: TestClient) -> dict[str, str]:
    response = client.post(
        "/v1/devices", json={"name": "watch"}, headers={"Authorization": "Bearer admin-secret"}
    )
    assert response.status_code == 200, response.text
    return dict(response.json())


def _session(client: TestClient, token: str) -> str:
    response = client.post(
        "/v1/sessions",
        json={"procedure": "latte_making"},
        headers={"Authorization": f"Bearer {token}"},
    )
    assert response.status_code == 200, response.text
    return str(response.json()["session_id"])


def _frames(seconds: float) -> list[bytes]:
    """The recording's first ``seconds`` as a watch sends them (0.5 s frames, numbered)."""
    first = [f for f in sensor_frames(RECORDING, chunk_s=0.5) if f.t0 < seconds]
    return [
        encode_frame(SensorFrame(f.kind, seq, f.t0, f.rate, f.samples))
        for seq, f in enumerate(first, start=1)
    ]


def _read_until(ws: Any, kind: str, limit: int = 2000) -> list[dict[str, Any]]:
    """Messages up to the first of ``kind`` (the server answers every input, so this ends)."""
    seen = []
    for _ in range(limit):
        message = ws.receive_json()
        assert message["type"] != "error", message
        seen.append(message)
        if message["type"] == kind:
            return seen
    raise AssertionError(f"no {kind!r} message in {limit}")


def test_rest_endpoints_and_security(client: TestClient) -> None:
    assert client.get("/v1/health").json()["status"] == "ok"
    listed = {p["id"]: p for p in client.get("/v1/procedures").json()}
    assert listed["latte_making"]["model"] and listed["latte_making"]["steps"] == 19
    assert client.get("/v1/procedures/nope").status_code == 404
    picture = client.get("/v1/procedures/latte_making/picture")
    assert picture.headers["content-type"] == "image/svg+xml"
    assert b"<svg" in picture.content and b"Steam milk" in picture.content
    assert client.get("/v1/procedures/nope/picture").status_code == 404
    for refused in ("x" * 300, "a%00b"):  # too long for a file name; a NUL byte
        assert client.get(f"/v1/procedures/{refused}").status_code == 404
        assert client.get(f"/v1/procedures/{refused}/picture").status_code == 404
    assert client.post("/v1/devices", json={"name": "w"}).status_code == 401
    first, second = _device(client), _device(client)
    session_id = _session(client, first["token"])
    other = {"Authorization": f"Bearer {second['token']}"}
    # another device's session is answered as an unknown one (no existence oracle)
    for path in (f"/v1/sessions/{session_id}", "/v1/sessions/ses-nope"):
        refused = client.get(path, headers=other)
        assert refused.status_code == 404 and refused.json() == {"detail": refused.json()["detail"]}
    assert client.get(f"/v1/sessions/{session_id}", headers=other).json() == {
        "detail": f"unknown session '{session_id}'"
    }
    assert client.post(f"/v1/sessions/{session_id}/end", headers=other).status_code == 404
    long_id = "s" * 65
    assert client.get(f"/v1/sessions/{long_id}", headers=other).json() == {
        "detail": "unknown session"
    }
    assert client.get("/v1/sessions", headers=other).json() == []
    assert client.post("/v1/sessions", json={"procedure": "latte_making"}).status_code == 401
    guided = client.post(
        "/v1/sessions",
        json={"procedure": "wound_care"},  # no trained model: guided mode
        headers={"Authorization": f"Bearer {first['token']}"},
    )
    assert guided.status_code == 200 and guided.json()["mode"] == "guided"
    metrics = client.get("/metrics").text
    assert "prism_sessions_active 2" in metrics
    store_calls = re.search(r"^prism_store_calls_total (\d+)$", metrics, re.MULTILINE)
    assert store_calls is not None and int(store_calls.group(1)) >= 4  # devices, sessions
    assert re.search(r"^prism_store_seconds_total [0-9.e-]+$", metrics, re.MULTILINE)


def test_a_watch_streams_asks_and_resumes(client: TestClient) -> None:
    device = _device(client)
    session_id = _session(client, device["token"])
    url = f"/v1/sessions/{session_id}/stream?token={device['token']}"
    frames = _frames(12.0)
    with client.websocket_connect(url) as ws:
        ws.send_json({"type": "hello", "seq": 1, "protocol": 1, "resume_from": 0})
        welcome = ws.receive_json()
        assert welcome["type"] == "welcome" and welcome["next_seq"] == 1
        for frame in frames:
            ws.send_bytes(frame)
        seq = len(frames) + 1
        ws.send_json({"type": "question", "seq": seq, "text": "where am I?", "t": 12.0})
        messages = _read_until(ws, "answer")
        steps = [m for m in messages if m["type"] == "step"]
        assert steps, "no step update while streaming 12 s"
        assert messages[-1]["text"]
        numbers = [m["seq"] for m in messages]
        assert numbers == list(range(1, len(numbers) + 1))
        # a duplicate, garbage and a gap: error events, the connection goes on
        ws.send_bytes(frames[0])
        assert ws.receive_json()["code"] == ErrorCode.DUPLICATE
        ws.send_bytes(b"garbage")
        assert ws.receive_json()["code"] == ErrorCode.BAD_FRAME
        ws.send_json({"type": "ack", "seq": seq + 5, "up_to": 1})
        assert ws.receive_json()["code"] == ErrorCode.SEQUENCE_GAP
        ws.send_json({"type": "ack", "seq": seq + 1, "up_to": len(numbers)})
        ws.send_json({"type": "question", "seq": seq + 2, "text": "what's next?", "t": 12.5})
        last = _read_until(ws, "answer")[-1]
    # reconnect: resume after the first two messages; everything after them comes again
    with client.websocket_connect(url) as ws:
        ws.send_json({"type": "hello", "seq": 1, "protocol": 1, "resume_from": 2})
        welcome = ws.receive_json()
        assert welcome["next_seq"] == seq + 3
        resent = [ws.receive_json() for _ in range(last["seq"] - 2)]
        assert [m["seq"] for m in resent] == list(range(3, last["seq"] + 1))
    state = client.get(
        f"/v1/sessions/{session_id}", headers={"Authorization": f"Bearer {device['token']}"}
    ).json()
    assert state["time_s"] > 5.0


def test_stream_refuses_bad_tokens_and_unknown_sessions(client: TestClient) -> None:
    device = _device(client)
    session_id = _session(client, device["token"])
    other = _device(client)
    refusals = []
    for url, code in [
        (f"/v1/sessions/{session_id}/stream?token=wrong", ErrorCode.UNAUTHORIZED),
        (f"/v1/sessions/ses-nope/stream?token={device['token']}", ErrorCode.UNKNOWN_SESSION),
        (f"/v1/sessions/{session_id}/stream?token={other['token']}", ErrorCode.UNKNOWN_SESSION),
        (f"/v1/sessions/{'s' * 65}/stream?token={device['token']}", ErrorCode.UNKNOWN_SESSION),
    ]:
        with client.websocket_connect(url) as ws:
            refusal = ws.receive_json()
            assert refusal["code"] == code
            refusals.append(refusal["message"])
            with pytest.raises(WebSocketDisconnect) as closed:
                ws.receive_json()
            assert closed.value.code == code
    # another device's session: the same words as an unknown one; a long id not echoed
    assert refusals[1:] == ["unknown session 'ses-nope'", f"unknown session {session_id!r}",
                            "unknown session"]  # fmt: skip


def test_a_failing_message_is_reported_and_the_connection_goes_on(client: TestClient) -> None:
    device = _device(client)
    session_id = _session(client, device["token"])
    pipeline = client.app.state.registry.pipeline  # type: ignore[attr-defined]
    calls = {"n": 0}
    original = pipeline.control

    def flaky(session: str, message: Any) -> Any:
        calls["n"] += 1
        if calls["n"] == 1:
            raise RuntimeError("boom")
        return original(session, message)

    pipeline.control = flaky
    with client.websocket_connect(
        f"/v1/sessions/{session_id}/stream?token={device['token']}"
    ) as ws:
        ws.send_json({"type": "hello", "seq": 1, "protocol": 1})
        ws.receive_json()
        ws.send_json({"type": "question", "seq": 1, "text": "where am I?", "t": 0})
        failed = ws.receive_json()
        assert failed["type"] == "error" and "internal error" in failed["message"]
        ws.send_json({"type": "question", "seq": 2, "text": "where am I?", "t": 0})
        assert _read_until(ws, "answer")[-1]["text"]
    assert "prism_internal_errors_total 1" in client.get("/metrics").text


def _stream_and_ask(client: TestClient, frames: list[bytes]) -> list[dict[str, Any]]:
    """A new session streamed ``frames`` then asked a question: every message up to the
    answer (errors included)."""
    device = _device(client)
    session_id = _session(client, device["token"])
    with client.websocket_connect(
        f"/v1/sessions/{session_id}/stream?token={device['token']}"
    ) as ws:
        ws.send_json({"type": "hello", "seq": 1, "protocol": 1})
        ws.receive_json()
        for frame in frames:
            ws.send_bytes(frame)
        ws.send_json({"type": "question", "seq": len(frames) + 1, "text": "where am I?", "t": 0})
        received = [ws.receive_json()]
        while received[-1]["type"] != "answer":
            received.append(ws.receive_json())
    return received


def test_step_events_name_the_oldest_frame_they_include(client: TestClient) -> None:
    frames = _frames(15.0)
    received = _stream_and_ask(client, frames)
    assert not [m for m in received if m["type"] == "error"]
    steps = [m for m in received if m["type"] == "step"]
    marks = [m["in_seq"] for m in steps]
    assert len(steps) >= 2 and marks == sorted(marks)
    assert all(1 <= mark <= len(frames) for mark in marks)


def test_a_watch_sending_too_fast_is_slowed_down_not_cut_off() -> None:
    rate, burst = 40.0, 5
    with _client(max_messages_per_s=rate, message_burst=burst) as client:
        frames = _frames(6.0)
        started = time.monotonic()
        received = _stream_and_ask(client, frames)
        elapsed = time.monotonic() - started
    errors = [m for m in received if m["type"] == "error"]
    assert [e["code"] for e in errors] == [ErrorCode.RATE_LIMITED]  # one notice, no loss
    assert "40 messages/s" in errors[0]["message"]
    assert any(m["type"] == "step" for m in received)
    assert elapsed >= (len(frames) + 2 - burst) / rate * 0.9


def test_a_second_connection_takes_over_the_session(client: TestClient) -> None:
    device = _device(client)
    session_id = _session(client, device["token"])
    url = f"/v1/sessions/{session_id}/stream?token={device['token']}"
    with client.websocket_connect(url) as first:
        first.send_json({"type": "hello", "seq": 1, "protocol": 1})
        first.receive_json()
        with client.websocket_connect(url) as second:
            second.send_json({"type": "hello", "seq": 1, "protocol": 1})
            assert second.receive_json()["type"] == "welcome"
            with pytest.raises(WebSocketDisconnect) as closed:
                first.receive_json()
            assert closed.value.code == ErrorCode.REPLACED
            second.send_json({"type": "question", "seq": 1, "text": "where am I?", "t": 0})
            assert _read_until(second, "answer")[-1]["text"]


@pytest.mark.skipif(not espeak_available(), reason="espeak-ng is not installed")
def test_a_watch_that_asks_for_speech_gets_each_answer_spoken(client: TestClient) -> None:
    device = _device(client)
    session_id = _session(client, device["token"])
    url = f"/v1/sessions/{session_id}/stream?token={device['token']}"
    with client.websocket_connect(url) as ws:
        ws.send_json({"type": "hello", "seq": 1, "protocol": 1, "speech": True})
        ws.receive_json()
        ws.send_json({"type": "question", "seq": 1, "text": "what's next?", "t": 0})
        answer = _read_until(ws, "answer")[-1]
        spoken = decode_frame(ws.receive_bytes())
        assert spoken.kind == FrameKind.ANSWER_AUDIO and spoken.seq == answer["seq"]
        assert spoken.rate == 16_000 and len(spoken.samples) > 8_000  # over half a second
        assert np.abs(spoken.samples).max() > 0.05  # speech, not silence
        # answer audio only goes from the server to the watch
        ws.send_bytes(
            encode_frame(SensorFrame(FrameKind.ANSWER_AUDIO, 2, 0.0, 16_000, spoken.samples))
        )
        error = ws.receive_json()
        assert error["type"] == "error" and "server to the watch" in error["message"]


def test_every_refusal_has_one_http_status_and_stream_refusals_close_fatally() -> None:
    assert set(HTTP_STATUS) == set(ServiceError.__subclasses__())
    statuses = [401, 404, 404, 404, 404, 409, 409, 409, 409, 422, 429, 500, 503]
    assert sorted(HTTP_STATUS.values()) == statuses
    assert all(code.fatal for code in CLOSE_CODES.values())
    assert {HTTP_STATUS[kind] for kind in CLOSE_CODES} == {401, 404}


def test_a_session_that_never_streamed_ends_over_rest(client: TestClient) -> None:
    device = _device(client)
    session_id = _session(client, device["token"])
    auth = {"Authorization": f"Bearer {device['token']}"}
    ended = client.post(f"/v1/sessions/{session_id}/end", headers=auth)
    assert ended.status_code == 200 and ended.json() == {"session_id": session_id, "ended": True}
    events = client.get(f"/v1/sessions/{session_id}/events", headers=auth).json()
    assert [m["final"] for m in events if m["type"] == "step"] == [True]
    assert client.get(f"/v1/sessions/{session_id}", headers=auth).json()["ended"]


@pytest.mark.parametrize("kind", [FrameKind.IMU, FrameKind.AUDIO], ids=["imu-only", "audio-only"])
def test_a_session_streaming_one_modality_ends_over_the_websocket(
    client: TestClient, kind: FrameKind
) -> None:
    device = _device(client)
    session_id = _session(client, device["token"])
    frames = [f for f in sensor_frames(RECORDING, chunk_s=0.5) if f.kind == kind and f.t0 < 8.0]
    with client.websocket_connect(
        f"/v1/sessions/{session_id}/stream?token={device['token']}"
    ) as ws:
        ws.send_json({"type": "hello", "seq": 1, "protocol": 1})
        ws.receive_json()
        for seq, f in enumerate(frames, start=1):
            ws.send_bytes(encode_frame(SensorFrame(f.kind, seq, f.t0, f.rate, f.samples)))
        ws.send_json({"type": "end", "seq": len(frames) + 1, "t": 8.0})
        final = _read_until(ws, "step")
        while not final[-1].get("final"):
            final = _read_until(ws, "step")
    state = client.get(
        f"/v1/sessions/{session_id}", headers={"Authorization": f"Bearer {device['token']}"}
    ).json()
    assert state["ended"]


def test_procedure_ids_with_path_parts_are_unknown(client: TestClient) -> None:
    auth = {"Authorization": f"Bearer {_device(client)['token']}"}
    for procedure in ("../tasks/latte_making", "/etc", "latte_making/..", "."):
        refused = client.post("/v1/sessions", json={"procedure": procedure}, headers=auth)
        assert refused.status_code == 404 and "unknown procedure" in refused.json()["detail"]


def test_a_broken_procedure_file_is_a_json_error_naming_it(tmp_path: Path) -> None:
    tasks = tmp_path / "tasks"
    (tasks / "broken").mkdir(parents=True)
    (tasks / "broken" / "procedure.yaml").write_text("id: broken\nsteps: [\n")
    settings = Settings(
        tasks_dir=tasks,
        server=ServerSettings(admin_token="admin-secret", database=":memory:", warm_up_sessions=0),
    )
    with TestClient(create_app(settings), raise_server_exceptions=False) as client:
        auth = {"Authorization": f"Bearer {_device(client)['token']}"}
        refused = client.post("/v1/sessions", json={"procedure": "broken"}, headers=auth)
        assert client.get("/v1/procedures").json() == []  # not offered
    assert refused.status_code == 500
    assert refused.json()["detail"].startswith(
        "procedure 'broken' is broken: broken/procedure.yaml:"
    )


def test_one_device_cannot_lock_the_others_out() -> None:
    with _client(max_sessions_per_device=2) as client:
        first, second = _device(client), _device(client)
        _session(client, first["token"])
        _session(client, first["token"])
        auth = {"Authorization": f"Bearer {first['token']}"}
        refused = client.post("/v1/sessions", json={"procedure": "latte_making"}, headers=auth)
        assert refused.status_code == 429
        assert "max_sessions_per_device" in refused.json()["detail"]
        _session(client, second["token"])


def test_the_app_ends_idle_sessions_by_itself() -> None:
    with _client(session_idle_timeout_s=0.4) as client:
        device = _device(client)
        auth = {"Authorization": f"Bearer {device['token']}"}
        session_id = _session(client, device["token"])
        deadline = time.monotonic() + 20.0
        while not client.get(f"/v1/sessions/{session_id}", headers=auth).json()["ended"]:
            assert time.monotonic() < deadline, "the idle session was not ended"
            time.sleep(0.1)
        assert "prism_sessions_idle_ended_total 1" in client.get("/metrics").text


def test_metrics_can_be_for_the_admin_only() -> None:
    with _client(metrics_admin_only=True) as client:
        assert client.get("/metrics").status_code == 401
        admin = client.get("/metrics", headers={"Authorization": "Bearer admin-secret"})
        assert admin.status_code == 200 and "prism_sessions_active" in admin.text
        client.post("/v1/dashboard/login", json={"token": "admin-secret"})
        assert client.get("/metrics").status_code == 200  # the dashboard's login
