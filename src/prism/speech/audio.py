"""The speech package's audio contract and errors.

Audio is a 1-D floating-point array of mono samples in [-1, 1] at
:data:`SAMPLE_RATE_HZ` (:func:`check_audio`). :class:`SpeechInputError`: bad audio, text
or settings; :class:`SpeechBackendError`: a model package or program is missing or failed
(both defined in :mod:`prism.errors`, re-exported here).
"""

from __future__ import annotations

import numpy as np

from prism.errors import SpeechBackendError, SpeechInputError

__all__ = [
    "SAMPLE_RATE_HZ",
    "SpeechBackendError",
    "SpeechInputError",
    "check_audio",
    "missing_package",
]

SAMPLE_RATE_HZ = 16_000
"""The only sample rate the speech package accepts (Hz): what the watch sends."""


def missing_package(package: str, what: str) -> SpeechBackendError:
    """The error for a Python package that ``what`` needs and that is not installed; it
    names the pip command."""
    return SpeechBackendError(
        f"speech recognition with {what} needs the Python package {package!r}, which is not "
        f"installed; install it with: pip install {package}"
    )


def check_audio(
    audio: object,
    sample_rate: int = SAMPLE_RATE_HZ,
    *,
    name: str = "audio",
    allow_empty: bool = False,
) -> np.ndarray:
    """Validate mono float audio at 16 kHz and return it as contiguous float32.

    Parameters
    ----------
    audio : np.ndarray [shape=(n_samples,), floating, finite]
        Mono samples, nominally in [-1, 1] (the range is not enforced).
    sample_rate : int
        Its sample rate (Hz); must be :data:`SAMPLE_RATE_HZ`.
    name : str
        What to call the array in error messages.
    allow_empty : bool
        Accept zero samples (streaming chunks may be empty).

    Returns
    -------
    np.ndarray [shape=(n_samples,), float32]

    Raises
    ------
    SpeechInputError
        On another sample rate, a non-array, more than one channel, an integer dtype,
        NaN or infinite samples, or (unless ``allow_empty``) no samples.

    Examples
    --------
    >>> check_audio(np.zeros(3)).dtype
    dtype('float32')
    """
    if isinstance(sample_rate, bool) or not isinstance(sample_rate, int | np.integer):
        raise SpeechInputError(
            f"sample_rate must be an int (Hz), got {type(sample_rate).__name__} {sample_rate!r}"
        )
    if sample_rate != SAMPLE_RATE_HZ:
        raise SpeechInputError(
            f"{name} must be sampled at {SAMPLE_RATE_HZ} Hz, got {sample_rate} Hz; "
            "resample it first (e.g. librosa.resample)"
        )
    if not isinstance(audio, np.ndarray):
        raise SpeechInputError(
            f"{name} must be a numpy array of samples, got {type(audio).__name__}"
        )
    if audio.ndim != 1:
        hint = (
            " (looks like several channels: average them to mono first)" if audio.ndim == 2 else ""
        )
        raise SpeechInputError(
            f"{name} must be mono, shape (n_samples,), got shape {audio.shape}{hint}"
        )
    if not np.issubdtype(audio.dtype, np.floating):
        raise SpeechInputError(
            f"{name} must hold floating-point samples in [-1, 1], got dtype {audio.dtype}"
            + (" (divide 16-bit PCM by 32768)" if np.issubdtype(audio.dtype, np.integer) else "")
        )
    if audio.size == 0 and not allow_empty:
        raise SpeechInputError(f"{name} is empty: expected at least one sample")
    finite = np.isfinite(audio)
    if not finite.all():
        first = int(np.argmin(finite))
        raise SpeechInputError(
            f"{name} must be finite, found {int((~finite).sum())} NaN/inf samples "
            f"(first at sample {first})"
        )
    return np.ascontiguousarray(audio, dtype=np.float32)
