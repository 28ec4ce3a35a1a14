"""Guided mode: a task without a trained model is tracked from durations and the user's
words, its sensor frames only keeping the clock."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np
import pytest
from fastapi.testclient import TestClient
from hypothesis import given, settings
from hypothesis import strategies as st

from conftest import service_settings
from prism.assistant import IntentKind, SessionAssistant
from prism.assistant.intents import step_command
from prism.procedure.io import load_procedure
from prism.procedure.model import Procedure
from prism.protocol import FrameKind, Question, SensorFrame, encode_frame
from prism.sensing.uninformative import UninformativeStream, uninformative_frames
from prism.server.app import create_app
from prism.server.checkpoint import dump_runtime, load_runtime
from prism.server.runtime import SessionRuntime
from prism.settings import get_settings
from prism.tracker import StepTracker

WOUND = load_procedure(get_settings().tasks_dir / "wound_care" / "procedure.yaml")


@settings(max_examples=50, deadline=None)
@given(chunks=st.lists(st.integers(0, 20_000), max_size=30))
def test_the_audio_keeps_the_clock_whatever_its_chunks(chunks: list[int]) -> None:
    stream = UninformativeStream(4)
    rows = [stream.pop_frames() for n in chunks if stream.push_audio(np.zeros(n)) is None]
    total = np.concatenate([np.zeros((0, 4)), *rows])
    assert total.shape == (int(sum(chunks) / 16_000 * 5 + 1e-9), 4)
    assert np.all(total == 0.25)
    end = stream.finish()
    assert total.shape[0] + end.shape[0] == int(np.ceil(sum(chunks) / 16_000 * 5 - 1e-9))


def test_imu_and_audio_together_count_once() -> None:
    stream = UninformativeStream(3, audio_rate=1000)
    stream.push_imu(np.arange(0.0, 2.0, 0.02), np.zeros((100, 6)))  # up to 2.0 s
    stream.push_audio(np.zeros(1500))  # 1.5 s
    assert stream.pop_frames().shape == (10, 3)
    stream.push_audio(np.zeros(1000))  # audio now reaches 2.5 s
    assert stream.pop_frames().shape == (2, 3)
    assert stream.model_parts() == {}
    assert uninformative_frames(0, 3).shape == (0, 3)


def test_uninformative_frames_move_the_tracker_by_durations_never_to_other() -> None:
    tracker = StepTracker(WOUND)
    states = [tracker.update(row) for row in uninformative_frames(5 * 180, WOUND.n_steps + 1)]
    assert all(state.current_step is not None for state in states[25:])
    assert len({state.current_step for state in states}) >= 3  # it moved on, by the durations


@pytest.mark.parametrize(
    ("utterance", "command"),
    [
        ("next", "done"),
        ("ok, next step", "done"),
        ("I'm done with this", "done"),
        ("finished", "done"),
        ("skip that", "skip"),
        ("skip this step please", "skip"),
        ("what's next?", None),
        ("next I put on the gloves", None),
        ("is it done?", None),
        ("skip the gloves?", None),
    ],
)
def test_bare_commands_are_told_from_questions(utterance: str, command: str | None) -> None:
    assert step_command(utterance) == command


def _on(procedure: Procedure, step: str, *, guided: bool) -> SessionAssistant:
    tracker = StepTracker(procedure)
    tracker.correct("at", step)
    return SessionAssistant(tracker, guided=guided)


def test_next_marks_the_step_done_and_says_what_to_do_now() -> None:
    session = _on(WOUND, "wash_hands", guided=True)
    reply = session.ask("next")
    assert reply.text is not None and reply.text.startswith("OK, wash hands is done. Now: ")
    following = WOUND.step(reply.steps[-1])
    assert following.description in reply.text
    state = session.tracker.state()
    assert [h.step for h in state.history] == ["wash_hands", following.id]
    assert state.current_step == following.id
    skipped = session.ask("skip that")
    assert skipped.intent == IntentKind.CORRECT_AT
    assert str(skipped.text).startswith(f"OK, skipping {following.name_in_sentence}. Now: ")
    state = session.tracker.state()
    assert state.current_step == skipped.steps[-1] != following.id
    assert [h.step for h in state.history] == ["wash_hands", state.current_step]
    assert session.ask("what's next?").correction is None  # a question stays a question


def test_with_a_recognizer_next_is_a_question() -> None:
    session = _on(WOUND, "wash_hands", guided=False)
    reply = session.ask("next")
    assert reply.correction is None and reply.intent == IntentKind.NEXT


@pytest.fixture
def client() -> Iterator[TestClient]:
    settings = service_settings(admin_token="admin-secret", database=":memory:")
    with TestClient(create_app(settings)) as test_client:
        yield test_client


def _imu(seq: int, t0: float, seconds: float) -> bytes:
    n = round(seconds * 50)
    samples = np.zeros((n, 6), dtype=np.float32)
    samples[:, 2] = 9.81
    return encode_frame(SensorFrame(FrameKind.IMU, seq, t0, 50.0, samples))


def _until(ws: Any, kind: str) -> list[dict[str, Any]]:
    seen = []
    for _ in range(500):
        seen.append(ws.receive_json())
        assert seen[-1]["type"] != "error", seen[-1]
        if seen[-1]["type"] == kind:
            return seen
    raise AssertionError(f"no {kind!r}")


def test_a_session_of_a_task_without_a_model_runs_guided(client: TestClient) -> None:
    admin = {"Authorization": "Bearer admin-secret"}
    token = client.post("/v1/devices", json={"name": "w"}, headers=admin).json()["token"]
    auth = {"Authorization": f"Bearer {token}"}
    opened = client.post("/v1/sessions", json={"procedure": "wound_care"}, headers=auth).json()
    assert opened["mode"] == "guided"
    latte = client.post("/v1/sessions", json={"procedure": "latte_making"}, headers=auth).json()
    assert latte["mode"] == "sensing"
    url = f"/v1/sessions/{opened['session_id']}/stream?token={token}"
    with client.websocket_connect(url) as ws:
        ws.send_json({"type": "hello", "seq": 1, "protocol": 1, "resume_from": 0})
        welcome = ws.receive_json()
        assert welcome["type"] == "welcome" and welcome["mode"] == "guided"
        for seq in range(1, 21):  # 20 s of motion: the clock, nothing recognized
            ws.send_bytes(_imu(seq, float(seq - 1), 1.0))
        steps = [m for m in _until(ws, "step") if m["type"] == "step"]
        while steps[-1]["t"] < 15.0:  # heartbeats (every 5 s) and changes
            steps += [m for m in _until(ws, "step") if m["type"] == "step"]
        assert steps[-1]["current"] is not None
        ws.send_json({"type": "question", "seq": 21, "text": "next", "t": 20.0})
        replies = _until(ws, "answer")
        answer = replies[-1]
        assert "is done. Now:" in answer["text"] and answer["correction"]["kind"] == "at"
        after = _until(ws, "step")[-1]
        assert after["current"] != steps[-1]["current"]
    view = client.get(f"/v1/sessions/{opened['session_id']}", headers=auth).json()
    assert view["mode"] == "guided" and view["time_s"] >= 19.0


def test_a_guided_session_checkpoints_and_goes_on_where_it_was() -> None:
    runtime = SessionRuntime(WOUND, None)
    assert runtime.mode == "guided"
    for seq in range(1, 31):
        runtime.handle_frame(
            SensorFrame(FrameKind.AUDIO, seq, seq - 1.0, 16_000.0, np.zeros(16_000, np.float32))
        )
    runtime.handle_control(Question(type="question", seq=31, text="next", t=30.0))
    restored = load_runtime(dump_runtime(runtime), SessionRuntime(WOUND, None))
    assert restored.mode == "guided"
    assert restored.state.time == runtime.state.time
    assert restored.state.current_step == runtime.state.current_step
    frame = SensorFrame(FrameKind.AUDIO, 32, 30.0, 16_000.0, np.zeros(16_000, np.float32))
    assert [e.data for e in restored.handle_frame(frame)] == [
        e.data for e in runtime.handle_frame(frame)
    ]
