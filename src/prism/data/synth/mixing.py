"""Adding noise to a signal at an exact signal-to-noise ratio, and measuring the SNR.

One function mixes (:func:`mix_at_snr`) and one measures (:func:`measure_snr_db`), each
with the two SNR definitions the project uses, chosen with ``over``:

``"whole"`` (default)
    Power over every sample: ``10 log10(P_signal / P_noise)``. The semi-synthetic
    sessions mix their activity sounds with the room background this way
    (:func:`~prism.data.synth.generator.render_audio`): the sounds fill the session.
``"active"``
    Power over the signal's *active* part only (:func:`active_mask`: 20 ms frames
    within 40 dB of the loudest frame), for speech and noise alike, so that silence
    around a spoken question does not dilute the SNR. The spoken-question evaluation
    (:mod:`prism.evaluation.asr`) and the speech adapter's training clips
    (:mod:`prism.speech.adaptation`) mix kitchen noise
    (:mod:`~prism.data.synth.kitchen`) this way.

Powers are mean squares in float64; the result keeps the inputs' floating-point type.

Examples
--------
>>> s, n = np.ones(4), np.array([1.0, -1.0, 1.0, -1.0])
>>> mix, scaled = mix_at_snr(s, n, 20.0)
>>> round(measure_snr_db(s, scaled), 6)
20.0
>>> speech = np.concatenate([np.zeros(320), np.ones(320)])  # 20 ms silence, 20 ms speech
>>> noise = np.ones(640)
>>> mix, scaled = mix_at_snr(speech, noise, 0.0, over="active")
>>> round(measure_snr_db(speech, scaled, over="active"), 6)
0.0
>>> round(measure_snr_db(speech, scaled), 3)  # the silent half counts in the whole signal
-3.01
"""

from __future__ import annotations

import math
from typing import Literal

import numpy as np

from prism.data.synth.audio_textures import rms
from prism.errors import DataError

__all__ = ["ACTIVE_FLOOR_DB", "SnrOver", "active_mask", "measure_snr_db", "mix_at_snr"]

SnrOver = Literal["whole", "active"]
"""Which samples an SNR is measured over: all of them, or the signal's active part."""

ACTIVE_FLOOR_DB = 40.0
"""A frame is active when its power is within this many dB of the loudest frame's."""

_RATE = 16_000
_ACTIVE_FRAME_S = 0.02


def mix_at_snr(
    signal: np.ndarray,
    noise: np.ndarray,
    snr_db: float,
    *,
    over: SnrOver = "whole",
    rate: int = _RATE,
) -> tuple[np.ndarray, np.ndarray]:
    """Scale ``noise`` so that the SNR of ``signal`` over it is ``snr_db``, and add it.

    Parameters
    ----------
    signal : np.ndarray [shape=(n_samples,), floating, finite]
        Activity sounds or speech; not silent (over its active part for ``"active"``).
    noise : np.ndarray [shape=(n_samples,), floating, finite]
        Background or kitchen noise, the same length; not silent where the SNR is
        measured.
    snr_db : float
        Wanted signal-to-noise ratio (dB, finite).
    over : {"whole", "active"}
        Which samples the SNR is measured over (see the module docstring).
    rate : int
        Sample rate (Hz) of both; sets the 20 ms frames of ``"active"``.

    Returns
    -------
    mixture, scaled_noise : np.ndarray [shape=(n_samples,)]
        ``signal + scaled_noise`` and the scaled noise (computed in float64, returned in
        the inputs' common floating type: float32 for float32 audio). Not clipped, so
        peaks can exceed 1 at low SNR.

    Raises
    ------
    DataError
        On arrays that are not 1-D finite floats of the same length, a non-finite SNR,
        an unknown ``over``, a silent signal (``"active"``) or silent noise.
    """
    s, v = _pair(signal, noise)
    if isinstance(snr_db, bool) or not (isinstance(snr_db, int | float) and math.isfinite(snr_db)):
        raise DataError(f"snr_db must be finite, got {snr_db!r}")
    s64, v64 = s.astype(np.float64), v.astype(np.float64)
    part = _part(s64, over, rate)
    if not part.any():
        raise DataError("signal is silent: it has no active part to mix noise against")
    signal_power, noise_power = _power(s64, part), _power(v64, part)
    if noise_power == 0:
        where = " over the signal's active part" if over == "active" else ""
        raise DataError(f"the noise is silent{where}; cannot mix at an SNR")
    scale = math.sqrt(signal_power / (noise_power * 10.0 ** (snr_db / 10.0)))
    scaled = v64 * scale
    dtype = np.result_type(s.dtype, v.dtype)
    return (s64 + scaled).astype(dtype), scaled.astype(dtype)


def measure_snr_db(
    signal: np.ndarray, noise: np.ndarray, *, over: SnrOver = "whole", rate: int = _RATE
) -> float:
    """SNR of ``signal`` over ``noise`` (dB), measured as :func:`mix_at_snr` sets it.

    Parameters
    ----------
    signal, noise : np.ndarray [shape=(n_samples,), floating, finite]
        The clean signal and the noise added to it (same length).
    over : {"whole", "active"}
        Which samples the powers are taken over.
    rate : int
        Sample rate (Hz).

    Returns
    -------
    float
        ``10 log10(P_signal / P_noise)``; inf for silent noise, -inf for a silent
        signal (``"whole"``).

    Raises
    ------
    DataError
        On invalid arrays, an unknown ``over``, or a signal with no active part
        (``"active"``).
    """
    s, v = _pair(signal, noise)
    s64, v64 = s.astype(np.float64), v.astype(np.float64)
    part = _part(s64, over, rate)
    if over == "active" and not part.any():
        raise DataError("signal is silent: it has no active part to measure an SNR on")
    noise_power = _power(v64, part)
    if noise_power == 0:
        return math.inf
    signal_power = _power(s64, part)
    return -math.inf if signal_power == 0 else 10.0 * math.log10(signal_power / noise_power)


def active_mask(
    signal: np.ndarray, *, floor_db: float = ACTIVE_FLOOR_DB, rate: int = _RATE
) -> np.ndarray:
    """Which samples belong to the active part of a signal (e.g. speech).

    A sample is active when its 20 ms frame's mean power is within ``floor_db`` of the
    loudest frame's (and above zero).

    Parameters
    ----------
    signal : np.ndarray [shape=(n_samples,), floating, finite]
    floor_db : float
        How far below the loudest frame a frame still counts (dB, > 0).
    rate : int
        Sample rate (Hz).

    Returns
    -------
    np.ndarray [shape=(n_samples,), bool]
        All False for a silent signal.

    Raises
    ------
    DataError
        On an invalid array or ``floor_db``.

    Examples
    --------
    >>> x = np.concatenate([np.zeros(320), np.ones(320)])
    >>> active_mask(x).sum()
    np.int64(320)
    """
    s = _check(signal, "signal")
    if not (math.isfinite(floor_db) and floor_db > 0):
        raise DataError(f"floor_db must be a finite number > 0 (dB), got {floor_db}")
    return _active(s.astype(np.float64), floor_db, rate)


# ---------------------------------------------------------------- private helpers


def _check(x: object, name: str) -> np.ndarray:
    """``x`` as a 1-D finite floating array, or a :class:`DataError` naming it."""
    if not isinstance(x, np.ndarray):
        raise DataError(f"{name} must be a numpy array, got {type(x).__name__}")
    if x.ndim != 1:
        raise DataError(f"{name} must be mono, shape (n_samples,), got shape {x.shape}")
    if not np.issubdtype(x.dtype, np.floating):
        raise DataError(f"{name} must hold floating-point samples, got dtype {x.dtype}")
    if x.size == 0:
        raise DataError(f"{name} is empty: expected at least one sample")
    if not np.isfinite(x).all():
        raise DataError(f"{name} must be finite, found NaN or infinite samples")
    return x


def _pair(signal: np.ndarray, noise: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    s, v = _check(signal, "signal"), _check(noise, "noise")
    if s.shape != v.shape:
        raise DataError(f"signal and noise must have the same shape, got {s.shape} and {v.shape}")
    return s, v


def _part(signal: np.ndarray, over: SnrOver, rate: int) -> np.ndarray:
    """The samples an SNR is measured over (validated ``over``); float64 input."""
    if over == "whole":
        return np.ones(signal.size, dtype=bool)
    if over == "active":
        return _active(signal, ACTIVE_FLOOR_DB, rate)
    raise DataError(f"over must be 'whole' or 'active', got {over!r}")


def _power(x: np.ndarray, part: np.ndarray) -> float:
    """Mean square of ``x`` over ``part`` (float64 input)."""
    return rms(x if part.all() else x[part]) ** 2


def _active(signal: np.ndarray, floor_db: float, rate: int) -> np.ndarray:
    """:func:`active_mask` on validated float64 input."""
    frame = round(_ACTIVE_FRAME_S * rate)
    n_frames = math.ceil(signal.size / frame)
    padded = np.zeros(n_frames * frame)
    padded[: signal.size] = signal
    power = np.square(padded).reshape(n_frames, frame).sum(axis=1)
    power /= np.minimum(frame, signal.size - np.arange(n_frames) * frame)  # mean power
    loudest = power.max()
    if loudest <= 0:
        return np.zeros(signal.size, dtype=bool)
    keep = power >= loudest * 10.0 ** (-floor_db / 10.0)
    return np.repeat(keep, frame)[: signal.size]
