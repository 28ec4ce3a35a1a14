"""Procedural kitchen noise at 16 kHz, for testing and training the spoken path.

Spoken questions in the speech evaluation (:mod:`prism.evaluation.asr`) and the speech
adapter's training clips (:mod:`prism.speech.adaptation`) are mixed with it
(:func:`~prism.data.synth.mixing.mix_at_snr` with ``over="active"``). The noise is
seeded numpy, nothing downloaded; its sources reuse the sound textures of the
semi-synthetic data generator (:mod:`prism.data.synth.audio_textures`):

=========  ==========================  ==================================================
source     texture                     what it sounds like
=========  ==========================  ==================================================
water      ``water``                   running tap: band-passed noise with flutter, bubbles
sizzle     ``sizzle``                  pan frying: high-passed hiss with dense crackle
clatter    ``tapping``                 dishes and cutlery: short decaying resonant knocks
fridge     ``fridge``                  compressor hum, clinks, door thumps
room       ``background_noise``        pink and brown room noise (no chatter)
=========  ==========================  ==================================================

Examples
--------
>>> noise = kitchen_noise(0.5, np.random.default_rng(0), level_db=-20.0)
>>> noise.shape, noise.dtype, round(20 * math.log10(rms(noise)), 3)
((8000,), dtype('float32'), -20.0)
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

from prism.data.synth.audio_textures import TextureParams, background_noise, rms, texture
from prism.errors import DataError

__all__ = ["KITCHEN_RATE_HZ", "KITCHEN_SOURCES", "kitchen_noise"]

KITCHEN_RATE_HZ = 16_000
"""Sample rate of the kitchen noise (Hz): the speech package's."""

KITCHEN_SOURCES: tuple[str, ...] = ("water", "sizzle", "clatter", "fridge", "room")
"""Names of the noise sources :func:`kitchen_noise` can combine."""

_TEXTURES = {"water": "water", "sizzle": "sizzle", "clatter": "tapping", "fridge": "fridge"}
_ROOM_LEVEL_DB = -32.0  # the room bed, relative to full scale before the final level


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
    DataError
        On a non-positive duration, an unknown or repeated source, or a level above 0 dB.
    """
    if not (math.isfinite(duration_s) and duration_s > 0):
        raise DataError(f"duration_s must be a finite number > 0 (s), got {duration_s}")
    if isinstance(sources, str) or not sources:
        raise DataError(
            f"sources must be a non-empty sequence of {', '.join(KITCHEN_SOURCES)}, got {sources!r}"
        )
    unknown = [s for s in sources if s not in KITCHEN_SOURCES]
    if unknown or len(set(sources)) != len(sources):
        raise DataError(
            f"sources must be distinct names among {', '.join(KITCHEN_SOURCES)}, "
            f"got {list(sources)}"
        )
    if not (math.isfinite(level_db) and level_db <= 0):
        raise DataError(f"level_db must be a finite number <= 0 (dBFS), got {level_db}")
    n = round(duration_s * KITCHEN_RATE_HZ)
    total = np.zeros(n)
    for source in KITCHEN_SOURCES:  # fixed order: the same rng draws whatever the caller's order
        if source not in sources:
            continue
        gain = 10.0 ** (rng.uniform(-6.0, 0.0) / 20.0)
        if source == "room":
            part = background_noise(duration_s, rng, rate=KITCHEN_RATE_HZ, chatter=False)
            total[: part.size] += part[:n] * 10.0 ** (_ROOM_LEVEL_DB / 20.0) * gain
        else:
            params = TextureParams(
                timbre=rng.uniform(0.85, 1.15), tempo=rng.uniform(0.8, 1.2), gain=gain
            )
            part = texture(_TEXTURES[source], duration_s, rng, rate=KITCHEN_RATE_HZ, params=params)
            total[: part.size] += part[:n]
    level = rms(total)
    if level > 0:
        total *= 10.0 ** (level_db / 20.0) / level
    return total.astype(np.float32)
