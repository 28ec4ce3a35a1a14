"""Annotated sessions: which step happened when, and frame labels derived from them.

An :class:`AnnotatedSession` is the common currency between data-set loaders
(CaptainCook4D, OpenPack, recordings), procedure learning and evaluation. It is defined
in :mod:`prism.procedure.sessions` (learning takes it and must not depend on the loaders)
and re-exported here.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from prism.errors import DataError
from prism.procedure.sessions import AnnotatedSession, StepSegment

__all__ = ["FRAME_RATE_HZ", "AnnotatedSession", "StepSegment", "frame_labels"]

FRAME_RATE_HZ = 5.0
"""Default tracking frame rate (frames per second)."""


def frame_labels(
    session: AnnotatedSession, step_ids: Sequence[str], *, frame_rate: float = FRAME_RATE_HZ
) -> np.ndarray:
    """Turn a session's step segments into one class label per frame.

    Frame ``t`` covers time ``t / frame_rate`` seconds. A frame inside a step's segment is
    labelled with that step; where segments overlap, the most recently started step wins
    (the user has moved on to it) and the earlier step is not resumed when the later one
    ends: a step covers ``[start, min(end, next step's start))``. Frames in no segment
    are "other".

    Parameters
    ----------
    session : AnnotatedSession
        The annotated session.
    step_ids : sequence of str
        Step ids in class order (length ``S``).
    frame_rate : float
        Frames per second (Hz), > 0.

    Returns
    -------
    np.ndarray [shape=(n_frames,), int64, values in [0, S]]
        Class per frame; ``S`` means "other". ``n_frames = ceil(duration * frame_rate)``.

    Examples
    --------
    >>> a, b = StepSegment("a", 0.0, 0.4), StepSegment("b", 0.6, 1.0)
    >>> frame_labels(AnnotatedSession("x", "t", (a, b), 1.0), ["a", "b"]).tolist()
    [0, 0, 2, 1, 1]
    >>> a, b = StepSegment("a", 0.0, 1.0), StepSegment("b", 0.2, 0.6)
    >>> frame_labels(AnnotatedSession("y", "t", (a, b), 1.0), ["a", "b"]).tolist()
    [0, 1, 1, 2, 2]
    """
    if frame_rate <= 0:
        raise DataError(f"frame_rate must be > 0 Hz, got {frame_rate}")
    index = {step_id: i for i, step_id in enumerate(step_ids)}
    n_frames = int(np.ceil(session.duration * frame_rate - 1e-9))
    labels = np.full(n_frames, len(step_ids), dtype=np.int64)
    times = np.arange(n_frames) / frame_rate
    ordered = sorted(session.segments, key=lambda s: s.start)
    for i, segment in enumerate(ordered):
        if segment.step not in index:
            raise DataError(
                f"session {session.session_id!r}: step {segment.step!r} is not in the procedure"
            )
        end = min(segment.end, ordered[i + 1].start) if i + 1 < len(ordered) else segment.end
        inside = (times >= segment.start) & (times < end)
        labels[inside] = index[segment.step]
    return labels
