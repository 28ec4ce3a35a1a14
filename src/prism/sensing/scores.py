"""Frame scores the classifier reports about itself: accuracy and macro-F1.

Training picks its best epoch by these scores and the model card records them. They are
scikit-learn's, with the conventions of :mod:`prism.evaluation.metrics` (macro-F1 over
the classes present in the true labels; nothing to score gives 0.0). Sensing computes
them here instead of importing the evaluation package, which sits above it (evaluation
imports sensing); ``tests/test_sensing_scores.py`` keeps the two equal.
"""

from __future__ import annotations

import numpy as np
from sklearn.metrics import accuracy_score, f1_score

__all__ = ["frame_accuracy", "macro_f1"]


def frame_accuracy(labels: np.ndarray, predicted: np.ndarray) -> float:
    """Fraction of frames whose predicted class is the true one (0.0 without frames).

    Parameters
    ----------
    labels, predicted : np.ndarray [shape=(N,), int]
        True and predicted classes; valid input assumed (checked by the caller).

    Examples
    --------
    >>> frame_accuracy(np.array([0, 0, 1]), np.array([0, 1, 1]))
    0.6666666666666666
    """
    return float(accuracy_score(labels, predicted)) if labels.size else 0.0


def macro_f1(labels: np.ndarray, predicted: np.ndarray) -> float:
    """Mean F1 over the classes present in ``labels`` (0.0 without frames); the arrays are
    as in :func:`frame_accuracy`.

    Examples
    --------
    Class 0: F1 1; class 1: ``2 * 1 / (2 + 1) = 2/3``; class 2 is only predicted, so it
    is not averaged: ``(1 + 2/3) / 2``.

    >>> round(macro_f1(np.array([0, 0, 1, 1]), np.array([0, 0, 1, 2])), 4)
    0.8333
    """
    if not labels.size:
        return 0.0
    score = f1_score(
        labels, predicted, labels=np.unique(labels), average="macro", zero_division=0.0
    )
    return float(score)
