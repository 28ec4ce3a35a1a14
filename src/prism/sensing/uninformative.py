"""Frames without recognition: a session of a task that has no trained model yet.

:class:`UninformativeStream` takes the watch's sensor frames as a
:class:`~prism.sensing.streaming.StreamingClassifier` does, but classifies nothing: for
every 0.2 s frame the stream covers it gives the same probability to every class (each
step and "other"). To the tracker such a frame is uninformative (its tempered
log-likelihood is the same for every state), so the state moves only by the procedure's
transitions and step durations and by what the user says or taps: guided mode. The
sensor frames keep the session's clock; nothing of their samples is kept.
"""

from __future__ import annotations

import math

import numpy as np

from prism.errors import SensingError
from prism.sensing.framing import FRAME_RATE_HZ

__all__ = ["UninformativeStream", "uninformative_frames"]


def uninformative_frames(n_frames: int, n_classes: int) -> np.ndarray:
    """``n_frames`` rows that favour no class.

    Returns
    -------
    np.ndarray [shape=(n_frames, n_classes), float64, every entry 1 / n_classes]
    """
    if n_frames < 0 or n_classes < 1:
        raise SensingError(f"need n_frames >= 0 and n_classes >= 1, got {n_frames}, {n_classes}")
    return np.full((n_frames, n_classes), 1.0 / n_classes)


class UninformativeStream:
    """The session's clock from its sensor frames, and uninformative frames for it.

    Parameters
    ----------
    n_classes : int
        ``S + 1``: the procedure's steps and "other".
    audio_rate : int
        Sample rate (Hz) of the audio chunks (they follow each other from time 0).

    Examples
    --------
    >>> stream = UninformativeStream(3)
    >>> stream.push_audio(np.zeros(8000, np.float32))  # 0.5 s
    >>> stream.pop_frames().shape
    (2, 3)
    """

    def __init__(self, n_classes: int, *, audio_rate: int = 16_000) -> None:
        self.n_classes = n_classes
        self.audio_rate = audio_rate
        self._audio_samples = 0
        self._imu_end_s = 0.0
        self._emitted = 0
        self._finished = False

    def model_parts(self) -> dict[str, object]:
        """Nothing is shared with a model (a checkpoint holds the whole stream)."""
        return {}

    @property
    def n_emitted(self) -> int:
        """Frames returned so far."""
        return self._emitted

    @property
    def covered_s(self) -> float:
        """Session time the sensor frames reach (s): the later of the IMU's newest
        sample (plus one 50 Hz period) and the end of the audio received."""
        return max(self._imu_end_s, self._audio_samples / self.audio_rate)

    def push_imu(self, times: np.ndarray, values: np.ndarray) -> None:
        """Take IMU rows (``times (n,)`` s from the session start; the values are not used)."""
        del values  # only the time they reach matters
        times = np.asarray(times, dtype=float)
        if times.size:
            newest = float(np.max(times))
            if math.isfinite(newest):
                self._imu_end_s = max(self._imu_end_s, newest + 1.0 / 50.0)

    def push_audio(self, samples: np.ndarray) -> None:
        """Take audio samples following the previous chunk (only their count is used)."""
        self._audio_samples += len(samples)

    def pop_frames(self) -> np.ndarray:
        """One uninformative row per newly covered frame.

        Returns
        -------
        np.ndarray [shape=(k, S + 1)]
        """
        due = math.floor(self.covered_s * FRAME_RATE_HZ + 1e-9)
        return self._take(due)

    def finish(self, *, duration_s: float | None = None) -> np.ndarray:
        """End the session: the frames up to ``duration_s`` (default: what the sensor
        frames covered), the last partial frame included."""
        if self._finished:
            raise SensingError("finish() was already called")
        self._finished = True
        duration = self.covered_s if duration_s is None else duration_s
        return self._take(math.ceil(duration * FRAME_RATE_HZ - 1e-9))

    def _take(self, due: int) -> np.ndarray:
        k = max(0, due - self._emitted)
        self._emitted += k
        return uninformative_frames(k, self.n_classes)
