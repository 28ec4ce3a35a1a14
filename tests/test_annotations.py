"""Frame labels from annotated sessions."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from prism.data.annotations import AnnotatedSession, StepSegment, frame_labels
from prism.errors import DataError


def _session(*segments: tuple[str, float, float], duration: float = 3.0) -> AnnotatedSession:
    return AnnotatedSession("s", "t", tuple(StepSegment(*s) for s in segments), duration)


def test_known_labels() -> None:
    labels = frame_labels(_session(("a", 0.0, 0.4), ("b", 0.6, 1.0), duration=1.0), ["a", "b"])
    assert labels.tolist() == [0, 0, 2, 1, 1]


def test_overlap_later_step_wins_and_earlier_not_resumed() -> None:
    labels = frame_labels(_session(("a", 0.0, 1.0), ("b", 0.2, 0.6), duration=1.0), ["a", "b"])
    assert labels.tolist() == [0, 1, 1, 2, 2]


def test_frame_rate_changes_length() -> None:
    session = _session(("a", 0.0, 1.0), duration=2.0)
    assert frame_labels(session, ["a"], frame_rate=10.0).shape == (20,)


def test_unknown_step_is_an_error() -> None:
    with pytest.raises(DataError, match="step 'x' is not in the procedure"):
        frame_labels(_session(("x", 0.0, 1.0)), ["a"])


def test_bad_frame_rate() -> None:
    with pytest.raises(DataError, match="frame_rate must be > 0"):
        frame_labels(_session(("a", 0.0, 1.0)), ["a"], frame_rate=0.0)


@settings(max_examples=60, deadline=None)
@given(
    st.lists(
        st.tuples(st.sampled_from(["a", "b", "c"]), st.floats(0, 20), st.floats(0.1, 10)),
        max_size=6,
    )
)
def test_labels_in_range_and_each_step_one_contiguous_run(
    raw: list[tuple[str, float, float]],
) -> None:
    segments = [(step, start, start + length) for step, start, length in raw]
    session = _session(*segments, duration=31.0)
    labels = frame_labels(session, ["a", "b", "c"])
    assert labels.shape == (155,)
    assert labels.min() >= 0
    assert labels.max() <= 3
    # every labelled frame lies inside a segment of that step
    times = np.arange(labels.size) / 5.0
    for t, label in zip(times, labels, strict=True):
        if label < 3:
            step = "abc"[label]
            assert any(s == step and start <= t < end for s, start, end in segments)
