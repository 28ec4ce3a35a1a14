"""Spectral subtraction: take the steady part of kitchen noise out of an utterance.

The noise spectrum is estimated from the utterance itself (a low percentile of each
frequency's magnitude over its frames: speech comes and goes, a fridge hum or running
water stays), subtracted with some over-subtraction, and a spectral floor keeps the
result from sounding hollow. Measured on spoken questions in 10-20 dB kitchen noise it
lowers Whisper tiny.en's word error rate by a few points (see ``docs/speech.md``).
"""

from __future__ import annotations

import numpy as np

from prism.speech.audio import SAMPLE_RATE_HZ, check_audio

__all__ = ["spectral_subtraction"]


def spectral_subtraction(
    audio: np.ndarray,
    *,
    noise_percentile: float = 15.0,
    over_subtraction: float = 1.5,
    floor: float = 0.1,
    n_fft: int = 512,
    hop_length: int = 128,
) -> np.ndarray:
    """Suppress stationary noise in a 16 kHz mono clip.

    Parameters
    ----------
    audio : np.ndarray [shape=(n_samples,), float]
        The clip (an utterance of a second or more works best).
    noise_percentile : float
        Per frequency, this percentile (0-100) of the frames' magnitudes is the noise.
    over_subtraction : float
        The noise magnitude is multiplied by this before it is subtracted (>= 0).
    floor : float
        Each time-frequency bin keeps at least this share of its magnitude (0-1).
    n_fft, hop_length : int
        STFT size and hop (samples).

    Returns
    -------
    np.ndarray [shape=(n_samples,), float32]
        The clip with the noise spectrum subtracted (same length).
    """
    import librosa  # loaded on first use: the CLI and the service start without it

    audio = check_audio(audio, SAMPLE_RATE_HZ)
    if audio.size < n_fft:
        return audio
    spectrum = librosa.stft(audio, n_fft=n_fft, hop_length=hop_length)
    magnitude = np.abs(spectrum)
    noise = np.percentile(magnitude, noise_percentile, axis=1, keepdims=True)
    gain = np.maximum(1.0 - over_subtraction * noise / np.maximum(magnitude, 1e-10), floor)
    cleaned = librosa.istft(gain * spectrum, hop_length=hop_length, length=audio.size)
    return np.asarray(cleaned, dtype=np.float32)
