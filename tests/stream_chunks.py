"""Helpers shared by the streaming tests: chunk boundaries, raw IMU, hypothesis settings."""

from __future__ import annotations

import numpy as np
from hypothesis import HealthCheck, settings

FEW = settings(max_examples=6, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def chunks(total: int, sizes: list[int]) -> list[slice]:
    """Cut ``range(total)`` into consecutive slices of the given sizes (cycled)."""
    out, start, i = [], 0, 0
    while start < total:
        stop = min(total, start + sizes[i % len(sizes)])
        out.append(slice(start, stop))
        start, i = stop, i + 1
    return out


def raw_imu(rng: np.random.Generator, seconds: float) -> tuple[np.ndarray, np.ndarray]:
    """~47 Hz jittered IMU rows with a few NaN values (not cleaned)."""
    times = np.arange(0.0, seconds, 0.021) + rng.uniform(
        0.0, 0.004, size=int(np.ceil(seconds / 0.021))
    )
    times = times[times <= seconds]
    values = rng.normal(size=(times.size, 6))
    values[:, 2] += 9.81
    values[30:40, 1] = np.nan
    values[77, :] = np.nan
    return times, values
