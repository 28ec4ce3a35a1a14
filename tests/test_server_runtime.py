"""SessionRuntime: a recorded session streamed as watch frames, with questions and corrections."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from prism.data.annotations import frame_labels
from prism.data.recording import read_recording
from prism.errors import DataError
from prism.procedure.io import load_procedure
from prism.protocol import (
    CorrectionMessage,
    End,
    ErrorCode,
    Question,
    ReminderAction,
    SensorFrame,
    decode_frame,
    encode_frame,
)
from prism.sensing.classifier import ActivityClassifier
from prism.server.runtime import ProbabilityHistory, RuntimeEvent, SessionRuntime
from prism.watch.replay import sensor_frames

LATTE = load_procedure("tasks/latte_making/procedure.yaml")
RECORDING = read_recording(Path("datasets/demo/latte_making-s000"))
MODEL = ActivityClassifier.load("models/latte_making")


def _frames() -> list[SensorFrame]:
    """The recording as a watch sends it (0.5 s IMU and audio frames in time order), each
    through the binary codec."""
    return [
        decode_frame(encode_frame(SensorFrame(f.kind, seq, f.t0, f.rate, f.samples)))
        for seq, f in enumerate(sensor_frames(RECORDING, chunk_s=0.5), start=1)
    ]


@pytest.fixture(scope="module")
def streamed() -> tuple[SessionRuntime, list[RuntimeEvent]]:
    runtime = SessionRuntime(LATTE, MODEL)
    events: list[RuntimeEvent] = []
    for frame in _frames():
        events.extend(runtime.handle_frame(frame))
    events.extend(
        runtime.handle_control(End(type="end", seq=10_000, t=RECORDING.annotation.duration))
    )
    return runtime, events


def test_steps_follow_the_recording(streamed: tuple[SessionRuntime, list[RuntimeEvent]]) -> None:
    runtime, events = streamed
    steps = [e for e in events if e.kind == "step"]
    assert steps and all(e.data["current"] in (None, *LATTE.step_ids) for e in steps)
    times = [e.t for e in steps]
    assert times == sorted(times)
    # the tracked path agrees with the labels on most of the session
    labels = frame_labels(RECORDING.annotation, LATTE.step_ids)
    history = runtime.state.history
    tracked = np.full(labels.size, LATTE.n_steps)
    for entry in history:
        start = int((entry.start or 0.0) * 5)
        end = labels.size if entry.end is None else int(entry.end * 5)
        tracked[start:end] = LATTE.step_index(entry.step)
    assert np.mean(tracked == labels) > 0.6
    last = steps[-1]
    assert last.message(7) == {"type": "step", "seq": 7, "t": last.t, **last.data}


def test_questions_corrections_and_reminder_actions() -> None:
    runtime = SessionRuntime(LATTE, MODEL)
    frames = _frames()
    for frame in frames[: len(frames) // 2]:
        runtime.handle_frame(frame)
    answer = runtime.handle_control(Question(type="question", seq=1, text="what's next?", t=30.0))
    assert answer[0].kind == "answer" and answer[0].data["text"]
    statement = runtime.handle_control(
        Question(type="question", seq=2, text="I already washed the jug", t=31.0)
    )
    assert statement[0].data["correction"] == {"kind": "done", "step": "wash_jug"}
    assert statement[1].kind == "step"
    done = runtime.handle_control(
        CorrectionMessage(type="correction", seq=3, kind="done", step="purge_wand", t=32.0)
    )
    assert done[0].kind == "step"
    unknown = runtime.handle_control(
        CorrectionMessage(type="correction", seq=4, kind="at", step="make_tea", t=33.0)
    )
    assert unknown[0].kind == "error" and unknown[0].data["code"] == ErrorCode.UNKNOWN_STEP
    assert "make_tea" in unknown[0].data["message"] and unknown[0].data["ref_seq"] == 4
    missing = runtime.handle_control(
        ReminderAction(type="reminder_action", seq=5, reminder_id=99, action="dismiss")
    )
    assert missing[0].kind == "error" and "unknown reminder id 99" in missing[0].data["message"]


def test_ending_early_reminds_the_required_steps_not_done() -> None:
    runtime = SessionRuntime(LATTE, MODEL)
    frames = _frames()
    for frame in frames[: len(frames) // 3]:
        runtime.handle_frame(frame)
    started = runtime.state.started_probabilities
    open_required = {
        step.id
        for step in LATTE.steps
        if step.notes.must_not_skip and started[LATTE.step_index(step.id)] < 0.2
    }
    assert open_required  # the latte recipe has required steps late in the recipe
    events = runtime.handle_control(End(type="end", seq=10_000, t=runtime.state.time))
    reminders = [e for e in events if e.kind == "reminder"]
    assert {e.data["step"] for e in reminders} >= open_required
    assert all(e.data["kind"] == "missed_step" for e in reminders)
    assert all(e.data["reason"].startswith("Before you finish") for e in reminders)
    assert events[-1].kind == "step" and events[-1].data["final"]


def test_a_classifier_for_another_procedure_is_refused() -> None:
    wound = load_procedure("tasks/wound_care/procedure.yaml")
    with pytest.raises(DataError, match="do not match the steps"):
        SessionRuntime(wound, MODEL)


@given(
    capacity=st.integers(1, 8),
    values=st.lists(st.floats(0.0, 1.0, width=32), max_size=30),
    n=st.integers(0, 12),
)
def test_probability_history_keeps_the_last_snapshots_in_order(
    capacity: int, values: list[float], n: int
) -> None:
    history = ProbabilityHistory(capacity, 2)
    for t, value in enumerate(values):
        history.append(float(t), np.array([value, 1.0 - value]))
    times, rows = history.last(n)
    kept = list(enumerate(values))[-capacity:][-n:] if n else []
    assert len(history) == min(capacity, len(values))
    assert times.tolist() == [float(t) for t, _ in kept]
    assert rows[:, 0].tolist() == [v for _, v in kept]
