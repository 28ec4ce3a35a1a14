"""How signals are cut into frames: one frame every 0.2 s, windows centred on it.

Frame ``t`` stands for time ``t / FRAME_RATE_HZ`` seconds. Its audio window spans
``AUDIO_WINDOW_S`` and its IMU window ``IMU_WINDOW_S``, both centred on that time, so a
streaming classifier can emit frame ``t`` once it holds the signals up to
``t / FRAME_RATE_HZ + max(window) / 2`` (1 s of latency). Samples outside the session
count as silence (audio) or repeat the nearest sample (IMU).
"""

from __future__ import annotations

import numpy as np

__all__ = [
    "AUDIO_WINDOW_S",
    "FRAME_RATE_HZ",
    "IMU_RESAMPLE_HZ",
    "IMU_WINDOW_S",
    "frame_count",
    "frame_times",
]

FRAME_RATE_HZ = 5.0
"""Frames per second."""
AUDIO_WINDOW_S = 1.0
"""Audio window length (seconds)."""
IMU_WINDOW_S = 2.0
"""IMU window length (seconds)."""
IMU_RESAMPLE_HZ = 50.0
"""IMU windows are resampled to this rate (Hz): 100 samples per 2 s window."""


def frame_count(duration_s: float, *, frame_rate: float = FRAME_RATE_HZ) -> int:
    """Frames covering ``duration_s`` seconds: ``ceil(duration_s * frame_rate)``.

    >>> frame_count(1.0), frame_count(1.01)
    (5, 6)
    """
    return int(np.ceil(duration_s * frame_rate - 1e-9))


def frame_times(n_frames: int, *, frame_rate: float = FRAME_RATE_HZ) -> np.ndarray:
    """Centre time of each frame in seconds, shape ``(n_frames,)``.

    >>> frame_times(3).tolist()
    [0.0, 0.2, 0.4]
    """
    return np.arange(n_frames, dtype=np.float64) / frame_rate
