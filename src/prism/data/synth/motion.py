"""Wrist IMU for semi-synthetic sessions: real OpenPack segments or per-step motion models.

Two sources of motion, one interface (:func:`render_imu`):

- **OpenPack segments** (preferred): a :class:`MotionBank` holds the real right-wrist
  (``atr01``) IMU of every annotated operation, resampled to 50 Hz. Each procedure step
  gets a motion "style" (:func:`step_motions`): one OpenPack operation (steps of the
  ``openpack_packing`` procedure get their own operation), a deterministic subset of its
  segments, a small fixed rotation (10-30 deg) and a scale (0.8-1.25), so distinct steps
  mapped to the same operation still differ. A step is filled by playing randomly chosen
  segments of its pool (random start, played at the user's tempo) back to back with
  0.25 s cross-fades.
- **Parametric models** (when OpenPack is absent): per step, a gravity direction (tilted
  by about 15 deg at each occurrence), a slow orientation wobble, 2-3 periodic components
  with step-specific frequencies (0.3-3.5 Hz) and amplitudes, and random bursts; all drawn
  from a seed hashed from the task and step id
  (:func:`~prism.data.synth.seeding.stable_seed`, not Python's ``hash()``).

"Other" time (lead-in, gaps, tail) is idle motion: the user's rest orientation, a small
wobble and occasional random gestures. Per-user variation (:class:`UserProfile`): a
small rotation of the watch frame, a scale on the dynamic part of the signal, the tempo
and the sensor noise. Consecutive intervals are cross-faded over 0.3 s. Output: 50 Hz
with small timestamp jitter (sd 1 ms, at most 4 ms), acceleration in m/s^2 including
gravity, angular rate in rad/s.
"""

from __future__ import annotations

import math
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from prism.data.openpack import read_openpack_operations
from prism.data.openpack_imu import G_TO_MS2, load_openpack_imu, resample_imu
from prism.data.recording import IMU_RATE_HZ, ImuSamples
from prism.data.synth.profiles import UserProfile, rotation_matrix
from prism.data.synth.seeding import stable_seed
from prism.errors import DataError

__all__ = [
    "MotionBank",
    "StepMotion",
    "build_openpack_bank",
    "default_openpack_root",
    "render_imu",
    "step_motions",
]

_SEGMENT_FADE_S = 0.25
_INTERVAL_FADE_S = 0.3
_JITTER_SD_S = 0.001
_JITTER_MAX_S = 0.004


@dataclass(frozen=True, eq=False)
class MotionBank:
    """Real IMU segments per activity.

    Attributes
    ----------
    segments : mapping of str to tuple of np.ndarray
        Activity (e.g. OpenPack step id ``"assemble_box"``) -> segments, each
        ``(n_samples, 6)`` float32 at :attr:`rate_hz` (m/s^2, rad/s), at least 1 s long.
    rate_hz : float
        Sample rate of every segment (Hz).
    source : str
        ``"openpack"``.
    description : str
        Where the segments come from (recorded in the metadata of generated sessions).
    """

    segments: Mapping[str, tuple[np.ndarray, ...]]
    rate_hz: float = IMU_RATE_HZ
    source: str = "openpack"
    description: str = ""

    @property
    def activities(self) -> tuple[str, ...]:
        """Activities with at least one segment, sorted."""
        return tuple(sorted(a for a, segments in self.segments.items() if segments))


def default_openpack_root() -> Path | None:
    """``../shared/data/openpack`` next to the repository, if it holds data; else None."""
    root = Path(__file__).resolve().parents[5] / "shared" / "data" / "openpack"
    return root if root.is_dir() else None


def build_openpack_bank(
    root: Path | str,
    *,
    user: str | None = None,
    session: str | None = None,
    wrist: str = "atr01",
    boxes: Collection[int] | None = None,
    rate_hz: float = IMU_RATE_HZ,
    min_duration_s: float = 1.0,
) -> MotionBank:
    """Cut every annotated OpenPack operation out of the wrist IMU.

    Parameters
    ----------
    root : Path or str
        OpenPack directory (see :mod:`prism.data.openpack_imu`).
    user, session : str or None
        Restrict to one user / session.
    wrist : {"atr01", "atr02"}
        Wrist sensor (default the right wrist).
    boxes : collection of int or None
        Only these box numbers (e.g. to keep test boxes out of training material).
    rate_hz : float
        Resample to this rate (Hz).
    min_duration_s : float
        Shorter operation segments are left out (s).

    Raises
    ------
    DataError
        If the data cannot be read or no segment is left.
    """
    operations = read_openpack_operations(root, user=user, session=session)
    streams: dict[tuple[str, str], ImuSamples] = {}
    cut: dict[str, list[np.ndarray]] = {}
    for annotation in operations.sessions:
        head, box = annotation.session_id.rsplit("-box", 1)
        if boxes is not None and int(box) not in set(boxes):
            continue
        user_id, session_id = head.split("-", 1)
        if (user_id, session_id) not in streams:
            streams[(user_id, session_id)] = load_openpack_imu(root, user_id, session_id, wrist)
        stream = streams[(user_id, session_id)]
        origin = operations.box_starts[annotation.session_id].timestamp()
        for segment in annotation.segments:
            # Cut at the native rate first so that no sample blends in the next operation.
            first = int(np.searchsorted(stream.times, origin + segment.start))
            last = int(np.searchsorted(stream.times, origin + segment.end))
            if last - first < 2:
                continue
            native = ImuSamples(stream.times[first:last], stream.values[first:last])
            if native.times[-1] - native.times[0] < min_duration_s - 1e-6:
                continue
            cut.setdefault(segment.step, []).append(resample_imu(native, rate_hz).values)
    if not cut:
        raise DataError(f"{root}: no OpenPack operation segment of at least {min_duration_s} s")
    names = ", ".join(f"{u}/{s}" for u, s in sorted(streams))
    return MotionBank(
        segments={activity: tuple(parts) for activity, parts in sorted(cut.items())},
        rate_hz=rate_hz,
        source="openpack",
        description=f"OpenPack {names}, {wrist}, {sum(map(len, cut.values()))} operation segments",
    )


@dataclass(frozen=True)
class StepMotion:
    """The motion style of one procedure step (fixed for a task, independent of the seed).

    Attributes
    ----------
    step : str
        Step id.
    activity : str or None
        Bank activity the step plays, or None for the parametric model.
    rotation : tuple of 3 floats
        Rotation vector (rad) applied to the step's signals.
    scale : float
        Factor on the dynamic part of the signals.
    pool : tuple of int
        Indices of the bank segments the step draws from.
    seed : int
        Seed of the parametric model.
    """

    step: str
    activity: str | None
    rotation: tuple[float, float, float]
    scale: float
    pool: tuple[int, ...]
    seed: int


def step_motions(
    task: str, step_ids: Sequence[str], bank: MotionBank | None = None
) -> dict[str, StepMotion]:
    """Assign each step a motion style, deterministically from the task and step ids.

    With a bank, steps whose id is a bank activity play it unchanged; the others, taken in
    the order of their hashes, are dealt the bank's activities round robin (so 19 latte
    steps use each of the 10 OpenPack operations about twice) and get a random pool (half
    the segments, at least 3), rotation and scale from their hash. Without a bank, every
    step has its own parametric model.

    >>> a = step_motions("latte_making", ["grind_beans", "steam_milk"])
    >>> a == step_motions("latte_making", ["grind_beans", "steam_milk"])
    True
    """
    seeds = {step: stable_seed(task, step, "motion") for step in step_ids}
    activities = bank.activities if bank is not None else ()
    offset = stable_seed(task, "motion") % len(activities) if activities else 0
    styles: dict[str, StepMotion] = {}
    unmatched = [
        s for s in sorted(step_ids, key=lambda s: seeds[s]) if bank is None or s not in activities
    ]
    for rank, step in enumerate(unmatched):
        draw = np.random.default_rng(seeds[step])
        if bank is None:
            styles[step] = StepMotion(step, None, (0.0, 0.0, 0.0), 1.0, (), seeds[step])
            continue
        activity = activities[(rank + offset) % len(activities)]
        count = len(bank.segments[activity])
        size = min(count, max(3, math.ceil(count / 2)))
        pool = tuple(sorted(int(i) for i in draw.permutation(count)[:size]))
        axis = draw.standard_normal(3)
        vector = axis / np.linalg.norm(axis) * draw.uniform(math.radians(10), math.radians(30))
        styles[step] = StepMotion(
            step,
            activity,
            (float(vector[0]), float(vector[1]), float(vector[2])),
            float(draw.uniform(0.8, 1.25)),
            pool,
            seeds[step],
        )
    if bank is not None:
        for step in step_ids:
            if step in activities:
                pool = tuple(range(len(bank.segments[step])))
                styles[step] = StepMotion(step, step, (0.0, 0.0, 0.0), 1.0, pool, seeds[step])
    return {step: styles[step] for step in step_ids}


# ---------------------------------------------------------------- rendering helpers


def _overlap_add(n: int, pieces: Sequence[tuple[int, np.ndarray]], ramp: int) -> np.ndarray:
    """Place ``(start, values)`` pieces in ``n`` rows, cross-fading overlaps linearly.

    Each piece is weighted by a trapezoid (linear ramps of ``ramp`` samples at both ends)
    and the sum is divided by the summed weights, so two pieces overlapping by ``ramp``
    samples cross-fade and a lone piece is copied unchanged. Rows must all be covered.
    """
    out = np.zeros((n, 6))
    weights = np.zeros(n)
    for start, values in pieces:
        length = values.shape[0]
        window = np.ones(length)
        edge = min(ramp, length // 2)
        if edge > 0:
            up = (np.arange(edge) + 1.0) / (edge + 1.0)
            window[:edge] = up
            window[length - edge :] = up[::-1]
        out[start : start + length] += window[:, None] * values
        weights[start : start + length] += window
    return np.asarray(out / weights[:, None])


def _stretch(segment: np.ndarray, offset: float, tempo: float, length: int) -> np.ndarray:
    """Play ``segment`` from sample ``offset`` at ``tempo`` for up to ``length`` samples."""
    count = min(length, int((segment.shape[0] - 1 - offset) / tempo) + 1)
    positions = offset + tempo * np.arange(max(count, 2))
    positions = np.minimum(positions, segment.shape[0] - 1)
    index = np.arange(segment.shape[0])
    return np.column_stack([np.interp(positions, index, column) for column in segment.T])


def _from_bank(
    segments: Sequence[np.ndarray],
    pool: Sequence[int],
    length: int,
    *,
    rate: float,
    tempo: float,
    rng: np.random.Generator,
) -> np.ndarray:
    """Fill ``length`` samples with randomly chosen pool segments, cross-faded."""
    ramp = max(int(_SEGMENT_FADE_S * rate), 1)
    pieces: list[tuple[int, np.ndarray]] = []
    position = 0
    while position < length:
        segment = segments[pool[int(rng.integers(len(pool)))]]
        offset = rng.uniform(0.0, 0.3 * (segment.shape[0] - 1))
        chunk = _stretch(segment, offset, tempo, length - position + ramp)
        pieces.append((position, chunk[: length - position]))
        position += max(chunk.shape[0] - ramp, 1)
    return _overlap_add(length, pieces, ramp)


def _rotate_about(vector: np.ndarray, axis: np.ndarray, angles: np.ndarray) -> np.ndarray:
    """Rotate a fixed 3-vector by per-sample ``angles`` about a unit ``axis`` (Rodrigues).

    Returns shape ``(len(angles), 3)``.
    """
    cos, sin = np.cos(angles)[:, None], np.sin(angles)[:, None]
    along = float(vector @ axis) * axis
    return np.asarray(vector * cos + np.cross(axis, vector) * sin + (1.0 - cos) * along)


def _bumps(
    n: int, rate: float, per_s: float, acc: float, gyro: float, rng: np.random.Generator
) -> np.ndarray:
    """Random gestures: Gaussian bumps (sd 0.25 s) in random directions."""
    out = np.zeros((n, 6))
    count = rng.poisson(per_s * n / rate)
    if count == 0:
        return out
    t = np.arange(n) / rate
    for centre in rng.uniform(0.0, n / rate, count):
        shape = np.exp(-0.5 * ((t - centre) / 0.25) ** 2)
        direction = rng.standard_normal(6)
        direction[:3] *= acc / max(float(np.linalg.norm(direction[:3])), 1e-9)
        direction[3:] *= gyro / max(float(np.linalg.norm(direction[3:])), 1e-9)
        out += shape[:, None] * direction
    return out


def _parametric(
    style: StepMotion, length: int, rate: float, tempo: float, rng: np.random.Generator
) -> np.ndarray:
    model = np.random.default_rng(style.seed)  # the step's fixed character
    gravity = model.standard_normal(3) + np.array([0.0, -0.3, 0.6])
    gravity /= np.linalg.norm(gravity)
    n_parts = int(model.integers(2, 4))
    freqs = model.uniform(0.3, 3.5, n_parts) * tempo
    acc_amp = model.standard_normal((n_parts, 3))
    acc_amp *= (model.uniform(0.3, 2.5, n_parts) / np.linalg.norm(acc_amp, axis=1))[:, None]
    gyro_amp = model.standard_normal((n_parts, 3))
    gyro_amp *= (model.uniform(0.2, 2.0, n_parts) / np.linalg.norm(gyro_amp, axis=1))[:, None]
    wobble_axis = model.standard_normal(3)
    wobble_axis /= np.linalg.norm(wobble_axis)
    wobble_amp, wobble_freq = model.uniform(0.05, 0.4), model.uniform(0.1, 0.6) * tempo
    burst_rate = model.uniform(0.1, 0.5)
    # This occurrence holds the wrist a little differently (sd 15 deg).
    tilt = rng.standard_normal(3)
    gravity = rotation_matrix(tilt, float(rng.normal(0.0, math.radians(15.0)))) @ gravity
    t = np.arange(length) / rate
    phase = rng.uniform(0.0, 2.0 * np.pi)
    angle = wobble_amp * np.sin(2.0 * np.pi * wobble_freq * t + phase)
    rate_of_angle = (
        wobble_amp * 2.0 * np.pi * wobble_freq * np.cos(2.0 * np.pi * wobble_freq * t + phase)
    )
    out = np.zeros((length, 6))
    out[:, :3] = G_TO_MS2 * _rotate_about(gravity, wobble_axis, angle)
    out[:, 3:] = rate_of_angle[:, None] * wobble_axis
    envelope = (
        0.6 + 0.4 * np.sin(2.0 * np.pi * rng.uniform(0.05, 0.2) * t + rng.uniform(0, 6.3)) ** 2
    )
    for k in range(n_parts):
        arg = 2.0 * np.pi * freqs[k] * t + rng.uniform(0.0, 2.0 * np.pi)
        out[:, :3] += envelope[:, None] * np.sin(arg)[:, None] * acc_amp[k]
        out[:, 3:] += envelope[:, None] * np.cos(arg)[:, None] * gyro_amp[k]
    return np.asarray(out + _bumps(length, rate, burst_rate, 1.5, 1.0, rng))


def _idle(profile: UserProfile, length: int, rate: float, rng: np.random.Generator) -> np.ndarray:
    gravity = np.asarray(profile.rest_gravity, dtype=np.float64)
    axis = rng.standard_normal(3)
    axis /= np.linalg.norm(axis)
    t = np.arange(length) / rate
    freq, phase = rng.uniform(0.05, 0.2), rng.uniform(0.0, 2.0 * np.pi)
    angle = 0.05 * np.sin(2.0 * np.pi * freq * t + phase)
    out = np.zeros((length, 6))
    out[:, :3] = G_TO_MS2 * _rotate_about(gravity, axis, angle)
    out[:, 3:] = (0.05 * 2.0 * np.pi * freq * np.cos(2.0 * np.pi * freq * t + phase))[
        :, None
    ] * axis
    return np.asarray(out + _bumps(length, rate, 0.15, 2.0, 1.5, rng))


def _gravity_estimate(acc: np.ndarray, width: int) -> np.ndarray:
    """Centred moving average of acceleration (the slowly changing gravity part)."""
    padded = np.concatenate([np.repeat(acc[:1], width // 2, 0), acc, np.repeat(acc[-1:], width, 0)])
    sums = np.cumsum(np.concatenate([np.zeros((1, 3)), padded]), axis=0)
    return np.asarray((sums[width : width + acc.shape[0]] - sums[: acc.shape[0]]) / width)


def _transform(values: np.ndarray, rotation: np.ndarray, scale: float, rate: float) -> np.ndarray:
    """Scale the dynamic part of acc and the gyro by ``scale``, then rotate both."""
    gravity = _gravity_estimate(values[:, :3], max(int(rate), 1))
    acc = gravity + scale * (values[:, :3] - gravity)
    gyro = scale * values[:, 3:]
    return np.column_stack([acc @ rotation.T, gyro @ rotation.T])


def render_imu(
    intervals: Sequence[tuple[str | None, float, float]],
    duration: float,
    *,
    styles: Mapping[str, StepMotion],
    profile: UserProfile,
    rng: np.random.Generator,
    bank: MotionBank | None = None,
    rate_hz: float = IMU_RATE_HZ,
) -> ImuSamples:
    """Render wrist IMU for a timeline of steps and "other" time.

    Parameters
    ----------
    intervals : sequence of (str or None, float, float)
        ``(step id or None for "other", start, end)`` in seconds, in time order, covering
        ``[0, duration]`` without overlap.
    duration : float
        Session length (s, > 0).
    styles : mapping of str to StepMotion
        From :func:`step_motions`; must hold every step of ``intervals``.
    profile : UserProfile
        The user (rotation, scale, tempo, noise, rest orientation).
    rng : np.random.Generator
        Source of randomness for this session.
    bank : MotionBank or None
        Needed by styles with an ``activity``; must have ``rate_hz``.
    rate_hz : float
        Output rate (Hz).

    Returns
    -------
    ImuSamples
        ``floor(duration * rate_hz) + 1`` samples; times ``i / rate_hz`` plus jitter,
        rounded to 0.1 ms, within ``[0, duration]``.
    """
    if not (math.isfinite(duration) and duration > 0):
        raise DataError(f"duration must be a finite number > 0 s, got {duration}")
    if bank is not None and abs(bank.rate_hz - rate_hz) > 1e-9:
        raise DataError(f"the motion bank is at {bank.rate_hz} Hz, expected {rate_hz} Hz")
    n = math.floor(duration * rate_hz + 1e-9) + 1
    half = max(int(_INTERVAL_FADE_S * rate_hz / 2), 1)
    user_rotation = profile.rotation
    pieces: list[tuple[int, np.ndarray]] = []
    for step, start, end in intervals:
        first = max(round(start * rate_hz) - half, 0)
        stop = min(round(end * rate_hz) + half, n)
        if stop - first < 2:
            continue
        length = stop - first
        if step is None:
            values = _idle(profile, length, rate_hz, rng)
            rotation, scale = user_rotation, profile.imu_scale
        else:
            style = styles[step]
            if style.activity is None:
                values = _parametric(style, length, rate_hz, profile.tempo, rng)
            elif bank is None:
                raise DataError(
                    f"step {step!r} plays OpenPack activity {style.activity!r}; pass its bank"
                )
            else:
                values = _from_bank(
                    bank.segments[style.activity],
                    style.pool,
                    length,
                    rate=rate_hz,
                    tempo=profile.tempo,
                    rng=rng,
                )
            vector = np.asarray(style.rotation)
            rotation = user_rotation @ rotation_matrix(vector, float(np.linalg.norm(vector)))
            scale = profile.imu_scale * style.scale
        pieces.append((first, _transform(values, rotation, scale, rate_hz)))
    if not pieces:
        pieces.append((0, _transform(_idle(profile, n, rate_hz, rng), user_rotation, 1.0, rate_hz)))
    values = _overlap_add(n, pieces, 2 * half)
    values[:, :3] += rng.normal(0.0, profile.imu_noise_acc, (n, 3))
    values[:, 3:] += rng.normal(0.0, profile.imu_noise_gyro, (n, 3))
    jitter = np.clip(rng.normal(0.0, _JITTER_SD_S, n), -_JITTER_MAX_S, _JITTER_MAX_S)
    times = np.round(np.clip(np.arange(n) / rate_hz + jitter, 0.0, duration), 4)
    return ImuSamples(times=times, values=values.astype(np.float32))
