"""Per-user variation of semi-synthetic sessions: how fast, how loud, how the watch sits."""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from prism.data.synth.seeding import SeedLike, as_generator

__all__ = ["UserProfile", "make_user_profile", "rotation_matrix"]


def rotation_matrix(axis: np.ndarray, angle: float) -> np.ndarray:
    """Rotation by ``angle`` radians about ``axis`` (Rodrigues' formula), shape ``(3, 3)``.

    >>> np.round(rotation_matrix(np.array([0.0, 0.0, 1.0]), np.pi / 2) @ [1.0, 0.0, 0.0], 6)
    array([0., 1., 0.])
    """
    axis = np.asarray(axis, dtype=np.float64)
    norm = float(np.linalg.norm(axis))
    if norm == 0:
        return np.eye(3)
    x, y, z = axis / norm
    cross = np.array([[0.0, -z, y], [z, 0.0, -x], [-y, x, 0.0]])
    return np.asarray(np.eye(3) + math.sin(angle) * cross + (1.0 - math.cos(angle)) * cross @ cross)


@dataclass(frozen=True)
class UserProfile:
    """How one (simulated) user differs from the others; reused across their sessions.

    Parameters
    ----------
    user_id : str
        E.g. ``"u0"``.
    duration_scale : float
        Factor on step and gap durations sampled from the procedure (slow users > 1).
    tempo : float
        Factor on the rate of motion (IMU segments are played faster) and of sound events.
    audio_gain_db : float
        Loudness of the user's activity sounds (microphone distance, force), dB.
    timbre : float
        Factor on the filter cut-offs and resonances of every texture (different kitchen).
    imu_rotation : tuple of 3 floats
        Rotation vector (axis * angle, rad) from the nominal watch frame to this user's.
    imu_scale : float
        Factor on the dynamic part of acceleration and on angular rate.
    imu_noise_acc, imu_noise_gyro : float
        Standard deviation of white sensor noise (m/s^2, rad/s).
    rest_gravity : tuple of 3 floats
        Unit gravity direction in the watch frame while idle.
    """

    user_id: str
    duration_scale: float = 1.0
    tempo: float = 1.0
    audio_gain_db: float = 0.0
    timbre: float = 1.0
    imu_rotation: tuple[float, float, float] = (0.0, 0.0, 0.0)
    imu_scale: float = 1.0
    imu_noise_acc: float = 0.05
    imu_noise_gyro: float = 0.01
    rest_gravity: tuple[float, float, float] = (0.0, -0.6, 0.8)

    @property
    def rotation(self) -> np.ndarray:
        """:attr:`imu_rotation` as a ``(3, 3)`` matrix."""
        vector = np.asarray(self.imu_rotation, dtype=np.float64)
        return rotation_matrix(vector, float(np.linalg.norm(vector)))

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-ready dict (for recording metadata)."""
        return {
            key: list(value) if isinstance(value, tuple) else value
            for key, value in asdict(self).items()
        }


def make_user_profile(user_id: str, seed: SeedLike) -> UserProfile:
    """Draw a user profile.

    Ranges: ``duration_scale`` 0.85-1.2, ``tempo`` 0.85-1.15, ``audio_gain_db`` -6..+6,
    ``timbre`` 0.8-1.2 (+-20 %), watch rotation angle ~ N(0, 10 deg) about a random axis,
    ``imu_scale`` 0.8-1.25, noise 0.03-0.12 m/s^2 and 0.005-0.03 rad/s, rest gravity
    within about 35 deg of ``(0, -0.6, 0.8)`` (forearm on the counter, palm down).

    >>> make_user_profile("u1", 3) == make_user_profile("u1", 3)
    True
    """
    rng = as_generator(seed)
    axis = rng.standard_normal(3)
    axis /= np.linalg.norm(axis)
    angle = float(rng.normal(0.0, math.radians(10.0)))
    rest = np.array([0.0, -0.6, 0.8]) + rng.normal(0.0, 0.35, 3)
    rest /= np.linalg.norm(rest)

    def r(value: float) -> float:
        return round(float(value), 6)

    return UserProfile(
        user_id=user_id,
        duration_scale=r(rng.uniform(0.85, 1.2)),
        tempo=r(rng.uniform(0.85, 1.15)),
        audio_gain_db=r(rng.uniform(-6.0, 6.0)),
        timbre=r(rng.uniform(0.8, 1.2)),
        imu_rotation=(r(axis[0] * angle), r(axis[1] * angle), r(axis[2] * angle)),
        imu_scale=r(rng.uniform(0.8, 1.25)),
        imu_noise_acc=r(rng.uniform(0.03, 0.12)),
        imu_noise_gyro=r(rng.uniform(0.005, 0.03)),
        rest_gravity=(r(rest[0]), r(rest[1]), r(rest[2])),
    )
