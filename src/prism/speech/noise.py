"""Kitchen noise for testing the spoken path, and mixing speech with noise at an exact SNR.

The noise is procedural (seeded numpy, nothing downloaded); its sources reuse the sound
textures of the semi-synthetic data generator (:mod:`prism.data.synth.audio_textures`):

=========  ==========================  ==================================================
source     texture                     what it sounds like
=========  ==========================  ==================================================
water      ``water``                   running tap: band-passed noise with flutter, bubbles
sizzle     ``sizzle``                  pan frying: high-passed hiss with dense crackle
clatter    ``tapping``                 dishes and cutlery: short decaying resonant knocks
fridge     ``fridge``                  compressor hum, clinks, door thumps
room       ``background_noise``        pink and brown room noise (no chatter)
=========  ==========================  ==================================================

The SNR of a mixture is measured over the *active* part of the speech only (frames of
20 ms within 40 dB of the loudest frame), so silence before and after a question does
not dilute it.

Examples
--------
>>> rng = np.random.default_rng(0)
>>> speech = np.sin(np.linspace(0.0, 600.0, 8000)).astype(np.float32)
>>> noise = kitchen_noise(0.5, rng)
>>> mix = mix_at_snr(speech, noise, 10.0)
>>> round(active_snr_db(speech, mix - speech), 3)
10.0
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

from prism.data.synth.audio_textures import TextureParams, background_noise, rms, texture
from prism.speech.audio import SAMPLE_RATE_HZ, SpeechInputError, check_audio

__all__ = [
    "KITCHEN_SOURCES",
    "active_mask",
    "active_snr_db",
    "kitchen_noise",
    "mix_at_snr",
]

KITCHEN_SOURCES: tuple[str, ...] = ("water", "sizzle", "clatter", "fridge", "room")
"""Names of the noise sources :func:`kitchen_noise` can combine."""

_TEXTURES = {"water": "water", "sizzle": "sizzle", "clatter": "tapping", "fridge": "fridge"}
_ROOM_LEVEL_DB = -32.0  # the room bed, relative to full scale before the final level
_ACTIVE_FRAME_S = 0.02
_ACTIVE_FLOOR_DB = 40.0


def kitchen_noise(
    duration_s: float,
    rng: np.random.Generator,
    *,
    sources: Sequence[str] = KITCHEN_SOURCES,
    level_db: float = -30.0,
) -> np.ndarray:
    """Procedural kitchen noise at 16 kHz.

    Each source gets a random timbre and tempo (+-15 %, +-20 %) and a random gain
    (0 to -6 dB around its nominal level); the sum is scaled to ``level_db``.

    Parameters
    ----------
    duration_s : float
        Length (s, > 0).
    rng : np.random.Generator
        Source of randomness: the same state gives the same samples.
    sources : sequence of str
        Which of :data:`KITCHEN_SOURCES` to include (at least one, no repeats).
    level_db : float
        RMS level of the result (dB re full scale, <= 0).

    Returns
    -------
    np.ndarray [shape=(round(duration_s * 16000),), float32]
        RMS ``10 ** (level_db / 20)``; peaks may exceed 1 only for loud levels.

    Raises
    ------
    SpeechInputError
        On a non-positive duration, an unknown or repeated source, or a level above 0 dB.
    """
    if not (math.isfinite(duration_s) and duration_s > 0):
        raise SpeechInputError(f"duration_s must be a finite number > 0 (s), got {duration_s}")
    if isinstance(sources, str) or not sources:
        raise SpeechInputError(
            f"sources must be a non-empty sequence of {', '.join(KITCHEN_SOURCES)}, got {sources!r}"
        )
    unknown = [s for s in sources if s not in KITCHEN_SOURCES]
    if unknown or len(set(sources)) != len(sources):
        raise SpeechInputError(
            f"sources must be distinct names among {', '.join(KITCHEN_SOURCES)}, "
            f"got {list(sources)}"
        )
    if not (math.isfinite(level_db) and level_db <= 0):
        raise SpeechInputError(f"level_db must be a finite number <= 0 (dBFS), got {level_db}")
    n = round(duration_s * SAMPLE_RATE_HZ)
    total = np.zeros(n)
    for source in KITCHEN_SOURCES:  # fixed order: the same rng draws whatever the caller's order
        if source not in sources:
            continue
        gain = 10.0 ** (rng.uniform(-6.0, 0.0) / 20.0)
        if source == "room":
            part = background_noise(duration_s, rng, rate=SAMPLE_RATE_HZ, chatter=False)
            total[: part.size] += part[:n] * 10.0 ** (_ROOM_LEVEL_DB / 20.0) * gain
        else:
            params = TextureParams(
                timbre=rng.uniform(0.85, 1.15), tempo=rng.uniform(0.8, 1.2), gain=gain
            )
            part = texture(_TEXTURES[source], duration_s, rng, rate=SAMPLE_RATE_HZ, params=params)
            total[: part.size] += part[:n]
    level = rms(total)
    if level > 0:
        total *= 10.0 ** (level_db / 20.0) / level
    return total.astype(np.float32)


def active_mask(speech: np.ndarray, *, floor_db: float = _ACTIVE_FLOOR_DB) -> np.ndarray:
    """Which samples belong to the active part of a speech signal.

    A sample is active when its 20 ms frame's mean power is within ``floor_db`` of the
    loudest frame's (and above zero).

    Parameters
    ----------
    speech : np.ndarray [shape=(n_samples,), float, mono, 16 kHz]
        The speech (see :func:`~prism.speech.audio.check_audio`).
    floor_db : float
        How far below the loudest frame a frame still counts (dB, > 0).

    Returns
    -------
    np.ndarray [shape=(n_samples,), bool]
        All False for silent speech.

    Examples
    --------
    >>> x = np.concatenate([np.zeros(320), np.ones(320)])
    >>> active_mask(x).sum()
    np.int64(320)
    """
    speech = check_audio(speech, SAMPLE_RATE_HZ, name="speech")
    if not (math.isfinite(floor_db) and floor_db > 0):
        raise SpeechInputError(f"floor_db must be a finite number > 0 (dB), got {floor_db}")
    return _active(speech.astype(np.float64), floor_db)


def _active(speech: np.ndarray, floor_db: float) -> np.ndarray:
    """:func:`active_mask` on validated float64 input."""
    frame = round(_ACTIVE_FRAME_S * SAMPLE_RATE_HZ)
    n_frames = math.ceil(speech.size / frame)
    padded = np.zeros(n_frames * frame)
    padded[: speech.size] = speech
    power = np.square(padded).reshape(n_frames, frame).sum(axis=1)
    power /= np.minimum(frame, speech.size - np.arange(n_frames) * frame)  # mean power
    loudest = power.max()
    if loudest <= 0:
        return np.zeros(speech.size, dtype=bool)
    keep = power >= loudest * 10.0 ** (-floor_db / 10.0)
    return np.repeat(keep, frame)[: speech.size]


def active_snr_db(speech: np.ndarray, noise: np.ndarray) -> float:
    """SNR of ``speech`` over ``noise`` (dB), both measured over the speech's active part.

    Parameters
    ----------
    speech, noise : np.ndarray [shape=(n_samples,), float, mono, 16 kHz]
        The clean speech and the noise added to it (same length).

    Returns
    -------
    float
        ``10 log10(P_speech / P_noise)`` over :func:`active_mask` samples (inf if the
        noise is silent there).

    Raises
    ------
    SpeechInputError
        On invalid audio, different lengths or silent speech.
    """
    s, v = _pair(speech, noise, same_length=True)
    mask = _active(s, _ACTIVE_FLOOR_DB)
    if not mask.any():
        raise SpeechInputError("speech is silent: it has no active part to measure an SNR on")
    noise_power = float(np.mean(np.square(v[mask])))
    if noise_power == 0:
        return math.inf
    return 10.0 * math.log10(float(np.mean(np.square(s[mask]))) / noise_power)


def mix_at_snr(speech: np.ndarray, noise: np.ndarray, snr_db: float) -> np.ndarray:
    """Add noise to speech so that the SNR over the speech's active part is ``snr_db``.

    Parameters
    ----------
    speech : np.ndarray [shape=(n_samples,), float, mono, 16 kHz]
        Clean speech (not silent).
    noise : np.ndarray [shape=(n_noise,), float, mono, 16 kHz]
        Noise, at least as long as the speech; its first ``n_samples`` are used, scaled.
    snr_db : float
        Wanted SNR (dB, finite), measured as :func:`active_snr_db`.

    Returns
    -------
    np.ndarray [shape=(n_samples,), float32]
        ``speech + g * noise[:n_samples]``; not clipped, so peaks can exceed 1 at low SNR.

    Raises
    ------
    SpeechInputError
        On invalid audio, noise shorter than the speech, silent speech, noise silent
        over the speech's active part, or a non-finite SNR.
    """
    s, v = _pair(speech, noise, same_length=False)
    if not (isinstance(snr_db, int | float) and math.isfinite(snr_db)):
        raise SpeechInputError(f"snr_db must be a finite number (dB), got {snr_db!r}")
    v = v[: s.size]
    mask = _active(s, _ACTIVE_FLOOR_DB)
    if not mask.any():
        raise SpeechInputError("speech is silent: it has no active part to mix noise against")
    speech_power = float(np.mean(np.square(s[mask])))
    noise_power = float(np.mean(np.square(v[mask])))
    if noise_power == 0:
        raise SpeechInputError("noise is silent over the speech's active part; cannot set an SNR")
    gain = math.sqrt(speech_power / (noise_power * 10.0 ** (snr_db / 10.0)))
    return (s + gain * v).astype(np.float32)


def _pair(
    speech: np.ndarray, noise: np.ndarray, *, same_length: bool
) -> tuple[np.ndarray, np.ndarray]:
    """Validate speech and noise; return both as float64."""
    s = check_audio(speech, SAMPLE_RATE_HZ, name="speech").astype(np.float64)
    v = check_audio(noise, SAMPLE_RATE_HZ, name="noise").astype(np.float64)
    if (v.size != s.size) if same_length else (v.size < s.size):
        expected = f"{s.size}" if same_length else f"at least {s.size}"
        raise SpeechInputError(
            f"noise must have {expected} samples (the speech's length), got {v.size}"
        )
    return s, v
