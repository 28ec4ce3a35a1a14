"""Tests for user corrections ("I am at X", "X is done", "X is not done yet")."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from prism.errors import PrismError, TrackerInputError
from prism.procedure.model import Procedure
from prism.tracker import CorrectionKind, HistoryEntry, StepTracker, TrackerState
from prism.tracker.beam import Beam, hypothesis_keys
from prism.tracker.corrections import apply_correction

OneHot = Callable[..., np.ndarray]  # the type of conftest's one_hot fixture
A, B, C, OTHER = 0, 1, 2, 3
UNIFORM = np.full(4, 0.25)


def feed(tracker: StepTracker, frames: np.ndarray) -> list[TrackerState]:
    return [tracker.update(frame) for frame in frames]


def assert_merged(beam: Beam) -> None:
    keys = hypothesis_keys(beam.node, beam.gap, beam.done)
    assert np.unique(keys).size == keys.size
    assert beam.log_score.max() == 0.0


@st.composite
def streams(draw: st.DrawFn, n_classes: int, max_frames: int = 30) -> np.ndarray:
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    concentration = draw(st.sampled_from([0.1, 1.0, 10.0]))
    return rng.dirichlet(np.full(n_classes, concentration), size=draw(st.integers(0, max_frames)))


# --- "at" ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "before",
    [[], [A] * 3, [A] * 5 + [OTHER] * 3, [A] * 5 + [B] * 5 + [C] * 5 + [OTHER] * 10],
    ids=["before-any-frame", "inside-a", "in-a-gap", "after-the-end"],
)
@pytest.mark.parametrize("step", ["a", "b", "c"])
def test_at_makes_the_step_current_at_once(
    small_procedure: Procedure, one_hot: OneHot, before: list[int], step: str
) -> None:
    tracker = StepTracker(small_procedure)
    if before:
        tracker.track(one_hot(before, 4, high=0.9))
    frame = tracker.frame
    state = tracker.correct("at", step)
    assert state.frame == tracker.frame == frame  # a correction is not a frame
    assert state.current_step == step
    assert state.current_probability == pytest.approx(1.0, abs=1e-12)
    assert state.history[-1].step == step
    already_in_it = bool(before) and before[-1] == small_procedure.step_index(step)
    assert state.history[-1].start == pytest.approx(0.0 if already_in_it else frame / 5.0)
    assert state.history[-1].end is None
    assert_merged(tracker._beam)


def test_at_is_respected_while_the_evidence_is_neutral(small_procedure: Procedure) -> None:
    """Steps last 5 +- 1 frames: with no evidence the corrected step goes on ~4 frames."""
    tracker = StepTracker(small_procedure)
    tracker.update(UNIFORM)
    tracker.correct("at", "b")
    states = feed(tracker, np.tile(UNIFORM, (3, 1)))
    assert all(s.current_step == "b" and s.current_probability > 0.99 for s in states)
    assert states[-1].history[-1] == HistoryEntry("b", 0.2, None)


def test_at_ends_the_step_the_user_was_in(small_procedure: Procedure, one_hot: OneHot) -> None:
    tracker = StepTracker(small_procedure)
    tracker.track(one_hot([A] * 3, 4, high=0.9))
    state = tracker.correct("at", "c")
    assert [(e.step, e.start, e.end) for e in state.history] == [
        ("a", 0.0, 0.6),
        ("c", 0.6, None),
    ]
    assert state.done_probabilities[A] > 0.9  # (hypotheses still at the start skip a)


def test_at_then_matching_evidence_keeps_the_step(
    small_procedure: Procedure, one_hot: OneHot
) -> None:
    tracker = StepTracker(small_procedure)
    tracker.track(one_hot([A] * 5 + [C] * 2, 4, high=0.6))  # a classifier confusing b with c
    tracker.correct("at", "b")
    states = feed(tracker, one_hot([B] * 3 + [C] * 5, 4, high=0.9))
    assert [s.current_step for s in states[:3]] == ["b"] * 3
    assert states[-1].current_step == "c"


# --- "done" -------------------------------------------------------------------------


def test_done_marks_the_step_finished_without_a_start(small_procedure: Procedure) -> None:
    tracker = StepTracker(small_procedure)
    feed(tracker, np.tile(UNIFORM, (3, 1)))
    state = tracker.correct("done", "b")
    assert state.done_probabilities[B] == pytest.approx(1.0, abs=1e-12)
    entry = next(e for e in state.history if e.step == "b")
    assert entry.start is None and entry.end is None
    assert state.history[0].step == "b"  # never-seen steps come first


def test_done_on_the_current_step_moves_on(small_procedure: Procedure, one_hot: OneHot) -> None:
    tracker = StepTracker(small_procedure)
    tracker.track(one_hot([A] * 3, 4, high=0.9))
    state = tracker.correct("done", "a")
    assert state.current_step is None  # in the gap after a
    assert state.done_probabilities[A] == pytest.approx(1.0)
    assert state.history[0].end == pytest.approx(0.6)
    assert state.next_steps(1)[0].step == "b"
    states = feed(tracker, one_hot([B] * 3, 4, high=0.9))
    assert states[-1].current_step == "b"


@pytest.mark.parametrize("name", ["small_procedure", "latte"])
@settings(max_examples=8, deadline=None)
@given(data=st.data())
def test_a_step_said_done_never_becomes_current_again(
    request: pytest.FixtureRequest, name: str, data: st.DataObject
) -> None:
    procedure: Procedure = request.getfixturevalue(name)
    n = procedure.n_steps
    step = data.draw(st.integers(0, n - 1))
    tracker = StepTracker(procedure)
    feed(tracker, data.draw(streams(n + 1)))
    state = tracker.correct("done", procedure.step_ids[step])
    assert state.class_probabilities[step] == 0.0
    assert state.done_probabilities[step] == pytest.approx(1.0, abs=1e-9)
    pushy = np.full(n + 1, 0.02 / n)
    pushy[step] = 0.98  # strong evidence for the step said done
    after = data.draw(streams(n + 1))
    for frame in [*after, *np.tile(pushy, (10, 1))]:
        state = tracker.update(frame)
        assert state.class_probabilities[step] == 0.0
        assert state.done_probabilities[step] == pytest.approx(1.0, abs=1e-9)
    assert procedure.step_ids[step] in [e.step for e in state.history]


# --- "not_done" ---------------------------------------------------------------------


def test_not_done_in_the_step_falls_back_and_it_can_start_again(
    small_procedure: Procedure, one_hot: OneHot
) -> None:
    tracker = StepTracker(small_procedure)
    tracker.track(one_hot([A] * 5 + [B] * 5, 4, high=0.9))
    state = tracker.correct("not_done", "b")
    assert state.done_probabilities[B] == 0.0
    assert state.class_probabilities[B] == 0.0
    assert [e.step for e in state.history] == ["a"]
    states = feed(tracker, one_hot([B] * 3, 4, high=0.9))
    assert states[-1].current_step == "b"
    assert states[-1].history[-1].start == pytest.approx(2.0)


def test_not_done_on_an_earlier_step_lets_it_start(
    small_procedure: Procedure, one_hot: OneHot
) -> None:
    tracker = StepTracker(small_procedure)
    tracker.track(one_hot([A] * 5 + [B] * 5, 4, high=0.9))
    state = tracker.correct("not_done", "a")
    assert state.done_probabilities[A] == 0.0
    assert state.current_step == "b"  # the user is still in b
    states = feed(tracker, one_hot([A] * 6, 4, high=0.9))
    assert any(s.current_step == "a" for s in states)


def test_not_done_after_the_end_lets_the_step_start(
    small_procedure: Procedure, one_hot: OneHot
) -> None:
    """ "b is not done yet" means the procedure has not ended either.

    The tracker thought the session was over (most weight on the end node, which never
    leaves); after the correction, clear evidence for b must make b current.
    """
    tracker = StepTracker(small_procedure)
    tracker.track(one_hot([A] * 5 + [B] * 5 + [C] * 5 + [OTHER] * 15, 4, high=0.9))
    state = tracker.correct("not_done", "b")
    assert state.done_probabilities[B] == 0.0
    states = feed(tracker, one_hot([B] * 5, 4, high=0.9))  # b lasts 5 +- 1 frames
    assert [s.current_step for s in states[2:]] == ["b"] * 3


@pytest.mark.parametrize("name", ["small_procedure", "latte"])
@settings(max_examples=8, deadline=None)
@given(data=st.data())
def test_not_done_clears_the_step_everywhere(
    request: pytest.FixtureRequest, name: str, data: st.DataObject
) -> None:
    procedure: Procedure = request.getfixturevalue(name)
    n = procedure.n_steps
    step = data.draw(st.integers(0, n - 1))
    tracker = StepTracker(procedure)
    feed(tracker, data.draw(streams(n + 1)))
    state = tracker.correct("not_done", procedure.step_ids[step])
    assert state.done_probabilities[step] == 0.0
    assert state.class_probabilities[step] == 0.0
    assert state.class_probabilities.sum() == pytest.approx(1.0, abs=1e-9)
    assert procedure.step_ids[step] not in [e.step for e in state.history]
    assert np.all(tracker._beam.step_start[:, step] == -1)
    assert_merged(tracker._beam)
    for frame in data.draw(streams(n + 1, max_frames=10)):  # tracking goes on normally
        state = tracker.update(frame)
        assert state.class_probabilities.sum() == pytest.approx(1.0, abs=1e-9)


# --- every kind ---------------------------------------------------------------------


@pytest.mark.parametrize("kind", list(CorrectionKind))
@settings(max_examples=6, deadline=None)
@given(data=st.data())
def test_corrections_keep_the_beam_valid_and_do_not_touch_their_input(
    latte: Procedure, kind: CorrectionKind, data: st.DataObject
) -> None:
    n = latte.n_steps
    tracker = StepTracker(latte)
    feed(tracker, data.draw(streams(n + 1)))
    beam = tracker._beam
    copy = [np.copy(field) for field in beam]
    step = data.draw(st.integers(0, n - 1))
    corrected = apply_correction(beam, kind, step, n_steps=n)
    for before, after in zip(copy, beam, strict=True):
        np.testing.assert_array_equal(before, after)
    assert corrected.frame == beam.frame
    assert 1 <= corrected.node.shape[0] <= beam.node.shape[0]
    assert corrected.step_start.shape == (corrected.node.shape[0], n)
    assert_merged(corrected)
    # probability moves only between the step and "other" (or, for "at", all to the step)
    old = TrackerState(tracker.model, beam).class_probabilities
    new = TrackerState(tracker.model, corrected).class_probabilities
    if kind is CorrectionKind.AT:
        expected = np.eye(n + 1)[step]
    else:
        expected = old.copy()
        expected[n] += expected[step]
        expected[step] = 0.0
    np.testing.assert_allclose(new, expected, atol=1e-9)


def test_corrections_accept_the_enum_and_its_value(small_procedure: Procedure) -> None:
    by_value = StepTracker(small_procedure).correct("at", "b")
    by_enum = StepTracker(small_procedure).correct(CorrectionKind.AT, "b")
    np.testing.assert_array_equal(by_value.class_probabilities, by_enum.class_probabilities)
    assert CorrectionKind("not_done") is CorrectionKind.NOT_DONE


@pytest.mark.parametrize(
    ("kind", "step", "message"),
    [
        pytest.param("at", "zzz", r"unknown step 'zzz'; known steps: a, b, c", id="unknown-step"),
        pytest.param("done", "A", r"unknown step 'A'", id="wrong-case"),
        pytest.param("not_done", "", r"unknown step ''", id="empty-step"),
        pytest.param(
            "maybe",
            "a",
            r"unknown correction 'maybe'; expected one of at, done, not_done",
            id="kind",
        ),
        pytest.param("AT", "a", r"unknown correction 'AT'", id="kind-case"),
    ],
)
def test_a_bad_correction_is_rejected_and_changes_nothing(
    small_procedure: Procedure, one_hot: OneHot, kind: Any, step: str, message: str
) -> None:
    tracker = StepTracker(small_procedure)
    tracker.track(one_hot([A] * 3, 4, high=0.9))
    before = tracker.state()
    beam = [np.copy(field) for field in tracker._beam]
    with pytest.raises(TrackerInputError, match=message) as info:
        tracker.correct(kind, step)
    assert isinstance(info.value, ValueError) and isinstance(info.value, PrismError)
    after = tracker.state()
    assert after.frame == before.frame
    np.testing.assert_array_equal(after.class_probabilities, before.class_probabilities)
    assert after.history == before.history
    for old, new in zip(beam, tracker._beam, strict=True):
        np.testing.assert_array_equal(old, new)
