"""Tests for the tracker's evidence models (prism.tracker.evidence)."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from prism.data.simulated import SimulatedClassifierConfig, simulate_stream
from prism.errors import TrackerInputError
from prism.tracker.evidence import (
    ClassifierProfile,
    fit_classifier_profile,
    run_log_likelihood,
    run_tables,
    tempered_log_likelihood,
)


def block_labels(n_frames: int, n_classes: int, rng: np.random.Generator) -> np.ndarray:
    """Steps of 20-60 frames in random order (no "other"), cut to ``n_frames``."""
    pieces, total = [], 0
    while total < n_frames:
        length = int(rng.integers(20, 60))
        pieces.append(np.full(length, rng.integers(0, n_classes - 1)))
        total += length
    return np.concatenate(pieces)[:n_frames].astype(np.int64)


def test_tempered_evidence_is_the_same_per_second_at_any_frame_rate() -> None:
    frame = np.array([0.7, 0.2, 0.1])
    one_hz = tempered_log_likelihood(frame, evidence_rate=1.5, frame_rate=1.0)
    five_hz = tempered_log_likelihood(frame, evidence_rate=1.5, frame_rate=5.0)
    np.testing.assert_allclose(5 * five_hz, one_hz)
    np.testing.assert_allclose(one_hz, 1.5 * np.log(frame))


def test_fit_measures_runs_in_seconds_and_counts_confusions() -> None:
    labels = np.array([0, 0, 0, 0, 1, 1, 1, 1, 1, 1])
    guess = np.array([0, 0, 1, 1, 1, 1, 0, 1, 1, 1])  # runs: R2 W2 R2 W1 R3
    profile = fit_classifier_profile([labels], [guess], n_classes=3, frame_rate=2.0)
    assert profile.mean_correct_run_s == pytest.approx((2 + 2 + 3) / 3 / 2.0)
    assert profile.mean_error_run_s == pytest.approx((2 + 1) / 2 / 2.0)
    # the first error run (predicting 1 while truth 0) ends on the truth (1 at frame 4)
    assert profile.return_share == pytest.approx(0.95)  # 2 of 2, clipped
    np.testing.assert_array_equal(profile.confusion, [[2, 2, 0], [1, 5, 0], [0, 0, 0]])
    assert profile.accuracy == pytest.approx(0.7)
    assert profile.frames == 10


def test_fit_recovers_the_simulated_classifier(rng: np.random.Generator) -> None:
    labels = block_labels(40_000, 8, rng)
    config = SimulatedClassifierConfig(mean_error_run_s=4.0, frame_rate=5.0)
    stream = simulate_stream(labels, n_classes=8, config=config, seed=1)
    profile = fit_classifier_profile([labels], [stream.predictions], n_classes=8, frame_rate=5.0)
    assert profile.mean_error_run_s == pytest.approx(4.0, rel=0.15)
    assert profile.accuracy == pytest.approx(0.55, abs=0.03)
    assert profile.mean_correct_run_s == pytest.approx(4.0 * 0.55 / 0.45, rel=0.2)


def test_profile_round_trips_through_json() -> None:
    profile = ClassifierProfile(np.eye(3) * 5 + 1, 3.0, 2.0, 0.7, frames=21)
    again = ClassifierProfile.from_dict(profile.to_dict())
    np.testing.assert_array_equal(again.confusion, profile.confusion)
    assert (again.mean_correct_run_s, again.mean_error_run_s, again.return_share) == (3, 2, 0.7)


def test_profile_from_a_confusion_matrix_alone() -> None:
    counts = np.array([[90, 10], [10, 90]])
    profile = ClassifierProfile.from_confusion(counts, mean_error_run_s=2.0)
    assert profile.mean_error_run_s == 2.0
    assert profile.mean_correct_run_s == pytest.approx(2.0 * 0.9 / 0.1)


@pytest.mark.parametrize(
    ("changes", "match"),
    [
        ({"confusion": np.ones((2, 3))}, "square"),
        ({"confusion": -np.ones((2, 2))}, "counts >= 0"),
        ({"mean_error_run_s": 0.0}, "mean_error_run_s must be a number of seconds > 0"),
        ({"mean_correct_run_s": math.inf}, "mean_correct_run_s must be finite"),
        ({"return_share": 1.0}, r"return_share must be in \(0, 1\)"),
        ({"return_share": True}, "return_share"),
    ],
)
def test_bad_profiles_are_refused(changes: dict[str, object], match: str) -> None:
    arguments: dict[str, object] = {
        "confusion": np.ones((2, 2)),
        "mean_correct_run_s": 2.0,
        "mean_error_run_s": 1.0,
        "return_share": 0.5,
    }
    with pytest.raises(TrackerInputError, match=match):
        ClassifierProfile(**{**arguments, **changes})  # type: ignore[arg-type]


def test_malformed_profile_json_names_the_problem() -> None:
    with pytest.raises(TrackerInputError, match="malformed classifier profile"):
        ClassifierProfile.from_dict({"confusion": [[1, 2], [3, 4]]})


def test_run_model_known_answers() -> None:
    profile = ClassifierProfile(np.array([[8.0, 2, 0], [1, 8, 1], [0, 2, 8]]), 4.0, 2.0, 0.8)
    tables = run_tables(profile, frame_rate=1.0)
    stay_right = math.log(math.exp(-1 / 4))
    stay_wrong = math.log(math.exp(-1 / 2))
    # argmax 1 again: z = 1 stays right, every other z stays wrong
    np.testing.assert_allclose(
        run_log_likelihood(tables, 1, 1), [stay_wrong, stay_right, stay_wrong]
    )
    # argmax 0 -> 1: z = 1 is a return to the truth, z = 0 a slip to a wrong class
    moved = run_log_likelihood(tables, 0, 1)
    assert moved[1] == pytest.approx(math.log((1 - math.exp(-1 / 2)) * 0.8))
    assert moved[0] == pytest.approx(tables.slip[0, 1])
    assert moved[1] > moved[0]


@settings(max_examples=30, deadline=None)
@given(
    n_classes=st.integers(2, 8),
    run_s=st.floats(0.5, 20.0),
    correct_s=st.floats(0.5, 20.0),
    share=st.floats(0.05, 0.95),
    rate=st.sampled_from([1.0, 5.0, 10.0]),
    previous=st.integers(-1, 7),
)
def test_run_model_is_a_distribution_over_the_next_argmax(
    n_classes: int, run_s: float, correct_s: float, share: float, rate: float, previous: int
) -> None:
    """For every true class, P(argmax_t = j | argmax_{t-1}, z) sums to 1 over j."""
    rng = np.random.default_rng(n_classes)
    profile = ClassifierProfile(
        rng.integers(0, 20, (n_classes, n_classes)), correct_s, run_s, share
    )
    tables = run_tables(profile, frame_rate=rate)
    previous = min(previous, n_classes - 1)
    rows = np.array([run_log_likelihood(tables, previous, j) for j in range(n_classes)])
    np.testing.assert_allclose(np.exp(rows).sum(axis=0), 1.0, atol=1e-9)
