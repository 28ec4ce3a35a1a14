"""Sensor Logger's HTTP Push as a watch: the same step updates as the native protocol."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from fastapi.testclient import TestClient

from conftest import service_settings
from prism.data.recording import read_recording
from prism.protocol import FrameKind, SensorFrame, decode_frame, encode_frame
from prism.server.app import create_app
from prism.watch.replay import sensor_frames

G = 9.80665
EPOCH_NS = 1_700_000_000_000_000_000
RECORDING = read_recording(Path("datasets/demo/latte_making-s000"))
ADMIN = {"Authorization": "Bearer admin"}


@pytest.fixture
def client() -> Iterator[TestClient]:
    settings = service_settings(
        admin_token="admin",
        database=":memory:",
        warm_up_sessions=0,
        checkpoint_every_s=None,  # every frame stays stored, to be compared
    )
    with TestClient(create_app(settings)) as test_client:
        yield test_client


def _token(client: TestClient) -> str:
    return str(client.post("/v1/devices", json={"name": "w"}, headers=ADMIN).json()["token"])


def _messages(recording_id: str, per_message: int = 50) -> list[dict[str, Any]]:
    """The recording's IMU as an Apple Watch's wrist motion pushed by Sensor Logger (in g,
    the watch's own frame: the app's default), ``per_message`` readings a message."""
    assert RECORDING.imu is not None
    imu = RECORDING.imu
    readings = []
    for t, v in zip(imu.times, imu.values.astype(np.float64), strict=True):
        native = -v[:3] / G
        values = {
            **{f"gravity{a}": 0.9 * x for a, x in zip("XYZ", native, strict=True)},
            **{f"acceleration{a}": 0.1 * x for a, x in zip("XYZ", native, strict=True)},
            **{f"rotationRate{a}": x for a, x in zip("XYZ", v[3:], strict=True)},
        }
        readings.append(
            {"name": "wrist motion", "time": EPOCH_NS + round(t * 1e9), "values": values}
        )
    return [
        {
            "messageId": i,
            "sessionId": recording_id,
            "deviceId": "watch",
            "payload": readings[s : s + per_message],
        }
        for i, s in enumerate(range(0, len(readings), per_message))
    ]


def _fed_imu(client: TestClient, session_id: str) -> tuple[np.ndarray, np.ndarray]:
    """The IMU the session took: times (s) and values (n, 6) of its stored frames."""
    registry = client.app.state.registry  # type: ignore[attr-defined]
    frames = [decode_frame(i.body) for i in registry.store.inputs(session_id) if i.kind == "frame"]
    assert frames and all(f.kind == FrameKind.IMU and f.rate == 50.0 for f in frames)
    times = np.concatenate([f.t0 + np.arange(len(f.samples)) / f.rate for f in frames])
    return times, np.concatenate([f.samples for f in frames])


def _push(client: TestClient, messages: list[dict[str, Any]], order: Any) -> tuple[str, list[Any]]:
    """Post ``messages`` in ``order`` as a new device, then end its session (which
    processes what it still holds); the session and the replies."""
    token = _token(client)
    url = f"/v1/ingest/sensor-logger?token={token}&task=latte_making"
    replies = [client.post(url, json=messages[i]) for i in order]
    assert all(r.status_code == 200 for r in replies), replies[0].text
    session_id = str(replies[0].json()["session_id"])
    ended = client.post(
        f"/v1/sessions/{session_id}/end", headers={"Authorization": f"Bearer {token}"}
    )
    assert ended.status_code == 200
    return session_id, replies


def test_pushed_readings_become_the_watchs_imu_frames(client: TestClient) -> None:
    assert RECORDING.imu is not None
    messages = _messages("rec-1")
    session_id, replies = _push(client, messages, range(len(messages)))
    assert {r.json()["session_id"] for r in replies} == {session_id}
    times, values = _fed_imu(client, session_id)
    assert np.allclose(np.diff(times), 0.02)  # one 50 Hz grid, frames back to back
    imu = RECORDING.imu
    expected = np.column_stack(
        [np.interp(times + imu.times[0], imu.times, c) for c in imu.values.T]
    )
    assert np.allclose(values, expected, atol=1e-3)  # the units and frame converted back
    assert times[-1] > imu.times[-1] - imu.times[0] - 2.5  # all but the reorder window


def _steps(messages: list[dict[str, Any]]) -> list[tuple[str | None, float]]:
    """The step changes the watch was told before the end: (step, time), repeats left out."""
    changes: list[tuple[str | None, float]] = []
    for m in messages:
        if (
            m["type"] == "step"
            and not m["final"]
            and (not changes or changes[-1][0] != m["current"])
        ):
            changes.append((m["current"], m["t"]))
    return changes


def _native(client: TestClient) -> list[dict[str, Any]]:
    """The recording's IMU frames (no audio) through the watch protocol."""
    token = _token(client)
    auth = {"Authorization": f"Bearer {token}"}
    made = client.post("/v1/sessions", json={"procedure": "latte_making"}, headers=auth)
    frames = [f for f in sensor_frames(RECORDING) if f.kind == FrameKind.IMU]
    received: list[dict[str, Any]] = []
    url = f"/v1/sessions/{made.json()['session_id']}/stream?token={token}"
    with client.websocket_connect(url) as ws:
        ws.send_json({"type": "hello", "seq": 1, "protocol": 1})
        ws.receive_json()
        for seq, f in enumerate(frames, start=1):
            ws.send_bytes(encode_frame(SensorFrame(f.kind, seq, f.t0, f.rate, f.samples)))
        ws.send_json({"type": "end", "seq": len(frames) + 1, "t": frames[-1].end_s})
        while not (received and received[-1]["type"] == "step" and received[-1]["final"]):
            received.append(ws.receive_json())
    return received


def test_pushed_readings_give_the_step_updates_of_the_native_protocol(
    client: TestClient,
) -> None:
    """The same recording, IMU only, as Sensor Logger pushes it and as a watch streams
    it: the same steps at about the same times (the push is resampled to one grid)."""
    messages = _messages("rec-3")
    session_id, _ = _push(client, messages, range(len(messages)))
    registry = client.app.state.registry  # type: ignore[attr-defined]
    pushed = _steps(registry.store.outputs(session_id))
    native = _steps(_native(client))
    assert len(native) > 3  # the steps are tracked live, from the IMU alone
    assert [step for step, _ in pushed] == [step for step, _ in native[: len(pushed)]]
    assert len(pushed) >= len(native) - 1  # all but the last 2 s (the reorder window)
    assert np.allclose([t for _, t in pushed], [t for _, t in native[: len(pushed)]], atol=0.5)


def test_repeated_and_reordered_messages_change_nothing(client: TestClient) -> None:
    messages = _messages("rec-2")
    n = len(messages)
    # messages up to two late, two sent twice: the same readings reach the session
    shuffled = [1, 0, 2, 2, 4, 3, *range(5, n - 3), n - 1, n - 3, n - 2, 7]
    in_order, _ = _push(client, messages, range(n))
    mixed, replies = _push(client, messages, shuffled)
    assert replies[-1].json()["repeated_messages"] == 2
    expected, got = _fed_imu(client, in_order), _fed_imu(client, mixed)
    assert np.allclose(got[0], expected[0], atol=1e-9) and np.allclose(got[1], expected[1])


def test_a_new_recording_of_the_device_ends_the_previous_session(client: TestClient) -> None:
    token = _token(client)
    url = f"/v1/ingest/sensor-logger?token={token}&task=latte_making"
    first = [client.post(url, json=m).json()["session_id"] for m in _messages("rec-a")[:5]]
    second = client.post(url, json=_messages("rec-b")[0]).json()["session_id"]
    assert len(set(first)) == 1 and first[0] != second
    listed = client.get("/v1/sessions", headers={"Authorization": f"Bearer {token}"}).json()
    assert {s["session_id"]: s["ended"] for s in listed} == {first[0]: True, second: False}
    # the readings the first recording's reorder window still held went in before its end
    times, _ = _fed_imu(client, first[0])
    assert times[-1] > 4.8


@pytest.mark.parametrize("query", ["token=nope&task=latte_making", "task=latte_making", ""])
def test_a_push_without_a_devices_token_is_unauthorized(client: TestClient, query: str) -> None:
    reply = client.post(f"/v1/ingest/sensor-logger?{query}", json=_messages("rec-y")[0])
    assert reply.status_code == 401 and "device token" in reply.json()["detail"]


@pytest.mark.parametrize(
    ("query", "body", "reason"),
    [
        ("token={token}", {}, "the push URL needs the procedure"),
        ("token={token}&task=../x", None, "unknown procedure"),
        (
            "token={token}&task=latte_making",
            {"messageId": 1},
            "not a Sensor Logger push message: sessionId",
        ),
        ("token={token}&task=latte_making", "[" * 100 + "]" * 100, "nests 100 levels deep"),
        ("token={token}&task=latte_making", "{not json", "not JSON"),
    ],
)
def test_refusals_are_499_with_a_reason_the_app_shows(
    client: TestClient, query: str, body: Any, reason: str
) -> None:
    token = _token(client)
    url = f"/v1/ingest/sensor-logger?{query.format(token=token)}"
    if body is None:
        body = _messages("rec-x")[0]
    reply = client.post(url, content=body) if isinstance(body, str) else client.post(url, json=body)
    assert reply.status_code == 499 and reason in reply.text
    assert reply.headers["content-type"].startswith("text/plain")
