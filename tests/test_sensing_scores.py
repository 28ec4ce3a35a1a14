"""Tests for prism.sensing.scores: the classifier's own frame scores."""

from __future__ import annotations

import doctest

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

import prism.sensing.scores as scores_module
from prism.evaluation import metrics
from prism.sensing.scores import frame_accuracy, macro_f1

label_arrays = arrays(np.int64, st.integers(0, 60), elements=st.integers(0, 5))


@settings(max_examples=100, deadline=None)
@given(data=st.data())
def test_scores_equal_the_evaluation_metrics(data: st.DataObject) -> None:
    """Sensing may not import prism.evaluation; its scores must still be the same numbers."""
    labels = data.draw(label_arrays)
    predicted = data.draw(arrays(np.int64, labels.size, elements=st.integers(0, 5)))
    assert frame_accuracy(labels, predicted) == metrics.frame_accuracy(labels, predicted)
    assert macro_f1(labels, predicted) == metrics.macro_f1(labels, predicted, n_classes=6)


def test_known_answers() -> None:
    labels, predicted = np.array([0, 0, 1, 1, 2]), np.array([0, 1, 1, 1, 0])
    # class 0: 2 * 1 / (2 + 2) = 0.5; class 1: 2 * 2 / (2 + 3) = 0.8; class 2: 0
    assert macro_f1(labels, predicted) == (0.5 + 0.8 + 0.0) / 3
    assert frame_accuracy(labels, predicted) == 0.6
    empty = np.zeros(0, dtype=np.int64)
    assert macro_f1(empty, empty) == 0.0
    assert frame_accuracy(empty, empty) == 0.0


def test_docstring_examples() -> None:
    result = doctest.testmod(scores_module)
    assert result.attempted > 0
    assert result.failed == 0
