"""A recording session's step labels as a researcher corrected them.

Marks are tapped live, so the labels between them (:func:`~prism.server.recordings.
labels_from_marks`) are off by a reaction time or name a wrong step now and then. The
dashboard's timeline lets a researcher fix them and save them; they are kept as a stored
input of kind ``labels`` (:data:`~prism.storage.InputKind`; the pipeline's replay passes
over it) whose body is the JSON list of segments. The latest one is the session's labels:
the export (:func:`~prism.server.recordings.session_recording`) uses it instead of the
marks.

:class:`LabelSegment` checks one segment as it comes (pydantic: the request body);
:func:`checked_labels` checks the list against its session (order, span, steps).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence

from pydantic import BaseModel, Field, model_validator

from prism.data.annotations import StepSegment
from prism.errors import LabelsRefusedError
from prism.storage import StoredInput

__all__ = [
    "LabelSegment",
    "checked_labels",
    "labels_input",
    "saved_labels",
]


class LabelSegment(BaseModel):
    """One labelled segment: ``step`` (an id; ``None``: no step, "other") from ``start``
    to ``end`` (s from the session's start)."""

    start: float = Field(ge=0.0, allow_inf_nan=False)
    end: float = Field(ge=0.0, allow_inf_nan=False)
    step: str | None = Field(default=None, min_length=1, max_length=100)

    @model_validator(mode="after")
    def _not_empty(self) -> LabelSegment:
        if not self.start < self.end:
            raise LabelsRefusedError(f"starts at {self.start} s, not before its end ({self.end} s)")
        return self


def checked_labels(
    segments: Sequence[LabelSegment], *, duration: float, step_ids: Sequence[str]
) -> tuple[StepSegment, ...]:
    """Labels checked against their session: the step segments among ``segments``
    (those of step ``None`` are gaps), a step going on across touching segments joined.

    Parameters
    ----------
    segments : sequence of LabelSegment
        Each with ``start < end`` (:class:`LabelSegment` saw to it).
    duration : float
        The session's length (s): every segment ends by then.
    step_ids : sequence of str
        The steps of the session's procedure.

    Returns
    -------
    tuple of StepSegment
        Ordered, non-overlapping, inside ``[0, duration]``, no two touching segments of
        the same step.

    Raises
    ------
    LabelsRefusedError
        Naming the first segment (its index in ``segments``) that starts before the one
        before it ends, ends after ``duration`` or names a step not in ``step_ids``.

    Examples
    --------
    >>> given = [LabelSegment(start=0, end=2, step="a"), LabelSegment(start=2, end=3, step="a"),
    ...          LabelSegment(start=3, end=4), LabelSegment(start=5, end=6, step="b")]
    >>> [(s.step, s.start, s.end) for s in checked_labels(given, duration=6, step_ids="ab")]
    [('a', 0.0, 3.0), ('b', 5.0, 6.0)]
    """
    known = set(step_ids)
    kept: list[StepSegment] = []
    previous_end = 0.0
    for index, segment in enumerate(segments):
        problem = None
        if segment.start < previous_end:
            ends = f"({previous_end} s)"
            problem = f"starts at {segment.start} s, before segment {index - 1} ends {ends}"
        elif segment.end > duration:
            problem = f"ends at {segment.end} s, after the session ({duration:.2f} s)"
        elif segment.step is not None and segment.step not in known:
            problem = f"step {segment.step!r} is not a step of the session's procedure"
        if problem is not None:
            raise LabelsRefusedError(f"segment {index}: {problem}")
        previous_end = segment.end
        if segment.step is None:
            continue
        if kept and kept[-1].step == segment.step and kept[-1].end == segment.start:
            kept[-1] = StepSegment(segment.step, kept[-1].start, segment.end)  # it goes on
        else:
            kept.append(StepSegment(segment.step, segment.start, segment.end))
    return tuple(kept)


def labels_input(segments: Iterable[StepSegment]) -> StoredInput:
    """The stored input that saves ``segments`` (checked: :func:`checked_labels`)."""
    rows = [{"start": s.start, "end": s.end, "step": s.step} for s in segments]
    return StoredInput(0, "labels", json.dumps(rows).encode())


def saved_labels(inputs: Iterable[StoredInput]) -> tuple[StepSegment, ...] | None:
    """The labels last saved among a session's stored inputs (``None``: none saved).

    >>> saved_labels([labels_input([StepSegment("a", 1.0, 2.5)])])
    (StepSegment(step='a', start=1.0, end=2.5),)
    """
    latest = None
    for stored in inputs:
        if stored.kind == "labels":
            latest = stored.body
    if latest is None:
        return None
    return tuple(
        StepSegment(str(row["step"]), float(row["start"]), float(row["end"]))
        for row in json.loads(latest)
    )
