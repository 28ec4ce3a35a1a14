"""The service through HTTP and its WebSocket (FastAPI TestClient: real app, in process)."""

from __future__ import annotations

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
    assert client.get(f"/v1/sessions/{session_id}", headers=other).status_code == 403
    assert client.get("/v1/sessions", headers=other).json() == []
    assert client.post("/v1/sessions", json={"procedure": "latte_making"}).status_code == 401
    missing_model = client.post(
        "/v1/sessions",
        json={"procedure": "wound_care"},
        headers={"Authorization": f"Bearer {first['token']}"},
    )
    assert missing_model.status_code == 409 and "no trained model" in missing_model.text
    assert "prism_sessions_active 1" in client.get("/metrics").text


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
    for url, code in [
        (f"/v1/sessions/{session_id}/stream?token=wrong", ErrorCode.UNAUTHORIZED),
        (f"/v1/sessions/ses-nope/stream?token={device['token']}", ErrorCode.UNKNOWN_SESSION),
    ]:
        with client.websocket_connect(url) as ws:
            assert ws.receive_json()["code"] == code
            with pytest.raises(WebSocketDisconnect) as closed:
                ws.receive_json()
            assert closed.value.code == code


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
    assert sorted(HTTP_STATUS.values()) == [401, 403, 404, 404, 404, 409, 409, 503]
    assert all(code.fatal for code in CLOSE_CODES.values())
    assert {HTTP_STATUS[kind] for kind in CLOSE_CODES} == {401, 403, 404}
