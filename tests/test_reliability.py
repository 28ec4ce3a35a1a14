"""Tests for reliability tables, the ECE and confidence maps (prism.reliability)."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from prism.errors import MetricInputError
from prism.reliability import (
    ConfidenceMap,
    expected_calibration_error,
    fit_confidence_map,
    reliability_table,
)
from prism.sensing.calibration import expected_calibration_error as sensing_ece


def test_reliability_table_known_answer() -> None:
    confidence = np.array([0.05, 0.55, 0.58, 0.95, 1.0])
    correct = np.array([False, True, False, True, True])
    table = reliability_table(confidence, correct, n_bins=2)
    assert [row.frames for row in table] == [1, 4]
    assert table[1].mean_confidence == pytest.approx((0.55 + 0.58 + 0.95 + 1.0) / 4)
    assert table[1].accuracy == pytest.approx(0.75)
    empty = reliability_table(np.array([0.9]), np.array([True]), n_bins=4)[0]
    assert empty.frames == 0 and empty.as_dict()["accuracy"] is None


def test_ece_is_zero_when_confidence_matches_accuracy(rng: np.random.Generator) -> None:
    confidence = rng.uniform(0.2, 1.0, 200_000)
    correct = rng.random(confidence.size) < confidence
    assert expected_calibration_error(confidence, correct) < 0.01
    overconfident = np.minimum(confidence + 0.2, 1.0)
    assert expected_calibration_error(overconfident, correct) > 0.15


def test_sensing_ece_agrees(rng: np.random.Generator) -> None:
    probabilities = rng.dirichlet(np.ones(4), size=500)
    labels = rng.integers(0, 4, size=500)
    correct = probabilities.argmax(axis=1) == labels
    assert sensing_ece(probabilities, labels) == pytest.approx(
        expected_calibration_error(probabilities.max(axis=1), correct)
    )


def test_fitted_map_calibrates_held_out_frames(rng: np.random.Generator) -> None:
    def sample(n: int) -> tuple[np.ndarray, np.ndarray]:
        reported = rng.uniform(0.3, 1.0, n)
        truth = rng.random(n) < reported**3  # over-confident
        return reported, truth

    train, test = sample(50_000), sample(50_000)
    mapping = fit_confidence_map(*train)
    calibrated = mapping.calibrate(test[0])
    assert expected_calibration_error(test[0], test[1]) > 0.1
    assert expected_calibration_error(calibrated, test[1]) < 0.02


def test_a_constant_fit_gives_a_constant_map() -> None:
    mapping = fit_confidence_map(np.array([0.0, 0.5]), np.array([True, False]))
    assert mapping(0.0) == mapping(1.0) == pytest.approx(0.5)


def test_map_round_trips_and_is_checked() -> None:
    mapping = ConfidenceMap(np.array([0.2, 0.6, 1.0]), np.array([0.1, 0.5, 0.9]), frames=10)
    again = ConfidenceMap.from_dict(mapping.to_dict())
    assert again(0.4) == pytest.approx(0.3) and again(0.0) == 0.1 and again.frames == 10
    np.testing.assert_allclose(again.calibrate(np.array([0.0, 0.4, 1.0])), [0.1, 0.3, 0.9])
    assert ConfidenceMap.identity()(0.37) == pytest.approx(0.37)
    with pytest.raises(MetricInputError, match="must not decrease"):
        ConfidenceMap(np.array([0.0, 1.0]), np.array([0.9, 0.1]))
    with pytest.raises(MetricInputError, match="list of numbers"):
        ConfidenceMap.from_dict({"knots": [0, "1"], "values": [0, 1]})
    with pytest.raises(MetricInputError, match="'knots' and 'values'"):
        ConfidenceMap.from_dict({"values": [0, 1]})


@pytest.mark.parametrize(
    ("confidence", "correct", "match"),
    [
        (np.array([0.5, 1.5]), np.array([True, False]), r"in \[0, 1\]"),
        (np.array([0.5, np.nan]), np.array([True, False]), r"in \[0, 1\]"),
        (np.array([0.5]), np.array([True, False]), "same length"),
        (np.array(["a"]), np.array([True]), "numbers"),
        (np.array([0.5]), np.array([2]), "booleans"),
    ],
)
def test_bad_pairs_are_refused(confidence: np.ndarray, correct: np.ndarray, match: str) -> None:
    with pytest.raises(MetricInputError, match=match):
        expected_calibration_error(confidence, correct)


@settings(max_examples=50, deadline=None)
@given(
    values=st.lists(st.floats(0.0, 1.0), min_size=2, max_size=300),
    seed=st.integers(0, 2**16),
)
def test_fitted_map_is_monotone_and_in_range(values: list[float], seed: int) -> None:
    confidence = np.array(values)
    if np.unique(confidence).size < 2:
        confidence[0] = 0.0 if confidence[1] > 0.5 else 1.0
    correct = np.random.default_rng(seed).random(confidence.size) < 0.5
    mapping = fit_confidence_map(confidence, correct)
    grid = np.linspace(0.0, 1.0, 101)
    mapped = np.array([mapping(x) for x in grid])
    assert np.all(np.diff(mapped) >= -1e-12)
    assert mapped.min() >= 0.0 and mapped.max() <= 1.0
