"""Reliability of reported probabilities: reliability tables, ECE and confidence maps.

A component that says "steaming milk, probability 0.8" should be right about 80 % of
the times it says so. These pure functions measure that (a reliability table and the
expected calibration error, ECE) from pairs of reported confidence and correctness, and
fit a monotone :class:`ConfidenceMap` that makes a confidence calibrated on held-out
data (isotonic regression from scikit-learn, stored as knots so that applying it is a
``numpy.interp``: no scikit-learn at run time, microseconds per frame).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from prism.errors import MetricInputError

__all__ = [
    "ConfidenceMap",
    "ReliabilityBin",
    "expected_calibration_error",
    "fit_confidence_map",
    "reliability_table",
]


_ROUNDING_SLACK = 1e-6
"""Confidences this far outside [0, 1] are rounding (sums of float weights) and clipped."""


def _checked_pairs(confidence: np.ndarray, correct: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    values = np.asarray(confidence)
    hits = np.asarray(correct)
    if values.ndim != 1 or hits.shape != values.shape:
        raise MetricInputError(
            "confidence and correct must be 1-D arrays of the same length, got shapes "
            f"{values.shape} and {hits.shape}"
        )
    if values.size and not np.issubdtype(values.dtype, np.number):
        raise MetricInputError(f"confidence must be numbers, got dtype {values.dtype}")
    values = values.astype(np.float64)
    slack = _ROUNDING_SLACK
    if values.size and (
        not np.isfinite(values).all() or values.min() < -slack or values.max() > 1 + slack
    ):
        raise MetricInputError("confidence must hold finite values in [0, 1]")
    values = np.clip(values, 0.0, 1.0)
    if hits.size and hits.dtype != np.bool_ and not np.isin(hits, (0, 1)).all():
        raise MetricInputError("correct must hold booleans (or 0/1)")
    return values, hits.astype(np.float64)


def _check_bins(n_bins: int) -> None:
    if isinstance(n_bins, bool) or not isinstance(n_bins, int) or n_bins < 1:
        raise MetricInputError(f"n_bins must be an integer >= 1, got {n_bins!r}")


def _bin_index(confidence: np.ndarray, n_bins: int) -> np.ndarray:
    """Bin ``b`` holds confidences in ``(b / n_bins, (b + 1) / n_bins]`` (0 in bin 0)."""
    return np.asarray(np.clip(np.ceil(confidence * n_bins).astype(np.int64) - 1, 0, n_bins - 1))


@dataclass(frozen=True)
class ReliabilityBin:
    """One row of a reliability table: confidences in ``(low, high]``."""

    low: float
    high: float
    frames: int
    mean_confidence: float
    accuracy: float

    def as_dict(self) -> dict[str, float | int | None]:
        """JSON-ready row; an empty bin's means are ``None``."""
        return {
            "low": self.low,
            "high": self.high,
            "frames": self.frames,
            "mean_confidence": self.mean_confidence if self.frames else None,
            "accuracy": self.accuracy if self.frames else None,
        }


def reliability_table(
    confidence: np.ndarray, correct: np.ndarray, *, n_bins: int = 10
) -> list[ReliabilityBin]:
    """Accuracy against mean reported confidence in ``n_bins`` equal-width bins.

    Parameters
    ----------
    confidence : np.ndarray [shape=(N,), values in [0, 1]]
        Reported probability of the decision, one per frame.
    correct : np.ndarray [shape=(N,), bool]
        Whether each decision was right.
    n_bins : int
        >= 1.

    Returns
    -------
    list of ReliabilityBin [length n_bins]
        Empty bins have ``frames == 0`` and NaN means.
    """
    values, hits = _checked_pairs(confidence, correct)
    _check_bins(n_bins)
    bins = _bin_index(values, n_bins)
    counts = np.bincount(bins, minlength=n_bins)
    confidence_sums = np.bincount(bins, weights=values, minlength=n_bins)
    hit_sums = np.bincount(bins, weights=hits, minlength=n_bins)
    table = []
    for b in range(n_bins):
        n = int(counts[b])
        table.append(
            ReliabilityBin(
                low=b / n_bins,
                high=(b + 1) / n_bins,
                frames=n,
                mean_confidence=float(confidence_sums[b] / n) if n else math.nan,
                accuracy=float(hit_sums[b] / n) if n else math.nan,
            )
        )
    return table


def expected_calibration_error(
    confidence: np.ndarray, correct: np.ndarray, *, n_bins: int = 15
) -> float:
    """``sum_b (n_b / N) |accuracy_b - mean confidence_b|`` over equal-width bins.

    Parameters
    ----------
    confidence : np.ndarray [shape=(N,), values in [0, 1]]
    correct : np.ndarray [shape=(N,), bool]
    n_bins : int
        >= 1.

    Returns
    -------
    float
        In [0, 1]; 0.0 when ``N == 0``.

    Examples
    --------
    >>> expected_calibration_error(np.array([0.9, 0.9, 0.6]), np.array([True, False, True]))
    0.4
    """
    values, hits = _checked_pairs(confidence, correct)
    _check_bins(n_bins)
    if values.size == 0:
        return 0.0
    bins = _bin_index(values, n_bins)
    gap = np.bincount(bins, weights=hits - values, minlength=n_bins)
    return float(round(np.abs(gap).sum() / values.size, 12))


@dataclass(frozen=True)
class ConfidenceMap:
    """A monotone map from a reported confidence to the accuracy it has on held-out data.

    Attributes
    ----------
    knots : np.ndarray [shape=(K,), increasing, in [0, 1]]
        Raw confidences.
    values : np.ndarray [shape=(K,), non-decreasing, in [0, 1]]
        Calibrated confidence at each knot; linear in between, constant outside.
    frames : int
        Held-out frames it was fitted on (0 for the identity).
    """

    knots: np.ndarray
    values: np.ndarray
    frames: int = 0

    def __post_init__(self) -> None:
        knots = np.asarray(self.knots, dtype=np.float64)
        values = np.asarray(self.values, dtype=np.float64)
        if knots.ndim != 1 or knots.shape != values.shape or knots.size < 2:
            raise MetricInputError(
                "a confidence map needs >= 2 knots and as many values, got shapes "
                f"{knots.shape} and {values.shape}"
            )
        finite = np.isfinite(knots).all() and np.isfinite(values).all()
        if not finite or knots.min() < 0 or knots.max() > 1 or values.min() < 0 or values.max() > 1:
            raise MetricInputError("confidence map knots and values must be finite, in [0, 1]")
        if np.any(np.diff(knots) <= 0) or np.any(np.diff(values) < 0):
            raise MetricInputError(
                "confidence map knots must increase and its values must not decrease"
            )
        object.__setattr__(self, "knots", knots)
        object.__setattr__(self, "values", values)

    @classmethod
    def identity(cls) -> ConfidenceMap:
        """The map that changes nothing."""
        return cls(np.array([0.0, 1.0]), np.array([0.0, 1.0]))

    def __call__(self, confidence: float) -> float:
        """The calibrated confidence of one raw confidence in [0, 1]."""
        return float(self.calibrate(np.asarray(confidence)))

    def calibrate(self, confidence: np.ndarray) -> np.ndarray:
        """The calibrated confidences of an array of raw ones (same shape)."""
        return np.asarray(np.interp(confidence, self.knots, self.values))

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form (read back by :meth:`from_dict`)."""
        return {
            "knots": [round(float(x), 6) for x in self.knots],
            "values": [round(float(y), 6) for y in self.values],
            "frames": self.frames,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ConfidenceMap:
        """Read what :meth:`to_dict` wrote; raises :class:`MetricInputError` if malformed."""
        try:
            knots: Sequence[float] = data["knots"]
            values: Sequence[float] = data["values"]
            frames = data.get("frames", 0)
        except (KeyError, TypeError) as error:
            raise MetricInputError(
                f"a confidence map needs 'knots' and 'values': {error}"
            ) from None
        if isinstance(frames, bool) or not isinstance(frames, int) or frames < 0:
            raise MetricInputError(f"confidence map 'frames' must be an int >= 0, got {frames!r}")
        for name, seq in (("knots", knots), ("values", values)):
            if not isinstance(seq, list) or not all(
                isinstance(x, int | float) and not isinstance(x, bool) for x in seq
            ):
                raise MetricInputError(f"confidence map {name!r} must be a list of numbers")
        return cls(np.array(knots, dtype=np.float64), np.array(values, dtype=np.float64), frames)


def fit_confidence_map(confidence: np.ndarray, correct: np.ndarray) -> ConfidenceMap:
    """Fit the isotonic (monotone) map from confidence to accuracy on held-out frames.

    ``sklearn.isotonic.IsotonicRegression`` does the fit; the map keeps its own
    interpolation points (``X_thresholds_``, ``y_thresholds_``), so it gives exactly
    what the fitted regression predicts.

    Parameters
    ----------
    confidence : np.ndarray [shape=(N,), values in [0, 1]], at least 2 distinct values
    correct : np.ndarray [shape=(N,), bool]

    Returns
    -------
    ConfidenceMap
    """
    from sklearn.isotonic import IsotonicRegression

    values, hits = _checked_pairs(confidence, correct)
    if np.unique(values).size < 2:
        raise MetricInputError(
            "fitting a confidence map needs at least 2 distinct confidences, "
            f"got {values.size} frames"
        )
    regression = IsotonicRegression(y_min=0.0, y_max=1.0, out_of_bounds="clip")
    regression.fit(values, hits)
    knots = np.asarray(regression.X_thresholds_, dtype=np.float64)
    fitted = np.maximum.accumulate(np.clip(regression.y_thresholds_, 0.0, 1.0))
    if knots.size < 2:  # a constant fit keeps one point: the map is that constant
        knots, fitted = np.array([0.0, 1.0]), np.repeat(fitted[:1], 2)
    return ConfidenceMap(knots, fitted, int(values.size))
