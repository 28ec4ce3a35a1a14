"""Sensor Logger's motion readings as PrISM IMU samples: its live HTTP Push messages.

Sensor Logger (Android and iOS, with Wear OS and Apple Watch companions) pushes the
readings of a recording as JSON messages (its documentation, ``PUSHING.md`` of the
``awesome-sensor-logger`` repository): ``messageId`` (one more per message), ``sessionId``,
``deviceId`` and ``payload``, a list of readings, each with ``name``, ``time`` (UTC epoch,
nanoseconds) and the sensor's ``values``. The app publishes each message at most once:
messages may come late, twice or not at all.

PrISM's IMU is acceleration *including gravity* (m/s^2, at rest face up about
``(0, 0, +9.81)``) and angular rate (rad/s), six channels at a uniform rate. This
module turns readings into that (pure functions on arrays, and one small stateful
reorder buffer):

- **Watch** (``wristmotion``; the push schema spells it ``"wrist motion"``):
  ``rotationRate*`` (rad/s), ``gravity*`` and ``acceleration*`` (user acceleration). In
  standard gravity units (the app's default: an Apple Watch's own frame, where the
  accelerometer reads ``(0, 0, -1) g`` at rest face up) or, with the app's "Standardise
  Units & Frames", in m/s^2 with Android's signs. :func:`wrist_imu` tells the two apart
  by the magnitude of gravity (about 1 against about 9.81) and converts: acceleration
  with gravity is ``-(gravity + acceleration) * g`` in the first case,
  ``gravity + acceleration`` in the second.
- **Phone** (``accelerometer``, ``gravity``, ``gyroscope``, ``totalacceleration``): in
  m/s^2 and rad/s. Acceleration with gravity is ``totalacceleration`` where the phone
  logs it (Android), else ``accelerometer + gravity`` (the app's accelerometer is user
  acceleration only).

Every other sensor is ignored. :class:`PushAssembler` takes messages in any order, drops
repeated ones and readings already passed, sorts the rest within a bounded window and
hands out uniform IMU chunks (:func:`~prism.data.openpack_imu.resample_imu`, linear
interpolation) with times in seconds from the first reading.
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from prism.data.openpack_imu import G_TO_MS2, resample_imu
from prism.data.recording import IMU_RATE_HZ, ImuSamples
from prism.errors import DataError

__all__ = [
    "MOTION_SENSORS",
    "PushAssembler",
    "PushMessage",
    "Reading",
    "imu_from_readings",
    "parse_push",
    "phone_imu",
    "sensor_name",
    "wrist_imu",
]

WRIST = "wristmotion"
MOTION_SENSORS = frozenset({WRIST, "accelerometer", "gravity", "gyroscope", "totalacceleration"})
"""The readings that make IMU samples (names as :func:`sensor_name` writes them)."""

_G_UNITS_BELOW = 3.0
"""A median gravity magnitude below this is in standard gravity units (about 1), not
m/s^2 (about 9.81)."""

_JOIN_NS = 200_000_000
"""Readings kept from before the last sample handed out (ns), so that the next chunk
interpolates across the boundary."""

_WRIST_FIELDS = (
    ("rotationRateX", "rotationRateY", "rotationRateZ"),
    ("gravityX", "gravityY", "gravityZ"),
    ("accelerationX", "accelerationY", "accelerationZ"),
)


class Reading(BaseModel):
    """One reading of a push message (other fields than these are ignored)."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    name: str = Field(min_length=1, max_length=100)
    time: int = Field(ge=0, description="UTC epoch, nanoseconds")
    values: dict[str, Any] = Field(default_factory=dict)


class PushMessage(BaseModel):
    """A Sensor Logger push message (HTTP Push and MQTT share it)."""

    model_config = ConfigDict(extra="ignore", frozen=True, populate_by_name=True)

    message_id: int = Field(alias="messageId", ge=0)
    session_id: str = Field(alias="sessionId", max_length=200)
    device_id: str = Field(alias="deviceId", max_length=200)
    payload: list[Reading] = Field(max_length=100_000)


def parse_push(data: Any) -> PushMessage:
    """Validate a decoded push message.

    Raises
    ------
    DataError
        Naming the first fields that are wrong (e.g. ``payload.3.time``).
    """
    try:
        return PushMessage.model_validate(data)
    except ValidationError as error:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e['loc']) or 'message'}: {e['msg']}"
            for e in error.errors()[:3]
        )
        raise DataError(f"not a Sensor Logger push message: {problems}") from None


def sensor_name(name: str) -> str:
    """A reading's sensor name compared without case, spaces or underscores.

    >>> sensor_name("Wrist Motion"), sensor_name("total_acceleration")
    ('wristmotion', 'totalacceleration')
    """
    return "".join(name.split()).replace("_", "").lower()


def _stream(readings: Iterable[Reading], fields: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
    """Times (ns, int64, sorted, unique) and values (n, len(fields)) of ``readings``;
    readings lacking a field or holding a non-number are left out."""
    rows = []
    for reading in readings:
        try:
            row = [float(reading.values[name]) for name in fields]
        except (KeyError, TypeError, ValueError):
            continue
        if all(np.isfinite(row)):
            rows.append((reading.time, row))
    rows.sort(key=lambda pair: pair[0])
    times = np.array([t for t, _ in rows], dtype=np.int64)
    values = np.array([v for _, v in rows], dtype=np.float64).reshape(len(rows), len(fields))
    keep = np.concatenate([[True], np.diff(times) > 0]) if len(rows) else np.ones(0, bool)
    return times[keep], values[keep]


def wrist_imu(rotation: np.ndarray, gravity: np.ndarray, acceleration: np.ndarray) -> np.ndarray:
    """IMU values of a watch's motion readings (see the module docstring for the units).

    Parameters
    ----------
    rotation : np.ndarray [shape=(n, 3)]
        Rotation rate (rad/s).
    gravity, acceleration : np.ndarray [shape=(n, 3)]
        Gravity and user acceleration, both in standard gravity (g) in the watch's own
        frame, or both in m/s^2 with Android's signs.

    Returns
    -------
    np.ndarray [shape=(n, 6), float32]
        Acceleration with gravity (m/s^2, about +9.81 up at rest), then angular rate.

    Examples
    --------
    >>> still = np.zeros((1, 3))
    >>> [round(float(v), 2) for v in wrist_imu(still, np.array([[0.0, 0.0, -1.0]]), still)[0, :3]]
    [-0.0, -0.0, 9.81]
    >>> [round(float(v), 2) for v in wrist_imu(still, np.array([[0.0, 0.0, 9.81]]), still)[0, :3]]
    [0.0, 0.0, 9.81]
    """
    if not (rotation.shape == gravity.shape == acceleration.shape and rotation.shape[1:] == (3,)):
        raise DataError(
            f"wrist motion needs three (n, 3) arrays, got {rotation.shape}, {gravity.shape}, "
            f"{acceleration.shape}"
        )
    total = gravity + acceleration
    if len(gravity) and np.median(np.linalg.norm(gravity, axis=1)) < _G_UNITS_BELOW:
        total = -total * G_TO_MS2
    return np.column_stack([total, rotation]).astype(np.float32)


def phone_imu(
    times: np.ndarray,
    streams: Mapping[str, tuple[np.ndarray, np.ndarray]],
) -> np.ndarray | None:
    """IMU values of a phone's motion readings at ``times`` (ns), or None when it lacks
    acceleration or rotation.

    ``streams`` maps ``accelerometer``, ``gravity``, ``gyroscope`` and
    ``totalacceleration`` to times (ns) and (n, 3) values; each is interpolated linearly
    onto ``times``.
    """

    def at(name: str) -> np.ndarray | None:
        found = streams.get(name)
        if found is None or len(found[0]) < 2:
            return None
        source, values = found
        return np.column_stack(
            [np.interp(times.astype(np.float64), source.astype(np.float64), c) for c in values.T]
        )

    total = at("totalacceleration")
    if total is None:
        user, gravity = at("accelerometer"), at("gravity")
        total = None if user is None or gravity is None else user + gravity
    rotation = at("gyroscope")
    if total is None or rotation is None:
        return None
    return np.column_stack([total, rotation]).astype(np.float32)


def imu_from_readings(readings: Iterable[Reading]) -> tuple[np.ndarray, np.ndarray] | None:
    """Epoch times (ns, int64, increasing) and IMU values (n, 6) of ``readings``: the
    watch's when there are any, else the phone's (None: neither has enough)."""
    by_name: dict[str, list[Reading]] = {}
    for reading in readings:
        name = sensor_name(reading.name)
        if name in MOTION_SENSORS:
            by_name.setdefault(name, []).append(reading)
    wrist = by_name.get(WRIST, [])
    if len(wrist) >= 2:
        fields = [name for group in _WRIST_FIELDS for name in group]
        times, values = _stream(wrist, fields)
        if len(times) >= 2:
            return times, wrist_imu(values[:, 0:3], values[:, 3:6], values[:, 6:9])
    streams = {
        name: _stream(found, ("x", "y", "z")) for name, found in by_name.items() if name != WRIST
    }
    timing = streams.get("gyroscope")
    if timing is None or len(timing[0]) < 2:
        return None
    phone = phone_imu(timing[0], streams)
    return None if phone is None else (timing[0], phone)


@dataclass
class PushAssembler:
    """Push messages of one Sensor Logger recording in, uniform IMU chunks out.

    Messages may arrive in any order, twice, or never. A repeated ``messageId`` (among
    the last ``remembered`` ones) is dropped; readings are held ``window_s`` seconds
    (of reading time) behind the newest one, sorted, and then handed out resampled at
    ``rate_hz``; a reading older than what was handed out already is dropped (counted in
    ``late``). A gap of more than ``max_gap_s`` without readings is not interpolated
    across: the next chunk starts after it.

    Parameters
    ----------
    rate_hz : float
        Rate of the chunks (Hz).
    window_s : float
        How long readings wait for late ones (s).
    max_gap_s : float
        Longest gap interpolated across (s).
    remembered : int
        How many message ids are kept to recognise repeats.

    Attributes
    ----------
    start_ns : int or None
        Epoch time of the first reading (ns): chunk times count from it.
    late, repeated : int
        Readings dropped for coming too late; messages dropped as repeats.
    """

    rate_hz: float = IMU_RATE_HZ
    window_s: float = 2.0
    max_gap_s: float = 1.0
    remembered: int = 4096
    start_ns: int | None = None
    late: int = 0
    repeated: int = 0
    _seen: set[int] = field(default_factory=set, repr=False)
    _order: deque[int] = field(default_factory=deque, repr=False)
    _held: list[Reading] = field(default_factory=list, repr=False)
    _done_ns: int | None = field(default=None, repr=False)
    """Reading time up to which chunks were handed out (ns)."""
    _next_index: int | None = field(default=None, repr=False)
    """Grid index of the next sample to hand out (its time: index / rate_hz s)."""

    def add(self, message: PushMessage) -> list[ImuSamples]:
        """Take a message; the chunks now complete (times in s from :attr:`start_ns`)."""
        if message.message_id in self._seen:
            self.repeated += 1
            return []
        self._seen.add(message.message_id)
        self._order.append(message.message_id)
        if len(self._order) > self.remembered:
            self._seen.discard(self._order.popleft())
        motion = [r for r in message.payload if sensor_name(r.name) in MOTION_SENSORS]
        for reading in motion:
            if self._done_ns is not None and reading.time <= self._done_ns:
                self.late += 1
            else:
                self._held.append(reading)
        if not self._held:
            return []
        newest = max(r.time for r in self._held)
        return self._release(newest - int(self.window_s * 1e9))

    def flush(self) -> list[ImuSamples]:
        """Hand out everything held (the recording is over)."""
        if not self._held:
            return []
        return self._release(max(r.time for r in self._held))

    def _release(self, until_ns: int) -> list[ImuSamples]:
        """Chunks of the held readings up to ``until_ns`` (the later ones stay held, with
        the last one before so that interpolation joins up)."""
        ready = [r for r in self._held if r.time <= until_ns]
        found = imu_from_readings(ready)
        if found is None:
            return []
        times_ns, values = found
        if self.start_ns is None:
            self.start_ns = int(times_ns[0])
        times = (times_ns - self.start_ns) / 1e9
        last = int(times_ns[-1])
        # keep what the next chunk interpolates from: the readings from shortly before
        # the last one handed out (every stream's), the later ones
        self._held = [r for r in self._held if r.time >= last - _JOIN_NS]
        self._done_ns = last - 1
        chunks = []
        gaps = np.flatnonzero(np.diff(times) > self.max_gap_s) + 1
        for part in np.split(np.arange(len(times)), gaps):
            piece = ImuSamples(times[part], values[part])
            # samples sit on one grid, k / rate_hz s from the first reading, however the
            # readings were split into messages and chunks
            first = math.ceil(float(piece.times[0]) * self.rate_hz - 1e-9)
            if self._next_index is not None:
                first = max(first, self._next_index)
            count = math.floor(float(piece.times[-1]) * self.rate_hz + 1e-9) - first + 1
            if count < 2:
                continue
            chunk = resample_imu(piece, self.rate_hz, start=first / self.rate_hz)
            grid = (first + np.arange(len(chunk.times))) / self.rate_hz
            self._next_index = first + len(grid)
            chunks.append(ImuSamples(grid, chunk.values))
        return chunks
