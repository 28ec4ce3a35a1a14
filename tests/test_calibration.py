"""Tests for prism.sensing.calibration: temperature scaling, ECE, confusion matrices."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.special import log_softmax

from prism.sensing.calibration import (
    EXPERT_WEIGHT_BOUNDS,
    confusion_matrix,
    expected_calibration_error,
    fit_expert_weights,
    fit_temperature,
    negative_log_likelihood,
    softmax,
)
from prism.sensing.features import SensingError


def sample_labels(probabilities: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """One label per row drawn from that row's distribution."""
    cumulative = probabilities.cumsum(axis=1)
    return (rng.random(len(probabilities))[:, None] > cumulative).sum(axis=1)


def test_softmax_rows_sum_to_one_and_temperature_flattens(rng: np.random.Generator) -> None:
    logits = rng.normal(size=(50, 4)) * 5
    sharp, flat = softmax(logits), softmax(logits, temperature=3.0)
    np.testing.assert_allclose(sharp.sum(axis=1), 1.0)
    np.testing.assert_allclose(flat.sum(axis=1), 1.0)
    assert (flat.max(axis=1) <= sharp.max(axis=1) + 1e-12).all()
    assert (flat.argmax(axis=1) == sharp.argmax(axis=1)).all()


def test_softmax_is_stable_for_huge_logits() -> None:
    np.testing.assert_allclose(softmax(np.array([[1000.0, 0.0]])), [[1.0, 0.0]])


@pytest.mark.parametrize("scale", [0.4, 1.0, 3.0], ids=["under", "calibrated", "over"])
def test_fit_temperature_recovers_the_scale(scale: float, rng: np.random.Generator) -> None:
    true_logits = rng.normal(size=(6000, 5)) * 1.5
    labels = sample_labels(softmax(true_logits), rng)
    temperature = fit_temperature(true_logits * scale, labels)
    assert temperature == pytest.approx(scale, rel=0.1)


def test_temperature_scaling_lowers_nll_and_ece_of_overconfident_logits(
    rng: np.random.Generator,
) -> None:
    true_logits = rng.normal(size=(5000, 4))
    labels = sample_labels(softmax(true_logits), rng)
    overconfident = 4.0 * true_logits
    temperature = fit_temperature(overconfident, labels)
    assert negative_log_likelihood(
        overconfident, labels, temperature=temperature
    ) < 0.8 * negative_log_likelihood(overconfident, labels)
    before = expected_calibration_error(softmax(overconfident), labels)
    after = expected_calibration_error(softmax(overconfident, temperature=temperature), labels)
    assert after < before / 3


def test_fit_temperature_without_frames_is_one() -> None:
    assert fit_temperature(np.zeros((0, 3)), np.zeros(0, dtype=np.int64)) == 1.0


def test_ece_known_answer() -> None:
    # bin (0.8, 0.867]: confidences 0.85, 0.85, one right -> |0.5 - 0.85| * 2/4
    # bin (0.6, 0.667]: confidence 0.65, right -> |1 - 0.65| * 1/4
    # bin (0.933, 1]: confidence 1.0, right -> 0
    probabilities = np.array([[0.85, 0.15], [0.15, 0.85], [0.35, 0.65], [1.0, 0.0]])
    labels = np.array([0, 0, 1, 0])
    expected = 0.35 * 2 / 4 + 0.35 / 4
    assert expected_calibration_error(probabilities, labels) == pytest.approx(expected)


def test_ece_of_perfect_predictions_is_zero() -> None:
    probabilities = np.eye(3)[[0, 1, 2, 2]]
    assert expected_calibration_error(probabilities, np.array([0, 1, 2, 2])) == 0.0


def test_confusion_matrix_counts_and_normalised_rows() -> None:
    labels, predicted = np.array([0, 0, 0, 1, 2]), np.array([0, 1, 1, 1, 0])
    counts = confusion_matrix(labels, predicted, n_classes=4)
    assert counts.tolist() == [[1, 2, 0, 0], [0, 1, 0, 0], [1, 0, 0, 0], [0, 0, 0, 0]]
    rows = confusion_matrix(labels, predicted, n_classes=4, normalize=True)
    np.testing.assert_allclose(rows[0], [1 / 3, 2 / 3, 0, 0])
    np.testing.assert_allclose(rows[3], 0.0)


@settings(max_examples=60, deadline=None)
@given(
    n_classes=st.integers(1, 6),
    pairs=st.lists(st.tuples(st.integers(0, 5), st.integers(0, 5)), max_size=40),
)
def test_confusion_matrix_equals_the_counted_pairs(
    n_classes: int, pairs: list[tuple[int, int]]
) -> None:
    """scikit-learn's matrix is the count PrISM made by hand before (bincount of pairs)."""
    pairs = [(a % n_classes, b % n_classes) for a, b in pairs]
    labels = np.array([a for a, _ in pairs], dtype=np.int64)
    predicted = np.array([b for _, b in pairs], dtype=np.int64)
    flat = labels * n_classes + predicted
    counted = np.bincount(flat, minlength=n_classes * n_classes).reshape(n_classes, n_classes)
    counts = confusion_matrix(labels, predicted, n_classes=n_classes)
    assert counts.dtype == np.int64
    np.testing.assert_array_equal(counts, counted)


@pytest.mark.parametrize(
    ("logits", "labels", "match"),
    [
        (np.zeros(3), np.zeros(3, dtype=np.int64), r"shape \(N, C\)"),
        (np.zeros((3, 2)), np.zeros(2, dtype=np.int64), "labels must be integers of shape"),
        (np.zeros((3, 2)), np.array([0, 1, 2]), r"labels must be in \[0, 1\]"),
        (np.zeros((2, 2)), np.array([0.0, 1.0]), "labels must be integers"),
        (np.array([[0.0, np.nan]]), np.array([0]), "NaN"),
    ],
    ids=["1d-logits", "length-mismatch", "label-out-of-range", "float-labels", "nan"],
)
def test_bad_inputs_raise(logits: np.ndarray, labels: np.ndarray, match: str) -> None:
    with pytest.raises(SensingError, match=match):
        fit_temperature(logits, labels)


def test_bad_bins_and_temperature_raise() -> None:
    with pytest.raises(SensingError, match="n_bins must be an integer >= 1"):
        expected_calibration_error(np.eye(2), np.array([0, 1]), n_bins=0)
    with pytest.raises(SensingError, match="temperature must be > 0"):
        softmax(np.eye(2), temperature=0.0)
    with pytest.raises(SensingError, match=r"predicted must be in \[0, 1\]"):
        confusion_matrix(np.array([0]), np.array([2]), n_classes=2)


def product_nll(log_probabilities: np.ndarray, labels: np.ndarray, weights: np.ndarray) -> float:
    combined = log_softmax(np.tensordot(weights, log_probabilities, axes=1), axis=1)
    return float(-combined[np.arange(labels.size), labels].mean())


@settings(max_examples=30, deadline=None)
@given(
    seed=st.integers(0, 2**16),
    experts=st.integers(1, 3),
    frames=st.integers(1, 60),
    classes=st.integers(2, 5),
    scale=st.floats(0.1, 8.0),
)
def test_expert_weights_are_bounded_and_never_worse_than_the_plain_product(
    seed: int, experts: int, frames: int, classes: int, scale: float
) -> None:
    rng = np.random.default_rng(seed)
    scores = log_softmax(rng.normal(size=(experts, frames, classes)) * scale, axis=2)
    labels = rng.integers(0, classes, size=frames)
    weights = fit_expert_weights(scores, labels)
    assert weights.shape == (experts,)
    assert np.all((weights >= EXPERT_WEIGHT_BOUNDS[0]) & (weights <= EXPERT_WEIGHT_BOUNDS[1]))
    ones = np.ones(experts)
    assert product_nll(scores, labels, weights) <= product_nll(scores, labels, ones) + 1e-12


def test_expert_weights_recover_a_double_counted_expert(rng: np.random.Generator) -> None:
    """Calibrated log probabilities given twice: their product is over-confident, and
    the fitted weights (about 1/2 each) undo the double count."""
    logits = rng.normal(size=(4000, 4)) * 2
    labels = sample_labels(softmax(logits), rng)
    calibrated = log_softmax(logits, axis=1)
    weights = fit_expert_weights(np.stack([calibrated, calibrated]), labels)
    np.testing.assert_allclose(weights, [0.5, 0.5], atol=0.06)


def test_expert_weights_without_frames_are_ones_and_bad_shapes_raise() -> None:
    np.testing.assert_array_equal(
        fit_expert_weights(np.zeros((2, 0, 3)), np.zeros(0, dtype=int)), [1.0, 1.0]
    )
    with pytest.raises(SensingError, match=r"shape \(M, N, C\)"):
        fit_expert_weights(np.zeros((4, 3)), np.zeros(4, dtype=int))
    with pytest.raises(SensingError, match="NaN"):
        fit_expert_weights(np.full((1, 2, 3), np.nan), np.zeros(2, dtype=int))
