"""Tests for procedural kitchen noise and exact-SNR mixing."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from prism.data.synth.audio_textures import rms, spectral_centroid
from prism.speech.audio import SAMPLE_RATE_HZ, SpeechInputError
from prism.speech.noise import (
    KITCHEN_SOURCES,
    active_mask,
    active_snr_db,
    kitchen_noise,
    mix_at_snr,
)

RATE = SAMPLE_RATE_HZ


def _speech_like(rng: np.random.Generator, seconds: float = 2.0) -> np.ndarray:
    """Silence, then voiced bursts (150 Hz buzz with harmonics, syllable envelope), silence."""
    n = round(seconds * RATE)
    t = np.arange(n) / RATE
    buzz = sum(np.sin(2 * np.pi * 150 * k * t) / k for k in range(1, 12))
    envelope = np.clip(np.sin(2 * np.pi * rng.uniform(3, 6) * t), 0, None) ** 2
    envelope[: n // 4] = 0
    envelope[-n // 4 :] = 0
    x = buzz * envelope
    out: np.ndarray = (0.3 * x / np.abs(x).max()).astype(np.float32)
    return out


@pytest.mark.parametrize("source", KITCHEN_SOURCES)
def test_each_source_alone_is_audible_at_the_level(source: str, rng: np.random.Generator) -> None:
    x = kitchen_noise(1.5, rng, sources=(source,), level_db=-25.0)
    assert x.shape == (24_000,)
    assert x.dtype == np.float32
    assert 20 * math.log10(rms(x)) == pytest.approx(-25.0, abs=1e-3)


def test_sources_sound_different(rng: np.random.Generator) -> None:
    centroids = {
        s: spectral_centroid(kitchen_noise(1.0, rng, sources=(s,)), rate=RATE)
        for s in ("water", "sizzle", "fridge")
    }
    assert centroids["fridge"] < centroids["water"] < centroids["sizzle"]


def test_noise_is_deterministic_for_a_seed() -> None:
    a = kitchen_noise(1.0, np.random.default_rng(3))
    b = kitchen_noise(1.0, np.random.default_rng(3))
    c = kitchen_noise(1.0, np.random.default_rng(4))
    d = kitchen_noise(1.0, np.random.default_rng(3), sources=KITCHEN_SOURCES[::-1])
    assert np.array_equal(a, b)
    assert np.array_equal(a, d)  # the order of sources does not matter
    assert not np.array_equal(a, c)


@pytest.mark.parametrize(
    ("duration", "options", "match"),
    [
        (0.0, {}, "duration_s must be a finite number > 0"),
        (float("nan"), {}, "duration_s must be"),
        (1.0, {"sources": ()}, "sources must be a non-empty sequence"),
        (1.0, {"sources": "water"}, "sources must be a non-empty sequence"),
        (1.0, {"sources": ("water", "blender")}, r"distinct names.*got \['water', 'blender'\]"),
        (1.0, {"sources": ("water", "water")}, "distinct names"),
        (1.0, {"level_db": 3.0}, "level_db must be a finite number <= 0"),
    ],
    ids=["zero", "nan", "no-sources", "a-string", "unknown", "repeated", "too-loud"],
)
def test_bad_noise_requests_are_rejected(
    duration: float, options: dict[str, object], match: str, rng: np.random.Generator
) -> None:
    with pytest.raises(SpeechInputError, match=match):
        kitchen_noise(duration, rng, **options)  # type: ignore[arg-type]


@settings(max_examples=40, deadline=None)
@given(
    seed=st.integers(0, 2**32 - 1),
    snr_db=st.floats(-10.0, 40.0),
    sources=st.sets(st.sampled_from(KITCHEN_SOURCES), min_size=1),
    lead_s=st.floats(0.0, 1.0),
)
def test_mixing_hits_the_requested_snr(
    seed: int, snr_db: float, sources: set[str], lead_s: float
) -> None:
    rng = np.random.default_rng(seed)
    speech = np.concatenate([np.zeros(round(lead_s * RATE), np.float32), _speech_like(rng)])
    noise = kitchen_noise(speech.size / RATE + 0.5, rng, sources=tuple(sources))
    mix = mix_at_snr(speech, noise, snr_db)
    assert mix.shape == speech.shape
    assert mix.dtype == np.float32
    added = mix.astype(np.float64) - speech
    assert active_snr_db(speech, added) == pytest.approx(snr_db, abs=0.1)


def test_snr_is_measured_over_the_active_part_only(rng: np.random.Generator) -> None:
    speech = _speech_like(rng)
    noise = kitchen_noise(speech.size / RATE, rng)
    padded = np.concatenate([np.zeros(RATE, np.float32), speech, np.zeros(RATE, np.float32)])
    padded_noise = kitchen_noise(padded.size / RATE, np.random.default_rng(1))
    padded_noise[RATE : RATE + speech.size] = noise
    short = mix_at_snr(speech, noise, 10.0) - speech
    long = mix_at_snr(padded, padded_noise, 10.0) - padded
    # Leading and trailing silence does not change how loud the noise is made.
    assert np.allclose(long[RATE : RATE + speech.size], short, atol=1e-6)


def test_active_mask_skips_silence_and_quiet_tails() -> None:
    x = np.concatenate([np.zeros(320), np.full(640, 0.5), np.full(320, 1e-4), np.zeros(320)])
    mask = active_mask(x)
    assert mask.sum() == 640
    assert mask[320:960].all()
    assert not active_mask(np.zeros(100)).any()


def test_silent_noise_gives_infinite_snr(rng: np.random.Generator) -> None:
    speech = _speech_like(rng)
    assert active_snr_db(speech, np.zeros_like(speech)) == math.inf


@pytest.mark.parametrize(
    ("speech", "noise", "snr", "match"),
    [
        (np.ones(RATE), np.ones(RATE - 1), 10.0, r"at least 16000 samples.*got 15999"),
        (np.zeros(RATE), np.ones(RATE), 10.0, "speech is silent"),
        (np.ones(RATE), np.zeros(RATE), 10.0, "noise is silent over the speech's active part"),
        (np.ones(RATE), np.ones(RATE), float("nan"), "snr_db must be a finite number"),
        (np.ones((RATE, 2)), np.ones(RATE), 10.0, "speech must be mono"),
        (np.ones(RATE), np.full(RATE, np.nan), 10.0, "noise must be finite"),
        (np.zeros(0), np.ones(RATE), 10.0, "speech is empty"),
    ],
    ids=["short-noise", "silent-speech", "silent-noise", "nan-snr", "stereo", "nan-noise", "empty"],
)
def test_bad_mixes_are_rejected(
    speech: np.ndarray, noise: np.ndarray, snr: float, match: str
) -> None:
    with pytest.raises(SpeechInputError, match=match):
        mix_at_snr(speech, noise, snr)


def test_measuring_needs_equal_lengths() -> None:
    with pytest.raises(SpeechInputError, match="must have 10 samples"):
        active_snr_db(np.ones(10), np.ones(11))
