"""The watch connection's state machine: allowed and illegal transitions, messages before
hello, a second hello, a fatal error closing it, what the message metrics count; refused
messages keeping their seq, unnumbered errors, replacement on hello only, the hello
deadline and the connection limits."""

from __future__ import annotations

import contextlib
import itertools
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from fastapi.testclient import TestClient
from starlette.websockets import WebSocketDisconnect

from conftest import numbered_frames, server_registry, service_settings
from prism.data.recording import read_recording
from prism.protocol import ErrorCode, FrameKind, SensorFrame, encode_frame
from prism.server.app import create_app
from prism.server.connection import Connection, ConnectionState
from prism.server.errors import ConnectionStateError
from prism.server.session import LiveSession
from prism.server.voice import Voice
from prism.watch.replay import sensor_frames

FRAMES = numbered_frames(
    sensor_frames(read_recording(Path("datasets/demo/latte_making-s000")), chunk_s=0.5)[:4]
)
LEGAL = {
    (ConnectionState.AWAITING_HELLO, ConnectionState.OPEN),
    (ConnectionState.AWAITING_HELLO, ConnectionState.CLOSING),
    (ConnectionState.AWAITING_HELLO, ConnectionState.CLOSED),
    (ConnectionState.OPEN, ConnectionState.OPEN),
    (ConnectionState.OPEN, ConnectionState.CLOSING),
    (ConnectionState.OPEN, ConnectionState.CLOSED),
    (ConnectionState.CLOSING, ConnectionState.CLOSED),
}
PAIRS = list(itertools.product(ConnectionState, repeat=2))


def _unused(*_: Any) -> Any:
    raise AssertionError("not called in these tests")


@pytest.fixture(scope="module")
def connection() -> Connection:
    """A connection object (its WebSocket unused: only its state is driven)."""
    registry = server_registry()
    return Connection(registry, Voice(_unused, _unused), None, _unused)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("start", "to"), PAIRS, ids=[f"{a.name.lower()}-{b.name.lower()}" for a, b in PAIRS]
)
def test_only_the_protocols_transitions_are_allowed(
    connection: Connection, start: ConnectionState, to: ConnectionState
) -> None:
    connection.state = start
    if (start, to) in LEGAL:
        connection.transition(to)
        assert connection.state is to
    else:
        with pytest.raises(ConnectionStateError, match=f"from {start.name} to {to.name}"):
            connection.transition(to)
        assert connection.state is start


def test_a_new_connection_awaits_hello_without_a_session(connection: Connection) -> None:
    fresh = Connection(connection.registry, connection.voice, None, _unused)  # type: ignore[arg-type]
    assert fresh.state is ConnectionState.AWAITING_HELLO and not fresh.speech
    with pytest.raises(ConnectionStateError, match="no session before its hello"):
        _ = fresh.session


@pytest.fixture
def client() -> Iterator[TestClient]:
    settings = service_settings(admin_token="admin", database=":memory:", warm_up_sessions=0)
    with TestClient(create_app(settings)) as test_client:
        yield test_client


def _stream_url(client: TestClient) -> str:
    admin = {"Authorization": "Bearer admin"}
    token = client.post("/v1/devices", json={"name": "w"}, headers=admin).json()["token"]
    made = client.post(
        "/v1/sessions",
        json={"procedure": "latte_making"},
        headers={"Authorization": f"Bearer {token}"},
    )
    return f"/v1/sessions/{made.json()['session_id']}/stream?token={token}"


def _metric(client: TestClient, name: str) -> float:
    for line in client.get("/metrics").text.splitlines():
        if line.startswith(f"prism_{name}_total "):
            return float(line.split()[1])
    return 0.0


def test_messages_before_hello_are_refused_and_the_connection_goes_on(
    client: TestClient,
) -> None:
    with client.websocket_connect(_stream_url(client)) as ws:
        ws.send_bytes(FRAMES[0][1])
        refused = ws.receive_json()
        assert (
            refused["code"] == ErrorCode.BAD_FRAME
            and "hello before any frame" in refused["message"]
        )
        ws.send_json({"type": "ack", "seq": 1, "up_to": 0})
        refused = ws.receive_json()
        assert refused["code"] == ErrorCode.BAD_FRAME and "send hello first" in refused["message"]
        assert refused["ref_seq"] == 1
        ws.send_json({"type": "hello", "seq": 1, "protocol": 1})
        welcome = ws.receive_json()
        assert welcome["type"] == "welcome" and welcome["next_seq"] == 1  # nothing was taken


def test_a_second_hello_welcomes_again_and_resends(client: TestClient) -> None:
    with client.websocket_connect(_stream_url(client)) as ws:
        ws.send_json({"type": "hello", "seq": 1, "protocol": 1})
        ws.receive_json()
        for _, body in FRAMES:
            ws.send_bytes(body)
        ws.send_json({"type": "question", "seq": 5, "text": "where am I?", "t": 1.0})
        received = [ws.receive_json()]
        while received[-1]["type"] != "answer":
            received.append(ws.receive_json())
        ws.send_json({"type": "hello", "seq": 1, "protocol": 1, "resume_from": 0})
        welcome = ws.receive_json()
        assert welcome["type"] == "welcome" and welcome["next_seq"] == 6
        resent = [ws.receive_json() for _ in received]
        assert resent == received


def test_a_fatal_error_closes_the_connection_with_its_code(client: TestClient) -> None:
    with client.websocket_connect(_stream_url(client)) as ws:
        ws.send_json({"type": "hello", "seq": 1, "protocol": 2})
        error = ws.receive_json()
        assert error["code"] == ErrorCode.UNSUPPORTED_VERSION
        with pytest.raises(WebSocketDisconnect) as closed:
            ws.receive_json()
        assert closed.value.code == ErrorCode.UNSUPPORTED_VERSION


def test_what_the_message_metrics_count(client: TestClient) -> None:
    """Sensor frames, corrections, reminder actions, ends and refused messages count;
    hellos, acknowledgements and questions do not."""
    with client.websocket_connect(_stream_url(client)) as ws:
        ws.send_json({"type": "hello", "seq": 1, "protocol": 1})
        ws.receive_json()
        for _, body in FRAMES[:2]:
            ws.send_bytes(body)
        ws.send_json({"type": "ack", "seq": 3, "up_to": 0})
        ws.send_bytes(FRAMES[0][1])  # a duplicate: refused
        assert ws.receive_json()["code"] == ErrorCode.DUPLICATE
        ws.send_json({"type": "question", "seq": 4, "text": "where am I?", "t": 1.0})
        while ws.receive_json()["type"] != "answer":
            pass
    assert _metric(client, "messages") == 3
    assert _metric(client, "frames") == 2  # frames in sequence (not the duplicate)
    assert _metric(client, "protocol_errors") == 1


# ---------------------------------------------------------------- refused messages
def _hello(ws: Any, resume_from: int = 0) -> dict[str, Any]:
    """Say hello; the welcome (what came before it, the replies to earlier messages, is
    skipped; what comes after it, the messages resent, is left)."""
    ws.send_json({"type": "hello", "protocol": 1, "resume_from": resume_from})
    welcome: dict[str, Any] = ws.receive_json()
    while welcome["type"] != "welcome":
        welcome = ws.receive_json()
    return welcome


def _frame(kind: FrameKind, seq: int, t0: float) -> bytes:
    if kind == FrameKind.IMU:
        return encode_frame(SensorFrame(kind, seq, t0, 50.0, np.zeros((10, 6), np.float32)))
    return encode_frame(SensorFrame(kind, seq, t0, 16_000.0, np.zeros(160, np.float32)))


def _session(client: TestClient, url: str) -> LiveSession:
    session_id = url.split("/")[3]
    session: LiveSession = client.app.state.registry.sessions[session_id]  # type: ignore[attr-defined]
    return session


@pytest.mark.parametrize(
    ("refused", "code", "problem"),
    [
        (_frame(FrameKind.ANSWER_AUDIO, 3, 0.0), ErrorCode.TOO_LARGE, "kind 4"),
        (_frame(FrameKind.IMU, 3, 0.0), ErrorCode.TIME_BACKWARDS, "before the previous one"),
        (_frame(FrameKind.IMU, 3, 90_000.0), ErrorCode.BAD_FRAME, "t0 must be < 86400 s"),
        (_frame(FrameKind.AUDIO, 3, 3_700.0), ErrorCode.BAD_FRAME, "more than 3600 s after"),
        (
            {"type": "correction", "seq": 3, "kind": "done", "step": "no_such_step", "t": 1},
            ErrorCode.UNKNOWN_STEP,
            "'no_such_step' is not a step of 'latte_making'",
        ),
        (
            {"type": "reminder_action", "seq": 3, "reminder_id": 99, "action": "dismiss"},
            ErrorCode.UNKNOWN_STEP,
            "reminder 99 was never sent",
        ),
    ],
    ids=["answer-audio", "time-backwards", "t0-beyond-a-day", "t0-leap", "step", "reminder"],
)
def test_a_refused_message_does_not_use_up_its_seq(
    client: TestClient, refused: bytes | dict[str, Any], code: ErrorCode, problem: str
) -> None:
    with client.websocket_connect(_stream_url(client)) as ws:
        _hello(ws)
        ws.send_bytes(_frame(FrameKind.IMU, 1, 0.0))
        ws.send_bytes(_frame(FrameKind.IMU, 2, 1.0))
        if isinstance(refused, bytes):
            ws.send_bytes(refused)
        else:
            ws.send_json(refused)
        error = ws.receive_json()
        assert error["type"] == "error" and error["seq"] == 0
        assert error["code"] == code and error["ref_seq"] == 3
        assert problem in error["message"]
        assert _hello(ws)["next_seq"] == 3  # the next message reuses seq 3
        ws.send_bytes(_frame(FrameKind.IMU, 3, 2.0))
        assert _hello(ws)["next_seq"] == 4
    assert _metric(client, "internal_errors") == 0


def test_a_duplicate_is_reported_before_its_content(client: TestClient) -> None:
    """A frame resent after a reconnect goes back in time, but it is a duplicate."""
    with client.websocket_connect(_stream_url(client)) as ws:
        _hello(ws)
        ws.send_bytes(_frame(FrameKind.IMU, 1, 0.0))
        ws.send_bytes(_frame(FrameKind.IMU, 2, 1.0))
        ws.send_bytes(_frame(FrameKind.IMU, 1, 0.0))
        assert ws.receive_json()["code"] == ErrorCode.DUPLICATE


def test_deeply_nested_json_is_refused_without_an_internal_error(client: TestClient) -> None:
    with client.websocket_connect(_stream_url(client)) as ws:
        _hello(ws)
        ws.send_text('{"type": "ack", "seq": 1, "up_to": 0, "x": ' + "[" * 4000)
        error = ws.receive_json()
        assert error["code"] == ErrorCode.BAD_FRAME and "levels deep" in error["message"]
        assert _hello(ws)["next_seq"] == 1
    assert _metric(client, "internal_errors") == 0


def test_errors_are_unnumbered_and_never_resent(client: TestClient) -> None:
    url = _stream_url(client)
    step = client.get("/v1/procedures/latte_making").json()["steps"][0]["id"]
    with client.websocket_connect(url) as ws:
        _hello(ws)
        ws.send_json({"type": "correction", "seq": 1, "kind": "at", "step": "nope", "t": 0})
        assert ws.receive_json()["code"] == ErrorCode.UNKNOWN_STEP
        ws.send_json({"type": "correction", "seq": 1, "kind": "at", "step": step, "t": 0})
        corrected = ws.receive_json()
        assert corrected["type"] == "step" and corrected["seq"] == 1  # errors took no number
        # a reminder id the front saw sent but the session's scheduler does not know: the
        # runtime's error (defensive) is delivered unnumbered and not stored
        _session(client, url).reminder_ids.add(7)
        ws.send_json({"type": "reminder_action", "seq": 2, "reminder_id": 7, "action": "dismiss"})
        late = ws.receive_json()
        assert late["type"] == "error" and late["seq"] == 0 and late["ref_seq"] is None
        assert late["code"] == ErrorCode.UNKNOWN_STEP and late["message"].startswith("message 2:")
        _hello(ws)  # resume from 0: only the step message comes again
        assert ws.receive_json() == corrected
        ws.send_json({"type": "question", "seq": 3, "text": "where am I?", "t": 1.0})
        answer = ws.receive_json()
    assert answer["type"] == "answer" and answer["seq"] == 2
    token = url.split("token=")[1]
    stored = client.get(
        f"/v1/sessions/{url.split('/')[3]}/events", headers={"Authorization": f"Bearer {token}"}
    ).json()
    assert stored == [corrected, answer]  # no error stored


def test_reminder_actions_name_reminders_the_session_sent(client: TestClient) -> None:
    url = _stream_url(client)
    with client.websocket_connect(url) as ws:
        _hello(ws)
        _session(client, url).keep([{"type": "reminder", "seq": 1, "reminder_id": 3}])
        ws.send_json({"type": "reminder_action", "seq": 1, "reminder_id": 4, "action": "dismiss"})
        assert ws.receive_json()["code"] == ErrorCode.UNKNOWN_STEP
        assert _hello(ws)["next_seq"] == 1
    assert _session(client, url).reminder_ids == {3}


# ---------------------------------------------------------------- connections
def test_a_connection_replaces_the_live_one_only_when_it_says_hello(client: TestClient) -> None:
    url = _stream_url(client)
    with client.websocket_connect(url) as first:
        _hello(first)
        with client.websocket_connect(url) as second:
            first.send_json({"type": "question", "seq": 1, "text": "where am I?", "t": 0.0})
            while first.receive_json()["type"] != "answer":  # the first one goes on
                pass
            _hello(second)
            with pytest.raises(WebSocketDisconnect) as closed:
                while True:
                    first.receive_json()
            assert closed.value.code == ErrorCode.REPLACED
            second.send_json({"type": "ack", "seq": 2, "up_to": 1})
            assert _hello(second, resume_from=10**6)["next_seq"] == 3


@pytest.fixture
def strict_client() -> Iterator[TestClient]:
    settings = service_settings(
        admin_token="admin",
        database=":memory:",
        warm_up_sessions=0,
        hello_timeout_s=0.3,
        max_connections=3,
        max_connections_per_device=2,
    )
    with TestClient(create_app(settings)) as test_client:
        yield test_client


def test_a_connection_without_hello_is_closed_after_the_deadline(
    strict_client: TestClient,
) -> None:
    with strict_client.websocket_connect(_stream_url(strict_client)) as ws:
        ws.send_json({"type": "ack", "seq": 1, "up_to": 0})  # refused: does not help
        assert ws.receive_json()["code"] == ErrorCode.BAD_FRAME
        started = time.monotonic()
        error = ws.receive_json()
        assert (
            error["code"] == ErrorCode.HELLO_TIMEOUT and "no hello within 0.3 s" in error["message"]
        )
        with pytest.raises(WebSocketDisconnect) as closed:
            ws.receive_json()
        assert closed.value.code == ErrorCode.HELLO_TIMEOUT
        assert time.monotonic() - started < 2.0


def test_a_connection_with_hello_outlives_the_deadline(strict_client: TestClient) -> None:
    with strict_client.websocket_connect(_stream_url(strict_client)) as ws:
        _hello(ws)
        time.sleep(0.5)
        assert _hello(ws)["next_seq"] == 1


def _wait_for_admission(client: TestClient, total: int) -> None:
    admission = client.app.state.admission  # type: ignore[attr-defined]
    for _ in range(200):
        if admission.total == total:
            return
        time.sleep(0.01)
    raise AssertionError(f"{admission.total} connections counted, expected {total}")


def test_connections_are_limited_per_device_and_in_all(strict_client: TestClient) -> None:
    client = strict_client
    first_url, second_url, third_url = (_stream_url(client) for _ in range(3))
    with contextlib.ExitStack() as stack:
        for _ in range(2):
            _hello(stack.enter_context(client.websocket_connect(first_url)))
        refused = stack.enter_context(client.websocket_connect(first_url))
        error = refused.receive_json()
        assert (
            error["code"] == ErrorCode.TOO_MANY_CONNECTIONS and "2 per device" in error["message"]
        )
        with pytest.raises(WebSocketDisconnect) as closed:
            refused.receive_json()
        assert closed.value.code == ErrorCode.TOO_MANY_CONNECTIONS
        _hello(stack.enter_context(client.websocket_connect(second_url)))  # 3 in all
        over = stack.enter_context(client.websocket_connect(third_url))
        assert over.receive_json()["code"] == ErrorCode.TOO_MANY_CONNECTIONS
        _wait_for_admission(client, 3)
    _wait_for_admission(client, 0)  # every one closed: counted no more
    with client.websocket_connect(third_url) as ws:
        _hello(ws)
