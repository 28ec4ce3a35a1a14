"""Privacy sessions: the watch sends audio decimated to 1 kHz (no intelligible speech),
the service classifies it with the procedure's privacy model (models/<id>/privacy/)."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest
from fastapi.testclient import TestClient

from conftest import ADMIN_TOKEN, service_settings
from prism.data.annotations import frame_labels
from prism.data.recording import read_recording
from prism.procedure.model import Procedure
from prism.protocol import ErrorCode, SensorFrame, encode_frame
from prism.server.app import create_app
from prism.storage import SqliteStore
from prism.watch.replay import replay, sensor_frames

RECORDING = read_recording(Path("datasets/demo/latte_making-s000"))
PRIVATE_FRAMES = sensor_frames(RECORDING, audio_rate=1000)


def _device(http: httpx.Client | TestClient, admin: str = ADMIN_TOKEN) -> dict[str, str]:
    """A new device's auth header."""
    admin_auth = {"Authorization": f"Bearer {admin}"}
    made = http.post("/v1/devices", json={"name": "w"}, headers=admin_auth)
    return {"Authorization": f"Bearer {made.json()['token']}"}


def _frame(seq: int, frame: SensorFrame) -> bytes:
    return encode_frame(SensorFrame(frame.kind, seq, frame.t0, frame.rate, frame.samples))


def _tracked_accuracy(server: str, latte: Procedure, *, privacy: bool) -> float:
    """Stream the demo recording into a new session (``privacy``: its audio decimated to
    1 kHz by the client) and score the tracked path against the labels, per frame."""
    with httpx.Client(base_url=f"http://{server}") as http:
        auth = _device(http)
        made = http.post(
            "/v1/sessions", json={"procedure": "latte_making", "privacy": privacy}, headers=auth
        )
        assert made.status_code == 200 and made.json()["privacy"] is privacy
        session_id = made.json()["session_id"]
        url = f"ws://{server}/v1/sessions/{session_id}/stream"
        token = auth["Authorization"].removeprefix("Bearer ")
        rate = 1000 if privacy else 16000
        result = asyncio.run(replay(url, token, RECORDING, speed=None, audio_rate=rate))
        assert not result.of_type("error") and result.of_type("step")[-1]["final"]
        state = http.get(f"/v1/sessions/{session_id}", headers=auth).json()
    assert state["privacy"] is privacy
    labels = frame_labels(RECORDING.annotation, latte.step_ids)
    tracked = np.full(labels.size, latte.n_steps)
    for entry in state["history"]:
        start = int((entry["start"] or 0.0) * 5)
        end = labels.size if entry["end"] is None else int(entry["end"] * 5)
        tracked[start:end] = latte.step_index(entry["step"])
    return float(np.mean(tracked == labels))


def test_a_privacy_session_tracks_the_steps_from_1_khz_audio(
    live_server: str, latte: Procedure
) -> None:
    private = _tracked_accuracy(live_server, latte, privacy=True)
    normal = _tracked_accuracy(live_server, latte, privacy=False)
    # measured: privacy 0.677, normal 0.617 (latte_making-s001: 0.502 and 0.532); the
    # demo's steps are shorter than those the models and the tracker were fitted on
    assert private > 0.6
    assert private > normal - 0.1


def test_procedures_say_whether_they_have_a_privacy_model(live_server: str) -> None:
    with httpx.Client(base_url=f"http://{live_server}") as http:
        listed = {p["id"]: p for p in http.get("/v1/procedures").json()}
        assert listed["latte_making"]["privacy_audio"] is True
        assert listed["openpack_packing"]["model"] is True
        assert listed["openpack_packing"]["privacy_audio"] is False
        assert http.get("/v1/procedures/latte_making").json()["privacy_audio"] is True
        auth = _device(http)
        refused = http.post(
            "/v1/sessions", json={"procedure": "openpack_packing", "privacy": True}, headers=auth
        )
        assert refused.status_code == 409
        assert "openpack_packing" in refused.json()["detail"]
        assert "privacy model" in refused.json()["detail"]
        wrong = http.post(
            "/v1/sessions", json={"procedure": "latte_making", "privacy": "yes"}, headers=auth
        )
        assert wrong.status_code == 422


def _refused(reply: dict[str, Any], seq: int) -> None:
    assert reply["type"] == "error" and reply["code"] == ErrorCode.BAD_FRAME
    assert reply["ref_seq"] == seq and "rate" in reply["message"]


def test_an_audio_frame_at_the_other_rate_is_refused_and_its_seq_stays_free() -> None:
    settings = service_settings(admin_token="admin", database=":memory:", warm_up_sessions=0)
    loud = SensorFrame(2, 1, 0.0, 16000.0, np.zeros(3200, np.float32))
    quiet = SensorFrame(2, 1, 0.0, 1000.0, np.zeros(200, np.float32))
    with TestClient(create_app(settings)) as client:
        auth = _device(client, "admin")
        token = auth["Authorization"].removeprefix("Bearer ")
        for privacy, wrong, right in ((True, loud, quiet), (False, quiet, loud)):
            body = {"procedure": "latte_making", "privacy": privacy}
            session_id = client.post("/v1/sessions", json=body, headers=auth).json()["session_id"]
            with client.websocket_connect(f"/v1/sessions/{session_id}/stream?token={token}") as ws:
                ws.send_json({"type": "hello", "seq": 1, "protocol": 1})
                welcome = ws.receive_json()
                assert welcome["audio_rate"] == (1000 if privacy else 16000)
                ws.send_bytes(_frame(1, wrong))
                _refused(ws.receive_json(), 1)
                ws.send_bytes(_frame(1, right))  # seq 1 is still free
                ws.send_json({"type": "question", "seq": 2, "text": "where am I?", "t": 0.2})
                assert ws.receive_json()["type"] == "answer"  # no gap, no duplicate


def test_the_privacy_flag_survives_a_restart(tmp_path: Path) -> None:
    settings = service_settings(
        admin_token="admin",
        database=str(tmp_path / "db.sqlite3"),
        warm_up_sessions=0,
        checkpoint_every_s=5.0,  # the restart goes through a checkpoint
    )
    frames = PRIVATE_FRAMES[:200]
    with TestClient(create_app(settings)) as client:
        auth = _device(client, "admin")
        token = auth["Authorization"].removeprefix("Bearer ")
        body = {"procedure": "latte_making", "privacy": True}
        session_id = client.post("/v1/sessions", json=body, headers=auth).json()["session_id"]
        with client.websocket_connect(f"/v1/sessions/{session_id}/stream?token={token}") as ws:
            ws.send_json({"type": "hello", "seq": 1, "protocol": 1})
            ws.receive_json()
            for seq, frame in enumerate(frames, start=1):
                ws.send_bytes(_frame(seq, frame))
            ws.send_json({"type": "question", "seq": 201, "text": "where am I?", "t": 20.0})
            while ws.receive_json()["type"] != "answer":
                pass
        before = client.get(f"/v1/sessions/{session_id}", headers=auth).json()
    store = SqliteStore(settings.server.database)
    row = store.session(session_id)
    assert row is not None and row.privacy
    assert store.checkpoint(session_id) is not None
    store.close()
    with TestClient(create_app(settings)) as client:  # a new process would do the same
        assert "prism_sessions_restored_from_checkpoint_total 1" in client.get("/metrics").text
        after = client.get(f"/v1/sessions/{session_id}", headers=auth).json()
        assert after.pop("probability") == pytest.approx(before.pop("probability"), abs=1e-6)
        assert after == before and after["privacy"] is True
        sent = len(client.get(f"/v1/sessions/{session_id}/events", headers=auth).json())
        with client.websocket_connect(f"/v1/sessions/{session_id}/stream?token={token}") as ws:
            ws.send_json({"type": "hello", "seq": 1, "protocol": 1, "resume_from": sent})
            welcome = ws.receive_json()
            assert welcome["audio_rate"] == 1000 and welcome["next_seq"] == 202
            loud = SensorFrame(2, 1, frames[-1].end_s, 16000.0, np.zeros(3200, np.float32))
            ws.send_bytes(_frame(202, loud))
            _refused(ws.receive_json(), 202)
            for seq, frame in enumerate(PRIVATE_FRAMES[200:260], start=202):
                ws.send_bytes(_frame(seq, frame))
            ws.send_json({"type": "question", "seq": 262, "text": "what's next?", "t": 26.0})
            while (message := ws.receive_json())["type"] != "answer":
                assert message["type"] != "error", message
