"""Recording sessions: step marks (tapped or a bare "next") streamed with the frames,
kept across a restart, exported as a recording zip whose labels are the segments between
the marks; the refusals."""

from __future__ import annotations

import io
import itertools
import json
import sqlite3
import zipfile
from functools import partial
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from hypothesis import given
from hypothesis import strategies as st
from starlette.testclient import WebSocketTestSession

from conftest import service_settings
from prism.data.recording import Recording, read_recording
from prism.data.recording_archive import read_recording_archive, recording_archive
from prism.procedure.io import load_procedure
from prism.protocol import ErrorCode, SensorFrame, encode_frame
from prism.server.app import create_app
from prism.server.errors import LabelsRefusedError
from prism.server.labels import LabelSegment, checked_labels
from prism.server.recordings import StepMark, labels_from_marks, next_marked_step
from prism.watch.replay import sensor_frames

ADMIN = {"Authorization": "Bearer admin"}
RECORDING = read_recording(Path("datasets/demo/latte_making-s000"))
STREAMED_S = 30.0
FRAME_S = 0.2
"""One tracker frame: the labels must come back within it."""


def _client(database: Path) -> TestClient:
    settings = service_settings(admin_token="admin", database=str(database), warm_up_sessions=0)
    return TestClient(create_app(settings))


def _device(client: TestClient, *, recording: bool) -> str:
    body = {"name": "research watch", "recording": recording}
    response = client.post("/v1/devices", json=body, headers=ADMIN)
    assert response.status_code == 200, response.text
    return str(response.json()["token"])


def _session(client: TestClient, token: str) -> str:
    auth = {"Authorization": f"Bearer {token}"}
    response = client.post("/v1/sessions", json={"procedure": "latte_making"}, headers=auth)
    assert response.status_code == 200, response.text
    return str(response.json()["session_id"])


def _expected_marks() -> list[tuple[float, str | None]]:
    """Marks at the demo's step starts (and a ``None`` mark in each gap) before
    :data:`STREAMED_S`."""
    marks: list[tuple[float, str | None]] = []
    segments = RECORDING.annotation.segments
    for segment, following in zip(segments, [*segments[1:], None], strict=True):
        if segment.start >= STREAMED_S:
            break
        marks.append((segment.start, segment.step))
        if following is not None and following.start > segment.end + 0.5:
            marks.append((segment.end, None))
    return marks


def _until(ws: WebSocketTestSession, kind: str) -> dict[str, Any]:
    """The next message of type ``kind`` (others skipped)."""
    while True:
        message = ws.receive_json()
        if message["type"] == kind:
            return dict(message)


def _stream_with_marks(ws: WebSocketTestSession) -> list[dict[str, Any]]:
    """Stream the demo's first :data:`STREAMED_S` with its marks: every second step
    marked by a typed "next", the others (and the gaps) tapped; the ``marked`` replies."""
    frames = [f for f in sensor_frames(RECORDING, chunk_s=0.5) if f.t0 < STREAMED_S]
    marks = _expected_marks()
    seq, replies, step_marks = 0, [], 0
    for frame in frames:
        while marks and marks[0][0] <= frame.t0:
            t, step = marks.pop(0)
            seq += 1
            if step is not None and step_marks % 2 == 1:
                ws.send_json({"type": "question", "seq": seq, "text": "next", "t": t})
            else:
                ws.send_json({"type": "mark", "seq": seq, "step": step, "t": t})
            step_marks += step is not None
            replies.append(_until(ws, "marked"))
        seq += 1
        ws.send_bytes(
            encode_frame(SensorFrame(frame.kind, seq, frame.t0, frame.rate, frame.samples))
        )
    return replies


def _exported(client: TestClient, session_id: str) -> bytes:
    response = client.get(f"/v1/sessions/{session_id}/recording", headers=ADMIN)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "application/zip"
    return bytes(response.content)


def _read(archive: bytes, tmp_path: Path) -> Recording:
    path = tmp_path / "export.zip"
    path.write_bytes(archive)
    return read_recording_archive(path)


def test_a_recording_session_streamed_with_marks_exports_its_labels(tmp_path: Path) -> None:
    database = tmp_path / "db.sqlite3"
    with _client(database) as client:
        token = _device(client, recording=True)
        session_id = _session(client, token)
        with client.websocket_connect(f"/v1/sessions/{session_id}/stream?token={token}") as ws:
            ws.send_json({"type": "hello", "protocol": 1})
            assert _until(ws, "welcome")["recording"] is True
            replies = _stream_with_marks(ws)
            # a mark is a correction "at" its step: the step state follows it
            ws.send_json({"type": "end", "seq": 10_000, "t": STREAMED_S})
        assert [(r["t"], r["step"]) for r in replies] == _expected_marks()
        archive = _exported(client, session_id)
    exported = _read(archive, tmp_path)
    expected = [s for s in RECORDING.annotation.segments if s.start < STREAMED_S]
    got = exported.annotation.segments
    assert [s.step for s in got] == [s.step for s in expected]
    for mine, truth in zip(got, expected, strict=True):
        assert mine.start == pytest.approx(truth.start, abs=FRAME_S)
        assert mine.end == pytest.approx(min(truth.end, exported.duration), abs=FRAME_S)
    assert exported.duration == pytest.approx(STREAMED_S, abs=0.5)
    assert exported.imu is not None and exported.audio is not None
    assert RECORDING.imu is not None
    assert not exported.synthetic and exported.task == "latte_making"
    assert exported.session_id == session_id
    assert exported.imu.values[:100] == pytest.approx(RECORDING.imu.values[:100], abs=1e-3)


def test_marks_survive_a_restart_and_next_goes_on_from_the_last_one(tmp_path: Path) -> None:
    database = tmp_path / "db.sqlite3"
    with _client(database) as client:
        token = _device(client, recording=True)
        session_id = _session(client, token)
        url = f"/v1/sessions/{session_id}/stream?token={token}"
        with client.websocket_connect(url) as ws:
            ws.send_json({"type": "hello", "protocol": 1})
            _until(ws, "welcome")
            _stream_with_marks(ws)
        before = _exported(client, session_id)
    with _client(database) as client:  # a new service on the same store
        after = _exported(client, session_id)
        labels = _read(after, tmp_path).annotation.segments
        assert labels == _read(before, tmp_path).annotation.segments and labels
        with client.websocket_connect(url) as ws:
            ws.send_json({"type": "hello", "protocol": 1, "resume_from": 10_000})
            next_seq = _until(ws, "welcome")["next_seq"]
            ws.send_json({"type": "question", "seq": next_seq, "text": "done", "t": 31.0})
            marked = _until(ws, "marked")
            step = _until(ws, "step")
    steps = load_procedure(Path("tasks/latte_making/procedure.yaml")).step_ids
    assert marked["step"] == next_marked_step(steps, "steam_milk") == "purge_wand"
    assert step["current"] == marked["step"]


def test_marks_are_refused_outside_recording_sessions_and_for_unknown_steps(
    tmp_path: Path,
) -> None:
    with _client(tmp_path / "db.sqlite3") as client:
        recorded, plain = _device(client, recording=True), _device(client, recording=False)
        for token, mark, code in (
            (recorded, {"step": "no_such_step"}, ErrorCode.UNKNOWN_STEP),
            (plain, {"step": "grind_beans"}, ErrorCode.BAD_FRAME),
        ):
            session_id = _session(client, token)
            with client.websocket_connect(f"/v1/sessions/{session_id}/stream?token={token}") as ws:
                ws.send_json({"type": "hello", "protocol": 1})
                _until(ws, "welcome")
                ws.send_json({"type": "mark", "seq": 1, "t": 1.0, **mark})
                error = _until(ws, "error")
                assert error["code"] == code and error["ref_seq"] == 1
                # the refused mark did not use up its seq
                ws.send_json({"type": "mark", "seq": 1, "t": 1.0, "step": None})
                if token == recorded:
                    assert _until(ws, "marked")["step"] is None
                else:
                    assert _until(ws, "error")["code"] == ErrorCode.BAD_FRAME
            response = client.get(f"/v1/sessions/{session_id}/recording", headers=ADMIN)
            if token == plain:
                assert response.status_code == 409
                assert "not recorded" in response.json()["detail"]
            else:  # no sensor data yet
                assert response.status_code == 409 and "no sensor data" in response.text
        assert client.get("/v1/sessions/ses-nope/recording", headers=ADMIN).status_code == 404
        assert client.get(f"/v1/sessions/{session_id}/recording").status_code == 401


@given(
    st.lists(
        st.tuples(
            st.floats(0.0, 120.0, allow_nan=False),
            st.sampled_from(["a", "b", "c", None]),
        ),
        max_size=12,
    ),
    st.floats(0.0, 100.0, allow_nan=False),
)
def test_labels_from_marks_are_ordered_disjoint_segments_inside_the_session(
    marks: list[tuple[float, str | None]], duration: float
) -> None:
    segments = labels_from_marks([StepMark(t, step) for t, step in marks], duration)
    starts = {t for t, step in marks if step is not None}
    for segment in segments:
        assert 0.0 <= segment.start < segment.end <= duration
        assert segment.start in starts
    for first, second in itertools.pairwise(segments):
        assert first.end <= second.start
        assert first.step != second.step or first.end < second.start


def test_next_follows_the_procedure_order() -> None:
    steps = ("a", "b", "c")
    assert [next_marked_step(steps, last) for last in (None, "a", "b", "c")] == [
        "a",
        "b",
        "c",
        None,
    ]


def test_the_zip_holds_the_recording_files(tmp_path: Path) -> None:
    archive = zipfile.ZipFile(io.BytesIO(recording_archive(RECORDING)))
    names = sorted(archive.namelist())
    folder = RECORDING.session_id
    assert names == sorted(
        f"{folder}/{n}" for n in ("meta.json", "imu.csv", "audio.wav", "labels.csv")
    )
    assert json.loads(archive.read(f"{folder}/meta.json"))["task"] == "latte_making"


def _segments(*rows: tuple[float, float, str | None]) -> list[dict[str, Any]]:
    return [{"start": start, "end": end, "step": step} for start, end, step in rows]


def _recorded_session(client: TestClient) -> str:
    """A recording session that streamed the demo's first :data:`STREAMED_S` with marks."""
    token = _device(client, recording=True)
    session_id = _session(client, token)
    with client.websocket_connect(f"/v1/sessions/{session_id}/stream?token={token}") as ws:
        ws.send_json({"type": "hello", "protocol": 1})
        _until(ws, "welcome")
        _stream_with_marks(ws)
    return session_id


def test_saved_labels_replace_the_marks_in_the_export_and_survive_a_restart(
    tmp_path: Path,
) -> None:
    database = tmp_path / "db.sqlite3"
    corrected = _segments(
        (1.0, 9.5, "attach_filter"), (9.5, 12.0, None), (12.0, 20.0, "grind_beans")
    )
    with _client(database) as client:
        session_id = _recorded_session(client)
        url = f"/v1/sessions/{session_id}/labels"
        before = client.get(url, headers=ADMIN).json()
        assert before["source"] == "marks" and before["procedure"] == "latte_making"
        assert before["duration"] == pytest.approx(STREAMED_S, abs=0.5)
        assert before["steps"][0] == {"id": "attach_filter", "name": "Attach filter"}
        from_marks = _read(_exported(client, session_id), tmp_path).annotation.segments
        assert [(s["step"], s["start"], s["end"]) for s in before["segments"]] == [
            (s.step, s.start, s.end) for s in from_marks
        ]
        saved = client.put(url, json=corrected, headers=ADMIN)
        assert saved.status_code == 200, saved.text
        expected = [s for s in corrected if s["step"] is not None]  # null: no step there
        assert saved.json()["segments"] == expected and saved.json()["source"] == "saved"
    with _client(database) as client:  # a new service on the same store
        assert client.get(url, headers=ADMIN).json()["segments"] == expected
        exported = _read(_exported(client, session_id), tmp_path)
        assert [(s.step, s.start, s.end) for s in exported.annotation.segments] == [
            (s["step"], s["start"], s["end"]) for s in expected
        ]
        assert exported.metadata["labels"] == "saved"
        labels_csv = zipfile.ZipFile(io.BytesIO(_exported(client, session_id))).read(
            f"{session_id}/labels.csv"
        )
        assert b"grind_beans" in labels_csv and b"brew_coffee" not in labels_csv


@pytest.mark.parametrize(
    ("body", "status", "words"),
    [
        (_segments((0, 5, "grind_beans"), (4, 8, "brew_coffee")), 422, "segment 1: starts at 4"),
        (_segments((0, 5, "grind_beans"), (6, 99, "brew_coffee")), 422, "segment 1: ends at 99"),
        (_segments((0, 5, "grind_beans"), (5, 8, "knit")), 422, "segment 1: step 'knit'"),
        (_segments((0, 5, None), (5, 5, "brew_coffee")), 422, "not before its end"),
        (_segments((-1, 5, "grind_beans")), 422, "greater than or equal to 0"),
        ([{"start": 0, "end": "later", "step": None}], 422, "valid number"),
    ],
    ids=["overlap", "past-the-end", "unknown-step", "empty", "negative", "not-a-number"],
)
def test_labels_that_do_not_fit_are_refused_naming_the_segment(
    tmp_path: Path, body: list[dict[str, Any]], status: int, words: str
) -> None:
    with _client(tmp_path / "db.sqlite3") as client:
        session_id = _recorded_session(client)
        response = client.put(f"/v1/sessions/{session_id}/labels", json=body, headers=ADMIN)
        assert response.status_code == status and words in response.text, response.text
        if isinstance(response.json()["detail"], list):  # pydantic's: the index in loc
            assert response.json()["detail"][0]["loc"][1] == len(body) - 1
        assert (
            client.get(f"/v1/sessions/{session_id}/labels", headers=ADMIN).json()["source"]
            == "marks"
        )


def test_labels_of_unknown_or_unrecorded_sessions_are_refused_and_nothing_is_stored(
    tmp_path: Path,
) -> None:
    database = tmp_path / "db.sqlite3"
    body = _segments((0, 1, "grind_beans"))
    with _client(database) as client:
        plain = _session(client, _device(client, recording=False))
        for method in (client.get, partial(client.put, json=body)):
            assert method(f"/v1/sessions/{plain}/labels", headers=ADMIN).status_code == 409
            assert method("/v1/sessions/ses-nope/labels", headers=ADMIN).status_code == 404
            assert method(f"/v1/sessions/{plain}/labels").status_code == 401
    with sqlite3.connect(database) as db:
        assert db.execute("SELECT COUNT(*) FROM inputs WHERE kind = 'labels'").fetchone() == (0,)


_STEPS = ("a", "b", "c")


@given(
    st.lists(
        st.tuples(
            st.floats(0.0, 12.0, allow_nan=False),
            st.floats(0.01, 4.0, allow_nan=False),
            st.sampled_from([*_STEPS, "zz", None]),
        ),
        max_size=8,
    ),
    st.floats(0.0, 30.0, allow_nan=False),
)
def test_checked_labels_accept_exactly_ordered_segments_inside_the_session_of_its_steps(
    rows: list[tuple[float, float, str | None]], duration: float
) -> None:
    given_segments = [LabelSegment(start=s, end=s + length, step=step) for s, length, step in rows]
    first_bad = next(
        (
            index
            for index, segment in enumerate(given_segments)
            if (index and segment.start < given_segments[index - 1].end)
            or segment.end > duration
            or segment.step not in (*_STEPS, None)
        ),
        None,
    )
    if first_bad is not None:
        with pytest.raises(LabelsRefusedError, match=f"^segment {first_bad}: "):
            checked_labels(given_segments, duration=duration, step_ids=_STEPS)
        return
    kept = checked_labels(given_segments, duration=duration, step_ids=_STEPS)
    covered = sum(s.end - s.start for s in given_segments if s.step is not None)
    assert sum(s.end - s.start for s in kept) == pytest.approx(covered)
    for segment in kept:
        assert 0.0 <= segment.start < segment.end <= duration and segment.step in _STEPS
    for first, second in itertools.pairwise(kept):
        assert first.end <= second.start
        assert first.step != second.step or first.end < second.start
