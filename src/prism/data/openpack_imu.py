"""OpenPack wrist IMU as PrISM recordings: real sensor data for a real procedure.

Expected layout of ``root`` (as in the OpenPack data set)::

    <user>/annotation/openpack-operations/<session>.csv   operation labels
    <user>/atr/<wrist>/<session>.csv                      IMU of one wrist sensor

The IMU CSV has a header with at least ``unixtime`` (milliseconds since the Unix epoch,
UTC), ``acc_x, acc_y, acc_z`` (G, gravity included) and ``gyro_x, gyro_y, gyro_z``
(degrees/s); other columns (the quaternion) are ignored. ``atr01`` is the right wrist,
the one PrISM treats as "the watch"; ``atr02`` is the left wrist. OpenPack samples at
about 30 Hz.

Conversions: acceleration ``x 9.80665`` (G -> m/s^2), angular rate ``x pi / 180``
(deg/s -> rad/s). Bad samples are handled by :func:`prism.data.recording.clean_imu`
(rows out of order are sorted, repeated timestamps keep their first row, empty or
non-numeric cells and NaN runs up to ``max_gap_s`` are interpolated, longer runs and
time gaps raise :class:`~prism.errors.DataError`); every error names the file.

Each packed box becomes one :class:`~prism.data.recording.Recording` whose labels are
:func:`prism.data.openpack.read_openpack_operations`'s session for that box and whose IMU
is cut to the box's time span (``[0, duration]`` in the box's time, the annotation's
``margin`` included). Where the sensor stops before the labels do (the last box of
U0209/S0500 is annotated 3.9 s past the end of the IMU file), the IMU is simply shorter
than the recording: ``metadata["imu_span_s"]`` gives the covered span, and the framing
repeats the nearest sample beyond it. A box with fewer than 2 IMU samples is an error.
"""

from __future__ import annotations

import csv
import dataclasses
import math
from pathlib import Path
from typing import Any

import numpy as np

from prism.data.openpack import OPENPACK_TASK, read_openpack_operations
from prism.data.recording import IMU_CHANNELS, ImuSamples, Recording, clean_imu
from prism.errors import DataError

__all__ = [
    "DEG_TO_RAD",
    "G_TO_MS2",
    "OPENPACK_WRISTS",
    "imu_csv_path",
    "load_openpack_imu",
    "load_openpack_recordings",
    "resample_imu",
    "slice_imu",
    "trim_to_imu",
]

G_TO_MS2 = 9.80665
"""Standard gravity: metres per second squared in one G."""
DEG_TO_RAD = math.pi / 180.0
"""Radians in one degree."""
OPENPACK_WRISTS = {"atr01": "right", "atr02": "left"}
"""OpenPack wrist sensors and the wrist they are worn on."""

_TIME_COLUMN = "unixtime"
_SOURCE = "OpenPack v1.0.0 (CC BY-NC-SA 4.0)"


def imu_csv_path(root: Path | str, user: str, session: str, wrist: str = "atr01") -> Path:
    """Path of one wrist sensor's CSV: ``<root>/<user>/atr/<wrist>/<session>.csv``."""
    return Path(root) / user / "atr" / wrist / f"{session}.csv"


def _check_wrist(wrist: str) -> None:
    if wrist not in OPENPACK_WRISTS:
        raise DataError(f"wrist must be one of {sorted(OPENPACK_WRISTS)}, got {wrist!r}")


def _read_imu_table(path: Path) -> tuple[np.ndarray, np.ndarray]:
    """Unix times (s) and raw values (n, 6) in G and deg/s; NaN where a cell is bad."""
    try:
        with path.open(encoding="utf-8-sig", newline="") as handle:
            reader = csv.reader(handle)
            header = next(reader, [])
            has_rows = any(row for row in reader)
    except FileNotFoundError:
        raise DataError(f"{path}: OpenPack IMU file not found") from None
    except (OSError, UnicodeDecodeError) as error:
        raise DataError(f"{path}: cannot read file: {error}") from None
    names = [name.strip() for name in header]
    wanted = (_TIME_COLUMN, *IMU_CHANNELS)
    missing = [name for name in wanted if name not in names]
    if missing:
        raise DataError(f"{path}:1: missing columns {missing}; expected {list(wanted)}")
    if not has_rows:
        raise DataError(f"{path}: holds no IMU samples")
    columns = [names.index(name) for name in wanted]
    try:
        table = np.genfromtxt(
            path, delimiter=",", skip_header=1, usecols=columns, dtype=np.float64, ndmin=2
        )
    except ValueError as error:
        raise DataError(f"{path}: malformed rows ({error})") from None
    bad_time = np.flatnonzero(~np.isfinite(table[:, 0]))
    if bad_time.size:
        line = int(bad_time[0]) + 2
        raise DataError(f"{path}:{line}: {_TIME_COLUMN} is missing or not a number")
    values = table[:, 1:].copy()
    values[:, :3] *= G_TO_MS2
    values[:, 3:] *= DEG_TO_RAD
    return table[:, 0] / 1000.0, values


def load_openpack_imu(
    root: Path | str,
    user: str,
    session: str,
    wrist: str = "atr01",
    *,
    max_gap_s: float = 1.0,
) -> ImuSamples:
    """Read one OpenPack wrist sensor for a whole session, in SI units.

    Parameters
    ----------
    root : Path or str
        OpenPack directory (layout in the module docstring).
    user, session : str
        E.g. ``"U0209"``, ``"S0500"``.
    wrist : {"atr01", "atr02"}
        Right (``atr01``, "the watch") or left (``atr02``) wrist.
    max_gap_s : float
        Longest time gap or NaN run repaired by interpolation (seconds).

    Returns
    -------
    ImuSamples
        ``times`` are **absolute**: seconds since the Unix epoch (UTC), to be aligned with
        :attr:`prism.data.openpack.OpenPackOperations.box_starts`; ``values`` are m/s^2
        and rad/s at the native rate (about 30 Hz).

    Raises
    ------
    DataError
        Naming the file: missing file or columns, malformed rows (with the line of a
        missing timestamp), gaps or NaN runs longer than ``max_gap_s``.

    Examples
    --------
    >>> imu = load_openpack_imu("../shared/data/openpack", "U0209", "S0500")  # doctest: +SKIP
    >>> round(imu.rate, 1)  # doctest: +SKIP
    33.3
    """
    _check_wrist(wrist)
    path = imu_csv_path(root, user, session, wrist)
    times, values = _read_imu_table(path)
    try:
        return clean_imu(times, values, max_gap_s=max_gap_s)
    except DataError as error:
        raise DataError(f"{path}: {error}") from None


def slice_imu(
    imu: ImuSamples, start: float, stop: float, *, origin: float | None = None
) -> ImuSamples:
    """Samples with ``start <= t <= stop``, times shifted so that ``origin`` becomes 0.

    Parameters
    ----------
    imu : ImuSamples
        Source samples (any time base).
    start, stop : float
        Span to keep, in the time base of ``imu`` (seconds).
    origin : float or None
        Time that becomes 0 (default ``start``).

    Raises
    ------
    DataError
        If fewer than 2 samples fall in the span.
    """
    keep = (imu.times >= start) & (imu.times <= stop)
    if int(keep.sum()) < 2:
        raise DataError(
            f"IMU has {int(keep.sum())} samples in [{start:.3f}, {stop:.3f}] s; need at least 2 "
            f"(the IMU covers [{imu.times[0]:.3f}, {imu.times[-1]:.3f}] s)"
        )
    shift = start if origin is None else origin
    times = np.round(imu.times[keep] - shift, 6)  # absolute times carry float noise
    return ImuSamples(times=times, values=imu.values[keep])


def resample_imu(imu: ImuSamples, rate_hz: float, *, start: float | None = None) -> ImuSamples:
    """Linearly interpolate ``imu`` onto a uniform grid of ``rate_hz``.

    Parameters
    ----------
    imu : ImuSamples
        Source samples.
    rate_hz : float
        Target rate (Hz, > 0).
    start : float or None
        First grid time (default ``imu.times[0]``); the grid stops at ``imu.times[-1]``.

    Examples
    --------
    >>> src = ImuSamples(np.array([0.0, 1.0]), np.array([[0.0] * 6, [1.0] * 6], dtype=np.float32))
    >>> out = resample_imu(src, 4.0)
    >>> out.times.tolist(), out.values[:, 0].tolist()
    ([0.0, 0.25, 0.5, 0.75, 1.0], [0.0, 0.25, 0.5, 0.75, 1.0])
    """
    if not (math.isfinite(rate_hz) and rate_hz > 0):
        raise DataError(f"rate_hz must be a finite number > 0, got {rate_hz}")
    first = float(imu.times[0]) if start is None else start
    count = math.floor((float(imu.times[-1]) - first) * rate_hz + 1e-9) + 1
    if count < 2:
        raise DataError(f"IMU spans too little time to resample at {rate_hz} Hz")
    grid = first + np.arange(count) / rate_hz
    values = np.column_stack([np.interp(grid, imu.times, column) for column in imu.values.T])
    return ImuSamples(times=grid, values=values.astype(np.float32))


def load_openpack_recordings(
    root: Path | str,
    *,
    user: str | None = None,
    session: str | None = None,
    wrist: str = "atr01",
    margin: float = 0.0,
    rate_hz: float | None = None,
    max_gap_s: float = 1.0,
) -> list[Recording]:
    """One real recording per OpenPack box: wrist IMU with the operation labels.

    Parameters
    ----------
    root : Path or str
        OpenPack directory (layout in the module docstring).
    user, session : str or None
        Restrict to one user / session; None reads every annotated one.
    wrist : {"atr01", "atr02"}
        Which wrist is "the watch" (default the right wrist, ``atr01``).
    margin : float
        Seconds of lead-in and tail around each box, as in
        :func:`~prism.data.openpack.read_openpack_operations`.
    rate_hz : float or None
        Resample the IMU to this rate (e.g. ``IMU_RATE_HZ`` = 50 Hz); None keeps the native
        rate (about 30 Hz; the feature extractors resample their windows anyway).
    max_gap_s : float
        Passed to :func:`~prism.data.recording.clean_imu`.

    Returns
    -------
    list of Recording
        Ordered by user, session and box; ``session_id`` like ``"U0209-S0500-box01"``,
        ``task`` ``"openpack_packing"``, IMU times in seconds from the box's time 0, no
        audio. ``metadata``: ``synthetic`` False, ``source``, ``user``, ``session``,
        ``box``, ``wrist``, ``wrist_side``, ``imu_file``, ``native_rate_hz``,
        ``imu_rate_hz``, ``margin_s``, ``imu_span_s`` (first and last IMU time, s),
        ``label_source``.

    Raises
    ------
    DataError
        Naming the file: missing annotations or IMU, malformed rows, gaps, or a box
        with fewer than 2 IMU samples.

    Examples
    --------
    >>> boxes = load_openpack_recordings("../shared/data/openpack", user="U0209")  # doctest: +SKIP
    >>> boxes[0].session_id, boxes[0].synthetic  # doctest: +SKIP
    ('U0209-S0500-box01', False)
    """
    _check_wrist(wrist)
    operations = read_openpack_operations(root, user=user, session=session, margin=margin)
    streams: dict[tuple[str, str], ImuSamples] = {}
    recordings: list[Recording] = []
    for annotation in operations.sessions:
        user_id, session_id, box = _split_box_id(annotation.session_id)
        key = (user_id, session_id)
        if key not in streams:
            streams[key] = load_openpack_imu(root, user_id, session_id, wrist, max_gap_s=max_gap_s)
        stream = streams[key]
        path = imu_csv_path(root, user_id, session_id, wrist)
        origin = operations.box_starts[annotation.session_id].timestamp()
        try:
            imu = slice_imu(stream, origin, origin + annotation.duration)
        except DataError as error:
            raise DataError(f"{path}: box {annotation.session_id}: {error}") from None
        if rate_hz is not None:
            first = math.ceil(float(imu.times[0]) * rate_hz - 1e-6) / rate_hz
            imu = resample_imu(imu, rate_hz, start=first)
        metadata: dict[str, Any] = {
            "synthetic": False,
            "source": _SOURCE,
            "user": user_id,
            "session": session_id,
            "box": box,
            "wrist": wrist,
            "wrist_side": OPENPACK_WRISTS[wrist],
            "imu_file": str(path),
            "native_rate_hz": round(stream.rate, 3),
            "imu_rate_hz": round(imu.rate, 3),
            "margin_s": margin,
            "imu_span_s": [round(float(imu.times[0]), 3), round(float(imu.times[-1]), 3)],
            "label_source": "openpack-operations",
        }
        recordings.append(
            Recording(
                session_id=annotation.session_id,
                task=OPENPACK_TASK,
                annotation=annotation,
                imu=imu,
                metadata=metadata,
            )
        )
    return recordings


def _split_box_id(box_session_id: str) -> tuple[str, str, int]:
    """``"U0209-S0500-box01"`` -> ``("U0209", "S0500", 1)`` (ids made by the annotation reader)."""
    head, box = box_session_id.rsplit("-box", 1)
    user, session = head.split("-", 1)
    return user, session, int(box)


def trim_to_imu(recording: Recording) -> Recording:
    """Cut ``recording``'s labelled span to where its IMU ends.

    OpenPack's IMU can stop before the labels do (box 20 of U0209/S0500 by 3.9 s); the
    sensing models need IMU over the whole labelled span. A recording without IMU is
    returned unchanged.
    """
    if recording.imu is None:
        return recording
    end = min(recording.annotation.duration, float(recording.imu.times[-1]))
    annotation = dataclasses.replace(recording.annotation, duration=end)
    return dataclasses.replace(recording, annotation=annotation)
