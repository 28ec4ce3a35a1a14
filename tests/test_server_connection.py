"""The watch connection's state machine: allowed and illegal transitions, messages before
hello, a second hello, a fatal error closing it, what the message metrics count."""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from starlette.websockets import WebSocketDisconnect

from conftest import numbered_frames, server_registry, service_settings
from prism.data.recording import read_recording
from prism.protocol import ErrorCode
from prism.server.app import create_app
from prism.server.connection import Connection, ConnectionState
from prism.server.errors import ConnectionStateError
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
    session = registry.open_session("dev", "latte_making")
    return Connection(registry, Voice(_unused, _unused), None, session)  # type: ignore[arg-type]


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


def test_a_new_connection_awaits_hello(connection: Connection) -> None:
    fresh = Connection(connection.registry, connection.voice, None, connection.session)  # type: ignore[arg-type]
    assert fresh.state is ConnectionState.AWAITING_HELLO and not fresh.speech


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
