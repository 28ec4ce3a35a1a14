"""Raw session recordings: watch IMU and audio with step labels, on disk and in memory.

A recording is a directory::

    <session>/
      meta.json    {"format": "prism-recording/1", "session_id": ..., "task": ...,
                    "synthetic": true|false, "duration_s": ..., ...free-form keys}
      imu.csv      t,acc_x,acc_y,acc_z,gyro_x,gyro_y,gyro_z   (optional)
      audio.wav    mono PCM, any sample rate (resampled to 16 kHz on reading; optional)
      labels.csv   session,step,start,end  (the annotation CSV of prism.data.annotation_files)

Units: ``t`` in seconds from the session start; acceleration in m/s^2 (gravity
included); angular rate in rad/s; audio float32 in [-1, 1]. At least one of IMU and
audio must be present. ``synthetic`` is required: reports keep semi-synthetic and real
results apart.

Bad input is handled at this boundary, once (see :func:`clean_imu` and
:func:`read_wav`): IMU rows out of time order are sorted, duplicated timestamps keep
their first row, NaN runs up to ``max_gap_s`` are interpolated, and longer NaN runs or
time gaps raise :class:`~prism.errors.DataError` naming the time; a WAV file that is
empty, unreadable or not audio raises :class:`~prism.errors.DataError`; another sample
rate is resampled.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import soundfile

from prism.data.annotation_files import read_annotation_csv, write_annotation_csv
from prism.data.annotations import AnnotatedSession
from prism.data.json_files import read_json_object
from prism.errors import DataError

__all__ = [
    "AUDIO_RATE_HZ",
    "IMU_CHANNELS",
    "IMU_RATE_HZ",
    "RECORDING_FORMAT",
    "ImuSamples",
    "Recording",
    "clean_imu",
    "read_recording",
    "read_wav",
    "write_recording",
]

RECORDING_FORMAT = "prism-recording/1"
AUDIO_RATE_HZ = 16_000
"""Sample rate of audio inside PrISM (Hz)."""
IMU_RATE_HZ = 50.0
"""Nominal IMU sample rate of the watch (Hz)."""
IMU_CHANNELS = ("acc_x", "acc_y", "acc_z", "gyro_x", "gyro_y", "gyro_z")
"""IMU columns: acceleration (m/s^2) then angular rate (rad/s)."""


@dataclass(frozen=True, eq=False)
class ImuSamples:
    """IMU samples of a session.

    Attributes
    ----------
    times : np.ndarray [shape=(n_samples,), float64, strictly increasing]
        Seconds from the session start.
    values : np.ndarray [shape=(n_samples, 6), float32, finite]
        ``acc_x, acc_y, acc_z`` (m/s^2) and ``gyro_x, gyro_y, gyro_z`` (rad/s).
    """

    times: np.ndarray
    values: np.ndarray

    @property
    def rate(self) -> float:
        """Median sample rate (Hz)."""
        return float(1.0 / np.median(np.diff(self.times))) if self.times.size > 1 else 0.0


@dataclass(frozen=True, eq=False)
class Recording:
    """One recorded (or semi-synthetic) session.

    Attributes
    ----------
    session_id, task : str
        Identifiers; ``task`` is a procedure id.
    annotation : AnnotatedSession
        The step labels (may have no segments for an unlabelled session).
    imu : ImuSamples or None
        Wrist IMU.
    audio : np.ndarray [shape=(n_samples,), float32, in [-1, 1]] or None
        Microphone audio at :data:`AUDIO_RATE_HZ`.
    metadata : mapping
        ``meta.json``; ``metadata["synthetic"]`` is a bool.
    """

    session_id: str
    task: str
    annotation: AnnotatedSession
    imu: ImuSamples | None = None
    audio: np.ndarray | None = None
    metadata: Mapping[str, Any] = field(default_factory=dict)

    @property
    def synthetic(self) -> bool:
        """Whether the recording was generated (semi-synthetic) rather than recorded."""
        return bool(self.metadata.get("synthetic", False))

    @property
    def duration(self) -> float:
        """Session length in seconds."""
        return self.annotation.duration


def clean_imu(times: np.ndarray, values: np.ndarray, *, max_gap_s: float = 1.0) -> ImuSamples:
    """Validate and repair raw IMU samples.

    Rows are sorted by time; a repeated timestamp keeps its first row; runs of NaN
    values no longer than ``max_gap_s`` are linearly interpolated per channel.

    Parameters
    ----------
    times : np.ndarray [shape=(n,)]
        Seconds.
    values : np.ndarray [shape=(n, 6)]
        Acceleration (m/s^2) and angular rate (rad/s).
    max_gap_s : float
        Longest time gap, or run of NaN samples, that is repaired (seconds).

    Raises
    ------
    DataError
        On a wrong shape, non-finite times, fewer than 2 samples, or a time gap / NaN run
        longer than ``max_gap_s`` (the message gives its start time and length).

    Examples
    --------
    >>> imu = clean_imu(np.array([0.02, 0.0, 0.04]), np.array([[1.0] * 6, [0.0] * 6, [np.nan] * 6]))
    >>> imu.times.tolist(), imu.values[:, 0].tolist()
    ([0.0, 0.02, 0.04], [0.0, 1.0, 1.0])
    """
    times = np.asarray(times, dtype=np.float64)
    values = np.asarray(values, dtype=np.float64)
    if times.ndim != 1 or values.shape != (times.size, len(IMU_CHANNELS)):
        raise DataError(
            f"IMU must be times (n,) and values (n, {len(IMU_CHANNELS)}), "
            f"got {times.shape} and {values.shape}"
        )
    if times.size < 2:
        raise DataError(f"IMU needs at least 2 samples, got {times.size}")
    if not np.isfinite(times).all():
        raise DataError("IMU timestamps contain NaN or infinite values")
    order = np.argsort(times, kind="stable")
    times, values = times[order], values[order]
    keep = np.concatenate([[True], np.diff(times) > 0])
    times, values = times[keep], values[keep]
    gaps = np.diff(times)
    if (gaps > max_gap_s).any():
        i = int(np.argmax(gaps > max_gap_s))
        raise DataError(
            f"IMU has a gap of {gaps[i]:.2f} s at t = {times[i]:.2f} s "
            f"(longer than max_gap_s = {max_gap_s} s); split the recording there"
        )
    for channel in range(values.shape[1]):
        column = values[:, channel]
        missing = ~np.isfinite(column)
        if not missing.any():
            continue
        if missing.all():
            raise DataError(f"IMU channel {IMU_CHANNELS[channel]} has no finite sample")
        _check_nan_runs(times, missing, max_gap_s, IMU_CHANNELS[channel])
        column[missing] = np.interp(times[missing], times[~missing], column[~missing])
    return ImuSamples(times=times, values=values.astype(np.float32))


def _check_nan_runs(times: np.ndarray, missing: np.ndarray, max_gap_s: float, name: str) -> None:
    edges = np.diff(np.concatenate([[0], missing.astype(np.int8), [0]]))
    starts, stops = np.flatnonzero(edges == 1), np.flatnonzero(edges == -1)
    for start, stop in zip(starts, stops, strict=True):
        before = times[start - 1] if start > 0 else times[start]
        after = times[stop] if stop < times.size else times[stop - 1]
        if after - before > max_gap_s:
            raise DataError(
                f"IMU channel {name} is NaN for {after - before:.2f} s from t = {before:.2f} s "
                f"(longer than max_gap_s = {max_gap_s} s)"
            )


def read_wav(path: Path | str, *, rate: int = AUDIO_RATE_HZ) -> np.ndarray:
    """Read an audio file as mono float32 at ``rate`` Hz.

    Multi-channel audio is averaged to mono; another sample rate is resampled
    (``librosa.resample``, soxr high quality).

    Raises
    ------
    DataError
        If the file is missing, unreadable, not audio, or holds no samples.
    """
    path = Path(path)
    try:
        samples, source_rate = soundfile.read(path, dtype="float32", always_2d=True)
    except (RuntimeError, soundfile.LibsndfileError, OSError) as error:
        raise DataError(f"{path}: cannot read audio ({error})") from None
    if samples.shape[0] == 0:
        raise DataError(f"{path}: the audio file holds no samples")
    mono = samples.mean(axis=1)
    if not np.isfinite(mono).all():
        raise DataError(f"{path}: the audio holds NaN or infinite samples")
    if source_rate != rate:
        import librosa  # deferred: importing librosa takes a second

        mono = librosa.resample(mono, orig_sr=source_rate, target_sr=rate)
    return np.asarray(np.clip(mono, -1.0, 1.0), dtype=np.float32)


def read_recording(path: Path | str, *, max_gap_s: float = 1.0) -> Recording:
    """Read a recording directory (see the module docstring for the layout).

    Raises
    ------
    DataError
        Naming the file and the problem: missing or malformed ``meta.json``, neither IMU
        nor audio, malformed ``imu.csv`` (with its line), bad audio or labels.
    """
    root = Path(path)
    meta_path = root / "meta.json"
    metadata = read_json_object(meta_path, missing_hint=f"is {root} a recording directory?")
    for key, kind in (("session_id", str), ("task", str), ("synthetic", bool)):
        if not isinstance(metadata.get(key), kind):
            raise DataError(f"{meta_path}: key {key!r} must be a {kind.__name__}")
    imu = _read_imu_csv(root / "imu.csv", max_gap_s) if (root / "imu.csv").exists() else None
    audio = read_wav(root / "audio.wav") if (root / "audio.wav").exists() else None
    if imu is None and audio is None:
        raise DataError(f"{root}: a recording needs imu.csv or audio.wav")
    duration = float(metadata.get("duration_s", 0.0))
    if imu is not None:
        duration = max(duration, float(imu.times[-1]))
    if audio is not None:
        duration = max(duration, audio.size / AUDIO_RATE_HZ)
    labels_path = root / "labels.csv"
    segments: tuple[Any, ...] = ()
    skipped: tuple[str, ...] = ()
    if labels_path.exists():
        sessions = read_annotation_csv(labels_path, task=metadata["task"])
        if len(sessions) > 1:
            raise DataError(f"{labels_path}: holds {len(sessions)} sessions, expected one")
        if sessions:
            segments, skipped = sessions[0].segments, sessions[0].skipped
    annotation = AnnotatedSession(
        session_id=metadata["session_id"],
        task=metadata["task"],
        segments=segments,
        duration=duration,
        skipped=skipped,
    )
    return Recording(
        session_id=metadata["session_id"],
        task=metadata["task"],
        annotation=annotation,
        imu=imu,
        audio=audio,
        metadata=metadata,
    )


def _read_imu_csv(path: Path, max_gap_s: float) -> ImuSamples:
    header = ",".join(("t", *IMU_CHANNELS))
    with path.open(encoding="utf-8") as handle:
        first = handle.readline().strip()
    if first != header:
        raise DataError(f"{path}:1: header must be {header!r}, got {first!r}")
    try:
        table = np.loadtxt(path, delimiter=",", skiprows=1, ndmin=2)
    except ValueError as error:
        raise DataError(f"{path}: malformed IMU rows ({error})") from None
    if table.shape[1] != 1 + len(IMU_CHANNELS):
        raise DataError(f"{path}: expected {1 + len(IMU_CHANNELS)} columns, got {table.shape[1]}")
    try:
        return clean_imu(table[:, 0], table[:, 1:], max_gap_s=max_gap_s)
    except DataError as error:
        raise DataError(f"{path}: {error}") from None


def write_recording(recording: Recording, path: Path | str) -> Path:
    """Write ``recording`` as a recording directory (created if needed); returns it."""
    root = Path(path)
    root.mkdir(parents=True, exist_ok=True)
    metadata = {
        **recording.metadata,
        "format": RECORDING_FORMAT,
        "session_id": recording.session_id,
        "task": recording.task,
        "synthetic": recording.synthetic,
        "duration_s": recording.duration,
    }
    (root / "meta.json").write_text(json.dumps(metadata, indent=2) + "\n", encoding="utf-8")
    if recording.imu is not None:
        table = np.column_stack([recording.imu.times, recording.imu.values])
        np.savetxt(
            root / "imu.csv",
            table,
            delimiter=",",
            fmt=["%.4f"] + ["%.5g"] * len(IMU_CHANNELS),
            header=",".join(("t", *IMU_CHANNELS)),
            comments="",
        )
    if recording.audio is not None:
        soundfile.write(root / "audio.wav", recording.audio, AUDIO_RATE_HZ, subtype="PCM_16")
    write_annotation_csv([recording.annotation], root / "labels.csv")
    return root
