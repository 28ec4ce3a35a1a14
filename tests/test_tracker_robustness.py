"""The tracker against real classifiers' habits: long idles, pauses, error runs, bad input."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from prism.data.simulated import SimulatedClassifierConfig, simulate_stream
from prism.errors import TrackerInputError
from prism.evaluation.metrics import frame_accuracy
from prism.procedure.model import Procedure
from prism.tracker import StepTracker, TrackerConfig
from prism.tracker.evidence import ClassifierProfile, fit_classifier_profile

MODELS = Path(__file__).resolve().parents[1] / "models"


def clear(procedure: Procedure, step: int | None, confidence: float = 0.9) -> np.ndarray:
    """A frame in which the classifier is sure of ``step`` (``None``: other)."""
    n = procedure.n_steps
    frame = np.full(n + 1, (1.0 - confidence) / n)
    frame[n if step is None else step] = confidence
    return frame


def latte_profile() -> ClassifierProfile:
    """The shipped latte model's validation confusion matrix, as the service uses it."""
    counts = json.loads((MODELS / "latte_making" / "confusion_matrix.json").read_text())["counts"]
    return ClassifierProfile.from_confusion(np.array(counts))


def seconds_until(tracker: StepTracker, frame: np.ndarray, step: str, limit_s: float) -> float:
    """Feed ``frame`` until the tracker reports ``step``; seconds it took (inf: never)."""
    rate = tracker.config.frame_rate
    for k in range(int(limit_s * rate)):
        if tracker.update(frame).current_step == step:
            return (k + 1) / rate
    return float("inf")


RATES = pytest.mark.parametrize("rate", [1.0, 5.0])
EVIDENCE = pytest.mark.parametrize("with_profile", [False, True], ids=["tempered", "run-model"])


def service_tracker(procedure: Procedure, rate: float, with_profile: bool) -> StepTracker:
    """A tracker at ``rate`` Hz, with the shipped latte model's profile or without one."""
    profile = latte_profile() if with_profile else None
    return StepTracker(procedure, TrackerConfig(frame_rate=rate, classifier_profile=profile))


@RATES
@EVIDENCE
def test_a_step_after_half_an_hour_of_idle_is_tracked_within_5_s(
    latte: Procedure, rate: float, with_profile: bool
) -> None:
    tracker = service_tracker(latte, rate, with_profile)
    idle = clear(latte, None)
    for _ in range(int(30 * 60 * rate)):
        state = tracker.update(idle)
    assert state.current_step is None
    assert seconds_until(tracker, clear(latte, 0), latte.step_ids[0], 30.0) <= 5.0


@RATES
@EVIDENCE
def test_the_next_step_after_a_10_minute_pause_is_tracked_within_5_s(
    latte: Procedure, rate: float, with_profile: bool
) -> None:
    tracker = service_tracker(latte, rate, with_profile)
    for i in range(5):
        for _ in range(round(latte.steps[i].duration.mean * rate)):
            tracker.update(clear(latte, i))
    for _ in range(int(10 * 60 * rate)):
        state = tracker.update(clear(latte, None))
    assert state.current_step is None
    assert state.done_probabilities[:5].min() > 0.9
    assert seconds_until(tracker, clear(latte, 5), latte.step_ids[5], 30.0) <= 5.0


def test_a_long_idle_does_not_make_the_end_certain(latte: Procedure) -> None:
    tracker = StepTracker(latte, TrackerConfig(frame_rate=1.0))
    for _ in range(10 * 60):
        tracker.update(clear(latte, None))
    ended = tracker.state().beam.node == latte.n_steps + 1
    weights = np.exp(tracker.state().beam.log_score)
    assert weights[ended].sum() / weights.sum() < 0.9


def test_after_the_end_the_task_can_resume(latte: Procedure) -> None:
    """Two steps, then a long silence: a later step is still tracked when it comes."""
    tracker = StepTracker(latte, TrackerConfig(frame_rate=1.0))
    for i in range(2):
        for _ in range(round(latte.steps[i].duration.mean)):
            tracker.update(clear(latte, i))
    for _ in range(3 * 60 * 60):
        tracker.update(clear(latte, None))
    assert seconds_until(tracker, clear(latte, 2), latte.step_ids[2], 30.0) <= 10.0


def test_the_first_frame_is_decided_by_its_evidence(latte: Procedure) -> None:
    state = StepTracker(latte).update(clear(latte, 0, confidence=0.95))
    assert state.current_step == latte.step_ids[0] and state.current_probability > 0.6
    state = StepTracker(latte).update(clear(latte, None, confidence=0.95))
    assert state.current_step is None and state.current_probability > 0.8


@pytest.mark.parametrize(
    "bad",
    [
        pytest.param(lambda n: ["0.05"] * n, id="strings"),
        pytest.param(lambda n: [True] + [0.0] * (n - 1), id="booleans"),
        pytest.param(lambda n: np.eye(n, dtype=bool)[0], id="bool-array"),
        pytest.param(lambda n: [None] * n, id="none"),
        pytest.param(lambda n: {"a": 1}, id="dict"),
    ],
)
def test_non_numbers_are_refused_and_leave_the_state(latte: Procedure, bad) -> None:  # type: ignore[no-untyped-def]
    tracker = StepTracker(latte)
    tracker.update(clear(latte, 0))
    before = tracker.state()
    with pytest.raises(TrackerInputError, match="array of numbers"):
        tracker.update(bad(latte.n_steps + 1))
    assert tracker.frame == before.frame
    np.testing.assert_array_equal(tracker.state().class_probabilities, before.class_probabilities)


def session_labels(procedure: Procedure, rate: float) -> np.ndarray:
    labels: list[int] = []
    for i, step in enumerate(procedure.steps):
        labels += [i] * round(step.duration.mean * rate)
        if i % 3 == 2:
            labels += [procedure.n_steps] * round(6 * rate)
    return np.array(labels)


@pytest.mark.parametrize("rate", [1.0, 5.0])
def test_long_error_runs_do_not_pull_the_tracker_below_the_raw_classifier(
    latte: Procedure, rate: float
) -> None:
    """5-second error runs that do not show in the confidence, profile from held-out runs."""
    labels = session_labels(latte, rate)
    config = SimulatedClassifierConfig(mean_error_run_s=5.0, frame_rate=rate)
    names = [step.name for step in latte.steps]
    held_out = [
        simulate_stream(labels, n_classes=latte.n_steps + 1, config=config, names=names, seed=s)
        for s in (1, 2, 3)
    ]
    profile = fit_classifier_profile(
        [labels] * 3,
        [h.predictions for h in held_out],
        n_classes=latte.n_steps + 1,
        frame_rate=rate,
    )
    test = simulate_stream(labels, n_classes=latte.n_steps + 1, config=config, names=names, seed=0)
    tracker = StepTracker(latte, TrackerConfig(frame_rate=rate, classifier_profile=profile))
    tracked = tracker.track(test.probabilities).classes
    raw = frame_accuracy(labels, test.predictions)
    assert raw < 0.62
    assert frame_accuracy(labels, tracked) > raw + 0.1
