"""A recording session's step marks and its export as a recording.

A session of a recording device keeps every input (its user was told), so its stored
inputs are the recording: the IMU and audio frames, and the ``mark`` control messages
(``watch_bridge/PROTOCOL.md``) where the user said which step starts. This module turns
them into a :class:`~prism.data.recording.Recording` (the format of
:mod:`prism.data.recording`, written by its :func:`~prism.data.recording.write_recording`):
the labels are the ones a researcher saved (:mod:`prism.server.labels`), else the
segments between the marks.

Pure functions over stored inputs; the service reads the store and serves the result.
"""

from __future__ import annotations

import itertools
import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np

from prism.data.annotations import AnnotatedSession, StepSegment
from prism.data.recording import AUDIO_RATE_HZ, ImuSamples, Recording, clean_imu
from prism.errors import DataError
from prism.protocol import FrameKind, Mark, decode_frame, parse_control
from prism.server.labels import saved_labels
from prism.storage import StoredInput

__all__ = [
    "StepMark",
    "labels_from_marks",
    "next_marked_step",
    "session_recording",
    "stored_marks",
]


@dataclass(frozen=True)
class StepMark:
    """``step`` (an id; ``None``: between steps, or something else) starts at ``t`` (s)."""

    t: float
    step: str | None


def next_marked_step(step_ids: Sequence[str], last: str | None) -> str | None:
    """The step a bare "next" marks: the one after ``last`` (the last step marked) in the
    procedure's order, the first step before any mark, ``None`` after the last step.

    >>> next_marked_step(("grind", "brew"), None), next_marked_step(("grind", "brew"), "grind")
    ('grind', 'brew')
    >>> next_marked_step(("grind", "brew"), "brew") is None
    True
    """
    if last is None:
        return step_ids[0] if step_ids else None
    position = step_ids.index(last) + 1 if last in step_ids else len(step_ids)
    return step_ids[position] if position < len(step_ids) else None


def stored_marks(inputs: Iterable[StoredInput]) -> list[StepMark]:
    """The marks among a session's stored inputs, in processing order."""
    marks = []
    for stored in inputs:
        if stored.kind == "control" and b'"mark"' in stored.body:
            message = parse_control(stored.body)
            if isinstance(message, Mark):
                marks.append(StepMark(message.t, message.step))
    return marks


def labels_from_marks(marks: Sequence[StepMark], duration: float) -> tuple[StepSegment, ...]:
    """The step segments the marks delimit: each mark's step from its time to the next
    mark's (the last one to ``duration``). Marks are taken in time order (the order
    given among equal times); a ``None`` mark ends the step before it and starts no
    segment; a step marked again right after itself goes on; a mark at or after
    ``duration`` starts nothing.

    Parameters
    ----------
    marks : sequence of StepMark
    duration : float
        Session length (s).

    Returns
    -------
    tuple of StepSegment
        Ordered, non-overlapping, non-empty, inside ``[0, duration]``.

    Examples
    --------
    >>> marks = [StepMark(2.0, "a"), StepMark(5.0, None), StepMark(6.0, "b"), StepMark(8.0, "b")]
    >>> [(s.step, s.start, s.end) for s in labels_from_marks(marks, 10.0)]
    [('a', 2.0, 5.0), ('b', 6.0, 10.0)]
    """
    ordered = sorted(marks, key=lambda mark: mark.t)
    segments: list[StepSegment] = []
    for mark, following in itertools.pairwise([*ordered, StepMark(duration, None)]):
        start, end = mark.t, min(following.t, duration)
        if mark.step is None or end <= start:
            continue
        if segments and segments[-1].step == mark.step and segments[-1].end == start:
            segments[-1] = StepSegment(mark.step, segments[-1].start, end)  # it goes on
        else:
            segments.append(StepSegment(mark.step, start, end))
    return tuple(segments)


def session_recording(
    session_id: str,
    task: str,
    inputs: Iterable[StoredInput],
    *,
    audio_rate: float = AUDIO_RATE_HZ,
    metadata: dict[str, object] | None = None,
) -> Recording:
    """A recording session as a :class:`~prism.data.recording.Recording`.

    Parameters
    ----------
    session_id, task : str
        The session and its procedure.
    inputs : iterable of StoredInput
        All its stored inputs, in processing order.
    audio_rate : float
        Rate (Hz) of its audio frames (1 kHz in a privacy session: resampled to
        :data:`~prism.data.recording.AUDIO_RATE_HZ` like any recording's audio).
    metadata : dict, optional
        More keys for ``meta.json``.

    Each audio chunk is placed at its ``t0`` (silence where none came); IMU rows are
    cleaned as any recording's (:func:`~prism.data.recording.clean_imu`). Spoken
    questions are not part of it (they are not sensor data). The labels are the last
    ones saved, else those of the marks (``meta.json`` says which: ``labels`` is
    ``"saved"`` or ``"marks"``).

    Raises
    ------
    DataError
        If the session holds neither IMU (2 samples or more) nor audio.
    """
    imu_times: list[np.ndarray] = []
    imu_values: list[np.ndarray] = []
    chunks: list[tuple[float, np.ndarray]] = []
    kept = list(inputs)
    for stored in kept:
        if stored.kind != "frame":
            continue
        frame = decode_frame(stored.body)
        if frame.kind == FrameKind.IMU:
            imu_times.append(frame.t0 + np.arange(len(frame.samples)) / frame.rate)
            imu_values.append(frame.samples)
        elif frame.kind == FrameKind.AUDIO:
            chunks.append((frame.t0, frame.samples))
    imu: ImuSamples | None = None
    if sum(len(times) for times in imu_times) >= 2:
        imu = clean_imu(np.concatenate(imu_times), np.concatenate(imu_values))
    audio = _placed(chunks, audio_rate) if chunks else None
    if imu is None and audio is None:
        raise DataError(f"session {session_id!r} has no sensor data to export yet")
    marks = stored_marks(kept)
    duration = max(
        float(imu.times[-1]) if imu is not None else 0.0,
        audio.size / AUDIO_RATE_HZ if audio is not None else 0.0,
    )
    saved = saved_labels(kept)
    annotation = AnnotatedSession(
        session_id=session_id,
        task=task,
        segments=labels_from_marks(marks, duration) if saved is None else saved,
        duration=duration,
    )
    meta = {
        "source": "recorded with the PrISM service",
        "marks": [[mark.t, mark.step] for mark in marks],
        "labels": "marks" if saved is None else "saved",
        **(metadata or {}),
        "synthetic": False,
    }
    json.dumps(meta)  # JSON-able, or fail here rather than half-way through a download
    return Recording(session_id, task, annotation, imu=imu, audio=audio, metadata=meta)


def _placed(chunks: list[tuple[float, np.ndarray]], rate: float) -> np.ndarray:
    """Audio chunks ``(t0 s, samples)`` at their times, at ``AUDIO_RATE_HZ``."""
    starts = [round(t0 * rate) for t0, _ in chunks]
    audio = np.zeros(max(s + len(c) for s, (_, c) in zip(starts, chunks, strict=True)), np.float32)
    for start, (_, samples) in zip(starts, chunks, strict=True):
        audio[start : start + len(samples)] = samples
    if rate != AUDIO_RATE_HZ:
        import librosa  # deferred: importing librosa takes a second

        audio = librosa.resample(audio, orig_sr=rate, target_sr=AUDIO_RATE_HZ)
    return np.asarray(np.clip(audio, -1.0, 1.0), dtype=np.float32)
