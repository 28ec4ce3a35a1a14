"""Tests for prism.tracker.tracker: the public streaming tracker and its offline twin."""

from __future__ import annotations

import doctest
import math
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import prism.tracker.tracker as tracker_module
from prism.data.simulated import SimulatedClassifierConfig, simulate_classifier
from prism.errors import PrismError, TrackerInputError
from prism.evaluation.metrics import edit_score, frame_accuracy, segments
from prism.procedure.model import Procedure
from prism.tracker import HistoryEntry, StepTracker, TrackerConfig, TrackResult, track
from prism.tracker.beam import Beam

OneHot = Callable[..., np.ndarray]  # the type of conftest's one_hot fixture
A, B, C, OTHER = 0, 1, 2, 3


def chain_labels(*runs: tuple[int, int]) -> list[int]:
    """``chain_labels((A, 5), (B, 5))`` -> ``[0, 0, 0, 0, 0, 1, 1, 1, 1, 1]``."""
    return [label for label, count in runs for _ in range(count)]


def snapshot(tracker: StepTracker) -> dict[str, Any]:
    """Everything observable about a tracker, to check that a call changed nothing."""
    state = tracker.state()
    return {
        "frame": tracker.frame,
        "classes": state.class_probabilities.copy(),
        "done": state.done_probabilities.copy(),
        "history": state.history,
        "beam": [np.copy(field) for field in tracker._beam],
    }


def assert_same_snapshot(before: dict[str, Any], after: dict[str, Any]) -> None:
    assert before["frame"] == after["frame"]
    np.testing.assert_array_equal(before["classes"], after["classes"])
    np.testing.assert_array_equal(before["done"], after["done"])
    assert before["history"] == after["history"]
    for old, new in zip(before["beam"], after["beam"], strict=True):
        np.testing.assert_array_equal(old, new)


def assert_no_revisit(previous: Beam, beam: Beam, procedure: Procedure) -> None:
    """A hypothesis that entered step X at this frame came from one that had not done X.

    (Entering sets X's bit, so the parent's done set is the child's without X; for a
    repeatable step the parent may also have done it already.)
    """
    n, t = procedure.n_steps, previous.frame
    for node, gap, done, entry in zip(beam.node, beam.gap, beam.done, beam.entry, strict=True):
        if node < n and not gap and entry == t:
            without = int(done) & ~(1 << int(node))
            parents = previous.done == without
            if procedure.steps[int(node)].repeatable:
                parents |= previous.done == done
            assert parents.any(), f"frame {t}: step {procedure.steps[int(node)].id} re-entered"


# --- known answers ------------------------------------------------------------------


@pytest.mark.parametrize("high", [1.0, 0.9, 0.7, 0.6])
def test_a_clean_chain_is_tracked(small_procedure: Procedure, one_hot: OneHot, high: float) -> None:
    labels = chain_labels((A, 5), (B, 5), (C, 5), (OTHER, 5))
    result = track(small_procedure, one_hot(labels, 4, high=high))
    assert segments(result.classes).tolist() == [A, B, C, OTHER]
    wrong = np.flatnonzero(result.classes != np.array(labels))
    transitions = [5, 10, 15]
    assert all(min(abs(w - t) for t in transitions) <= 1 for w in wrong), wrong  # lag <= 1 frame
    history = result.final.history
    assert [entry.step for entry in history] == ["a", "b", "c"]
    for entry, (start, end) in zip(history, [(0, 5), (5, 10), (10, 15)], strict=True):
        assert entry.start == pytest.approx(start / 5.0, abs=0.21)
        assert entry.end == pytest.approx(end / 5.0, abs=0.21)


def test_a_clean_one_hot_chain_is_tracked_exactly(
    small_procedure: Procedure, one_hot: OneHot
) -> None:
    labels = chain_labels((A, 5), (B, 5), (C, 5), (OTHER, 5))
    result = track(small_procedure, one_hot(labels, 4))
    assert result.classes.tolist() == labels
    assert result.final.history == (
        HistoryEntry("a", 0.0, 1.0),
        HistoryEntry("b", 1.0, 2.0),
        HistoryEntry("c", 2.0, 3.0),
    )


@pytest.mark.parametrize(
    "labels",
    [
        chain_labels((A, 3), (B, 1), (A, 2), (B, 5), (C, 5), (OTHER, 5)),
        chain_labels((A, 2), (B, 2), (A, 2), (B, 5), (C, 5), (OTHER, 5)),
        chain_labels((A, 2), (C, 2), (A, 2), (B, 5), (C, 5), (OTHER, 5)),
        chain_labels((A, 2), (OTHER, 1), (A, 3), (B, 5), (C, 5), (OTHER, 5)),
    ],
    ids=["b-one-frame", "b-two-frames", "c-two-frames", "other-one-frame"],
)
def test_a_brief_blip_inside_a_step_is_smoothed_away(
    small_procedure: Procedure, one_hot: OneHot, labels: list[int]
) -> None:
    result = track(small_procedure, one_hot(labels, 4, high=0.9))
    assert segments(result.classes).tolist() == [A, B, C, OTHER]
    assert np.all(result.classes[:6] == A)


def test_a_done_step_is_not_current_again(small_procedure: Procedure, one_hot: OneHot) -> None:
    """After a -> b, five frames of strong evidence for a (not repeatable) do not bring it back."""
    labels = chain_labels((A, 5), (B, 5), (A, 5))
    tracker = StepTracker(small_procedure)
    for t, frame in enumerate(one_hot(labels, 4, high=0.9)):
        previous = tracker._beam
        state = tracker.update(frame)
        assert_no_revisit(previous, tracker._beam, small_procedure)
        if t >= 6:
            assert state.current_step != "a"
            assert state.class_probabilities[A] < 0.05


def test_a_repeatable_step_can_be_current_again(
    repeat_procedure: Procedure, one_hot: OneHot
) -> None:
    labels = chain_labels((A, 5), (B, 5), (A, 5))
    result = track(repeat_procedure, one_hot(labels, 4, high=0.9))
    assert segments(result.classes[:15]).tolist() == [A, B, A]
    assert np.all(result.classes[11:15] == A)
    assert result.final.history[-1].step == "a"
    assert result.final.history[-1].start == pytest.approx(2.0, abs=0.21)


def test_other_between_steps_is_a_gap(small_procedure: Procedure, one_hot: OneHot) -> None:
    labels = chain_labels((A, 5), (OTHER, 4), (B, 5), (C, 5), (OTHER, 3))
    tracker = StepTracker(small_procedure)
    classes = []
    for t, frame in enumerate(one_hot(labels, 4, high=0.9)):
        state = tracker.update(frame)
        classes.append(state.current_class)
        if 6 <= t <= 8:  # inside the gap: the best hypothesis is "after a", not the start/end
            best = int(np.argmax(tracker._beam.log_score))
            assert tracker._beam.gap[best] and tracker._beam.node[best] == A
            assert state.done_probabilities[A] > 0.9
            assert state.next_steps(1)[0].step == "b"
    assert classes == labels
    assert state.history == (
        HistoryEntry("a", 0.0, 1.0),
        HistoryEntry("b", 1.8, 2.8),
        HistoryEntry("c", 2.8, 3.8),
    )


def test_the_end_of_the_procedure(small_procedure: Procedure, one_hot: OneHot) -> None:
    """After the last step the tracker stays at the end: steps are not started again."""
    labels = chain_labels((A, 5), (B, 5), (C, 5), (OTHER, 20), (A, 5), (B, 5))
    result = track(small_procedure, one_hot(labels, 4, high=0.9))
    assert np.all(result.classes[16:] == OTHER)
    final = result.final
    assert final.current_step is None
    assert final.class_probabilities[OTHER] > 0.99
    assert np.all(final.done_probabilities > 0.99)
    assert [entry.step for entry in final.history] == ["a", "b", "c"]
    assert all(entry.end is not None for entry in final.history)
    assert final.last_step == "c"
    (candidate,) = final.next_steps(1)
    assert candidate.step is None and candidate.probability > 0.95


def test_tracking_beats_the_raw_classifier_on_a_simulated_latte_session(latte: Procedure) -> None:
    labels: list[int] = []
    for i, step in enumerate(latte.steps):
        labels += [i] * round(step.duration.mean * 5)
        if i % 4 == 3:
            labels += [latte.n_steps] * 10
    truth = np.array(labels)
    probabilities = simulate_classifier(
        truth,
        n_classes=latte.n_steps + 1,
        config=SimulatedClassifierConfig(raw_accuracy=0.55),
        names=[step.name for step in latte.steps],
        seed=0,
    )
    result = track(latte, probabilities)
    raw = frame_accuracy(truth, probabilities.argmax(axis=1))
    assert raw < 0.6
    assert frame_accuracy(truth, result.classes) > raw + 0.25
    assert edit_score(truth, result.classes, ignore=latte.n_steps) > 0.75


# --- properties on random streams ---------------------------------------------------


@st.composite
def probability_streams(draw: st.DrawFn, n_classes: int, max_frames: int = 60) -> np.ndarray:
    """Random valid frames: Dirichlet rows, sometimes with exact zeros."""
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    concentration = draw(st.sampled_from([0.05, 0.3, 1.0, 10.0]))
    frames = rng.dirichlet(np.full(n_classes, concentration), size=draw(st.integers(1, max_frames)))
    if draw(st.booleans()):
        frames[frames < 0.05] = 0.0
        frames[frames.sum(axis=1) == 0, -1] = 1.0
        frames /= frames.sum(axis=1, keepdims=True)
    return frames


PROCEDURES = ["small_procedure", "repeat_procedure", "latte"]


@pytest.mark.parametrize("name", PROCEDURES)
@settings(max_examples=12, deadline=None)
@given(data=st.data())
def test_streaming_properties(
    request: pytest.FixtureRequest, name: str, data: st.DataObject
) -> None:
    """Probabilities are distributions, update() == track(), the beam stays bounded and
    never re-enters a done step."""
    procedure: Procedure = request.getfixturevalue(name)
    width = data.draw(st.sampled_from([1, 8, 48]))
    config = TrackerConfig(beam_width=width)
    frames = data.draw(probability_streams(procedure.n_steps + 1))
    streaming = StepTracker(procedure, config)
    states = []
    for frame in frames:
        previous = streaming._beam
        state = streaming.update(frame)
        states.append(state)
        assert_no_revisit(previous, streaming._beam, procedure)
        assert streaming._beam.node.shape[0] <= width
        assert state.class_probabilities.shape == (procedure.n_steps + 1,)
        assert np.all(state.class_probabilities >= 0)
        assert state.class_probabilities.sum() == pytest.approx(1.0, abs=1e-9)
        done = state.done_probabilities
        assert np.all((done >= 0) & (done <= 1 + 1e-12))
        assert done.sum() + state.class_probabilities[: procedure.n_steps].sum() <= (
            procedure.n_steps + 1e-9
        )
        assert state.current_probability == state.class_probabilities.max()
    batch = StepTracker(procedure, config).track(frames)
    np.testing.assert_array_equal(batch.classes, [s.current_class for s in states])
    np.testing.assert_array_equal(
        batch.class_probabilities, np.array([s.class_probabilities for s in states])
    )
    assert batch.final.history == states[-1].history
    np.testing.assert_array_equal(batch.final.done_probabilities, states[-1].done_probabilities)
    assert batch.final.next_steps(5) == states[-1].next_steps(5)
    again = track(procedure, frames, config)  # determinism: same input, same output
    np.testing.assert_array_equal(again.class_probabilities, batch.class_probabilities)
    np.testing.assert_array_equal(again.classes, batch.classes)


@settings(max_examples=10, deadline=None)
@given(data=st.data())
def test_track_in_pieces_equals_track_at_once(latte: Procedure, data: st.DataObject) -> None:
    frames = data.draw(probability_streams(latte.n_steps + 1))
    cut = data.draw(st.integers(0, frames.shape[0]))
    whole = track(latte, frames)
    tracker = StepTracker(latte)
    first, second = tracker.track(frames[:cut]), tracker.track(frames[cut:])
    np.testing.assert_array_equal(
        np.concatenate([first.class_probabilities, second.class_probabilities]),
        whole.class_probabilities,
    )
    assert second.final.frame == frames.shape[0]


def test_reset_forgets_everything(latte: Procedure, rng: np.random.Generator) -> None:
    frames = rng.dirichlet(np.ones(latte.n_steps + 1), size=30)
    tracker = StepTracker(latte)
    first = tracker.track(frames)
    tracker.reset()
    assert tracker.frame == 0
    assert tracker.state().class_probabilities[-1] == 1.0
    second = tracker.track(frames)
    np.testing.assert_array_equal(first.class_probabilities, second.class_probabilities)


def test_memory_and_state_stay_bounded_over_a_long_session(
    latte: Procedure, rng: np.random.Generator
) -> None:
    frames = rng.dirichlet(np.full(latte.n_steps + 1, 0.3), size=5000)
    tracker = StepTracker(latte)
    tracker.track(frames[:100])
    shapes = [np.shape(field) for field in tracker._beam]
    tracker.track(frames[100:])
    assert tracker.frame == 5000
    assert [np.shape(field) for field in tracker._beam] == shapes
    assert tracker._beam.node.shape[0] <= tracker.config.beam_width
    assert tracker._beam.step_start.shape[1] == latte.n_steps
    state = tracker.state()
    assert state.class_probabilities.sum() == pytest.approx(1.0, abs=1e-9)
    assert len(state.history) <= latte.n_steps


def test_tracking_does_not_modify_the_compiled_transitions(
    latte: Procedure, rng: np.random.Generator
) -> None:
    tracker = StepTracker(latte)
    before = tracker.model.transitions.copy()
    tracker.track(rng.dirichlet(np.ones(latte.n_steps + 1), size=200))
    tracker.state().next_steps()
    np.testing.assert_array_equal(tracker.model.transitions, before)
    np.testing.assert_array_equal(latte.transition_matrix(), before)


# --- bad input ----------------------------------------------------------------------

BAD_FRAMES = [
    pytest.param([0.25, 0.25, math.nan, 0.5], "NaN or infinite", id="nan"),
    pytest.param([0.25, 0.25, math.inf, 0.5], "NaN or infinite", id="inf"),
    pytest.param([0.25, 0.25, -math.inf, 0.5], "NaN or infinite", id="minus-inf"),
    pytest.param([0.5, 0.5, -0.25, 0.25], "negative", id="negative"),
    pytest.param(
        [0.5, 0.5, 0.0], r"shape \(S \+ 1,\) with S \+ 1 = 4 .*got shape \(3,\)", id="short"
    ),
    pytest.param([0.2] * 5, r"S \+ 1 = 4 .*got shape \(5,\)", id="long"),
    pytest.param([[0.25] * 4], r"got shape \(1, 4\)", id="2-d"),
    pytest.param(0.25, r"got shape \(\)", id="scalar"),
    pytest.param([], r"got shape \(0,\)", id="empty"),
    pytest.param([0.25, 0.25, 0.25, 0.0], r"sum to 1 .*got 0\.75", id="sum-low"),
    pytest.param([0.25, 0.25, 0.25, 0.2551], r"sum to 1 .*got 1\.0051", id="sum-high"),
    pytest.param(np.full(4, 0.5), r"sum to 1 .*got 2", id="sum-two"),
]


@pytest.mark.parametrize(("frame", "message"), BAD_FRAMES)
def test_a_bad_frame_is_rejected_and_changes_nothing(
    small_procedure: Procedure, one_hot: OneHot, frame: Any, message: str
) -> None:
    tracker = StepTracker(small_procedure)
    tracker.track(one_hot([A, A, A], 4, high=0.9))
    before = snapshot(tracker)
    with pytest.raises(TrackerInputError, match=message) as info:
        tracker.update(frame)
    assert isinstance(info.value, ValueError) and isinstance(info.value, PrismError)
    assert_same_snapshot(before, snapshot(tracker))
    state = tracker.update(one_hot([A], 4, high=0.9)[0])  # and it goes on as before
    assert state.frame == 4 and state.current_step == "a"


@pytest.mark.parametrize(
    "frame",
    [
        pytest.param(["a", "b", "c", "d"], id="strings"),
        pytest.param([[0.5], [0.25, 0.25]], id="ragged"),
    ],
)
def test_a_frame_that_is_not_numbers_is_a_tracker_input_error(
    small_procedure: Procedure, frame: Any
) -> None:
    """Validation at the public boundary: callers catching PrismError must see these too."""
    tracker = StepTracker(small_procedure)
    with pytest.raises(TrackerInputError, match="probabilities"):
        tracker.update(frame)
    assert tracker.frame == 0


def test_a_frame_within_the_tolerance_is_accepted(small_procedure: Procedure) -> None:
    state = StepTracker(small_procedure).update([0.25, 0.25, 0.25, 0.2509])
    assert state.frame == 1
    assert state.class_probabilities.sum() == pytest.approx(1.0, abs=1e-12)


@pytest.mark.parametrize(
    ("value", "message"),
    [
        pytest.param(math.nan, "NaN or infinite", id="nan"),
        pytest.param(math.inf, "NaN or infinite", id="inf"),
        pytest.param(-0.5, "negative", id="negative"),
        pytest.param(0.9, r"sum to 1 .*got 1\.65", id="sum"),
    ],
)
def test_track_names_the_bad_frame_and_consumes_nothing(
    small_procedure: Procedure, one_hot: OneHot, value: float, message: str
) -> None:
    tracker = StepTracker(small_procedure)
    tracker.track(one_hot([A, A], 4, high=0.9))
    before = snapshot(tracker)
    frames = np.full((6, 4), 0.25)
    frames[3, 0] = value
    with pytest.raises(TrackerInputError, match=f"{message}.*frame 3"):
        tracker.track(frames)
    assert_same_snapshot(before, snapshot(tracker))


@pytest.mark.parametrize(
    ("frames", "message"),
    [
        pytest.param(np.full(4, 0.25), r"\(n_frames, S \+ 1\).*got shape \(4,\)", id="1-d"),
        pytest.param(np.full((3, 5), 0.2), r"S \+ 1 = 4 .*got shape \(3, 5\)", id="width"),
        pytest.param(np.full((2, 3, 4), 0.25), r"got shape \(2, 3, 4\)", id="3-d"),
    ],
)
def test_track_rejects_a_wrong_shape(
    small_procedure: Procedure, frames: np.ndarray, message: str
) -> None:
    tracker = StepTracker(small_procedure)
    with pytest.raises(TrackerInputError, match=message):
        tracker.track(frames)
    assert tracker.frame == 0


def test_track_of_no_frames(small_procedure: Procedure) -> None:
    result = track(small_procedure, np.empty((0, 4)))
    assert result.classes.shape == (0,)
    assert result.class_probabilities.shape == (0, 4)
    assert result.final.frame == 0


@pytest.mark.parametrize(
    ("options", "message"),
    [
        pytest.param(
            {"beam_width": 0}, "beam_width must be an integer >= 1, got 0", id="width-zero"
        ),
        pytest.param(
            {"beam_width": -3}, "beam_width must be an integer >= 1, got -3", id="width-neg"
        ),
        pytest.param({"evidence_rate": 0.0}, r"evidence_rate .*got 0\.0", id="rate-zero"),
        pytest.param(
            {"classifier_profile": {"confusion": []}}, "must be a ClassifierProfile", id="profile"
        ),
        pytest.param({"calibration": 0.5}, "must be a ConfidenceMap", id="calibration"),
        pytest.param({"evidence_rate": math.inf}, r"evidence_rate .*got inf", id="rate-inf"),
        pytest.param({"evidence_rate": math.nan}, "evidence_rate .*got nan", id="rate-nan"),
        pytest.param(
            {"evidence_per_error_run": -1.0}, r"evidence_per_error_run .*got -1", id="per-run"
        ),
    ],
)
def test_bad_config_is_rejected(options: dict[str, Any], message: str) -> None:
    with pytest.raises(TrackerInputError, match=message):
        TrackerConfig(**options)


def test_a_fractional_beam_width_is_rejected_when_configured() -> None:
    """Not deep inside the first update() as a numpy TypeError."""
    with pytest.raises(TrackerInputError, match="beam_width"):
        TrackerConfig(beam_width=2.5)  # type: ignore[arg-type]


# --- TrackerState -------------------------------------------------------------------


@pytest.mark.parametrize("frame_rate", [5.0, 10.0, 2.0])
def test_history_and_time_are_in_seconds(
    small_procedure: Procedure, one_hot: OneHot, frame_rate: float
) -> None:
    """Durations are in seconds, so a step lasts 1 s = ``frame_rate`` frames."""
    k = round(frame_rate)
    labels = chain_labels((OTHER, k), (A, k), (B, k), (C, k // 2))
    tracker = StepTracker(small_procedure, TrackerConfig(frame_rate=frame_rate))
    result = tracker.track(one_hot(labels, 4))
    final = result.final
    assert final.frame == len(labels)
    assert final.time == pytest.approx(len(labels) / frame_rate)
    assert final.history == (
        HistoryEntry("a", k / frame_rate, 2 * k / frame_rate),
        HistoryEntry("b", 2 * k / frame_rate, 3 * k / frame_rate),
        HistoryEntry("c", 3 * k / frame_rate, None),
    )
    starts = [entry.start for entry in final.history if entry.start is not None]
    assert starts == sorted(starts)
    assert final.last_step == "c"
    assert final.current_step == "c"


def test_state_before_any_frame(latte: Procedure) -> None:
    state = StepTracker(latte).state()
    assert state.frame == 0 and state.time == 0.0
    assert state.current_step is None and state.current_class == latte.n_steps
    assert state.current_probability == 1.0
    assert state.history == ()
    assert state.last_step is None
    np.testing.assert_array_equal(state.done_probabilities, np.zeros(latte.n_steps))
    assert state.step_ids == latte.step_ids
    first = state.next_steps(2)
    assert [n.step for n in first] == ["attach_filter", "use_fridge"]


@settings(max_examples=10, deadline=None)
@given(data=st.data())
def test_next_steps_and_top_classes(latte: Procedure, data: st.DataObject) -> None:
    frames = data.draw(probability_streams(latte.n_steps + 1, max_frames=40))
    state = track(latte, frames).final
    k = data.draw(st.integers(1, 25))
    candidates = state.next_steps(k)
    assert len(candidates) <= k
    assert all(c.step is None or c.step in latte.step_ids for c in candidates)
    assert all(c.probability > 0 for c in candidates)
    assert sum(c.probability for c in candidates) <= 1.0 + 1e-9
    probabilities = [c.probability for c in candidates]
    assert probabilities == sorted(probabilities, reverse=True)
    assert len({c.step for c in candidates}) == len(candidates)
    top = state.top_classes(k)
    assert len(top) == min(k, latte.n_steps + 1)
    ids: list[str | None] = [*latte.step_ids, None]
    for step, probability in top:
        assert probability == state.class_probabilities[ids.index(step)]
    assert [p for _, p in top] == sorted((p for _, p in top), reverse=True)
    assert top[0] == (state.current_step, state.current_probability)


def test_next_steps_in_the_middle_of_a_step(small_procedure: Procedure, one_hot: OneHot) -> None:
    state = track(small_procedure, one_hot([A, A, A], 4, high=0.9)).final
    assert state.current_step == "a"
    candidates = state.next_steps()
    assert candidates[0].step == "b" and candidates[0].probability > 0.8
    assert "a" not in [c.step for c in candidates]  # the current step is not "next"


def test_track_result(small_procedure: Procedure, one_hot: OneHot) -> None:
    frames = one_hot(chain_labels((A, 5), (B, 3)), 4, high=0.9)
    result = track(small_procedure, frames)
    assert isinstance(result, TrackResult)
    assert result.classes.dtype == np.int64 and result.classes.shape == (8,)
    assert result.class_probabilities.shape == (8, 4)
    np.testing.assert_array_equal(result.classes, result.class_probabilities.argmax(axis=1))
    np.testing.assert_array_equal(result.final.class_probabilities, result.class_probabilities[-1])
    assert result.final.frame == 8


def test_update_accepts_lists_and_integer_arrays(small_procedure: Procedure) -> None:
    tracker = StepTracker(small_procedure)
    from_list = tracker.update([1, 0, 0, 0])
    other = StepTracker(small_procedure).update(np.array([1, 0, 0, 0]))
    np.testing.assert_array_equal(from_list.class_probabilities, other.class_probabilities)
    assert tracker.n_classes == 4


def test_docstring_examples() -> None:
    result = doctest.testmod(tracker_module)
    assert result.attempted > 0
    assert result.failed == 0


def test_trackers_sharing_a_compiled_model_track_as_separate_ones(
    small_procedure: Procedure, latte: Procedure
) -> None:
    rng = np.random.default_rng(3)
    frames = rng.dirichlet(np.ones(small_procedure.n_steps + 1), size=(2, 60))
    shared = StepTracker(small_procedure).model
    for stream in frames:
        alone, together = StepTracker(small_procedure), StepTracker(small_procedure, model=shared)
        for row in stream:
            expected, got = alone.update(row), together.update(row)
            assert np.array_equal(got.class_probabilities, expected.class_probabilities)
    with pytest.raises(TrackerInputError, match="shared model is of procedure"):
        StepTracker(latte, model=shared)
    with pytest.raises(TrackerInputError, match="frames/s"):
        StepTracker(small_procedure, TrackerConfig(frame_rate=10.0), model=shared)
