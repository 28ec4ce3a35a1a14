"""Frame and segment metrics for step recognition, as pure functions on label arrays.

The counting is the libraries': scikit-learn for frame accuracy and F1 (imported on first
use, so that loading the CLI does not pay for it), rapidfuzz for the Levenshtein distance
of the edit score. These functions fix the conventions on top (which classes a macro
average counts, what an empty input scores) and check the inputs once.
"""

from __future__ import annotations

import numpy as np
from rapidfuzz.distance import Levenshtein

from prism.errors import MetricInputError

__all__ = [
    "MetricInputError",
    "edit_score",
    "frame_accuracy",
    "macro_f1",
    "per_class_f1",
    "segments",
]


def _check_pair(truth: np.ndarray, predicted: np.ndarray) -> None:
    if truth.shape != predicted.shape or truth.ndim != 1:
        raise MetricInputError(
            f"truth and predicted must be 1-D label arrays of the same length, "
            f"got shapes {truth.shape} and {predicted.shape}"
        )


def frame_accuracy(truth: np.ndarray, predicted: np.ndarray) -> float:
    """Fraction of frames whose predicted class equals the true class.

    >>> frame_accuracy(np.array([0, 0, 1]), np.array([0, 1, 1]))
    0.6666666666666666
    """
    _check_pair(truth, predicted)
    if not truth.size:
        return 0.0
    from sklearn.metrics import accuracy_score

    return float(accuracy_score(truth, predicted))


def per_class_f1(truth: np.ndarray, predicted: np.ndarray, *, n_classes: int) -> np.ndarray:
    """F1 of each class over frames, shape ``(n_classes,)``; NaN for a class in neither.

    >>> per_class_f1(np.array([0, 0, 1]), np.array([0, 1, 1]), n_classes=3).round(3).tolist()
    [0.667, 0.667, nan]
    """
    _check_pair(truth, predicted)
    if not truth.size:
        return np.full(n_classes, np.nan)
    from sklearn.metrics import f1_score

    scores = f1_score(
        truth, predicted, labels=np.arange(n_classes), average=None, zero_division=np.nan
    )
    return np.asarray(scores, dtype=np.float64)


def macro_f1(
    truth: np.ndarray, predicted: np.ndarray, *, n_classes: int, exclude: int | None = None
) -> float:
    """Mean F1 over the classes present in ``truth`` (absent classes are not counted).

    ``exclude`` leaves one class (e.g. the "other"/null class, as OpenPack's benchmark
    does) out of the average; its frames still count as errors of the other classes.

    >>> macro_f1(np.array([0, 0, 1]), np.array([0, 1, 1]), n_classes=3)
    0.6666666666666666
    >>> macro_f1(np.array([0, 0, 2]), np.array([0, 0, 0]), n_classes=3, exclude=2)
    0.8
    """
    _check_pair(truth, predicted)
    present = np.bincount(truth, minlength=n_classes) > 0
    if exclude is not None:
        present[exclude] = False
    if not present.any():
        return 0.0
    from sklearn.metrics import f1_score

    # Only classes with support are averaged, so no F1 divides by zero.
    score = f1_score(
        truth, predicted, labels=np.flatnonzero(present), average="macro", zero_division=0.0
    )
    return float(score)


def segments(labels: np.ndarray) -> np.ndarray:
    """Collapse runs of equal labels: ``[0, 0, 2, 2, 1] -> [0, 2, 1]``."""
    if labels.size == 0:
        return labels
    change = np.flatnonzero(np.diff(labels)) + 1
    return np.asarray(labels[np.concatenate([[0], change])])


def edit_score(truth: np.ndarray, predicted: np.ndarray, *, ignore: int | None = None) -> float:
    """Segmental edit score in [0, 1]: ``1 - levenshtein(segments) / max(lengths)``.

    Compares the order of segments, not their timing (the arrays may differ in length):
    over-segmentation (flicker) and wrong orders lower it. Frames of class ``ignore``
    (e.g. "other") are dropped first.

    >>> edit_score(np.array([0, 0, 1, 1, 2]), np.array([0, 1, 0, 1, 2]))
    0.6
    """
    if truth.ndim != 1 or predicted.ndim != 1:
        raise MetricInputError(
            f"edit_score needs 1-D label arrays, got shapes {truth.shape} and {predicted.shape}"
        )
    if ignore is not None:
        truth, predicted = truth[truth != ignore], predicted[predicted != ignore]
    a, b = segments(truth), segments(predicted)
    if max(a.size, b.size) == 0:
        return 1.0
    distance = Levenshtein.distance(a.tolist(), b.tolist())
    return 1.0 - float(distance) / max(a.size, b.size)
