"""Tests for mixing noise at an exact SNR: over the whole signal and over its active part."""

from __future__ import annotations

import hashlib
import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from prism.data.synth.audio_textures import background_noise, texture
from prism.data.synth.generator import synthesize_session
from prism.data.synth.kitchen import KITCHEN_SOURCES, kitchen_noise
from prism.data.synth.mixing import active_mask, measure_snr_db, mix_at_snr
from prism.errors import DataError
from prism.procedure.model import Procedure

RATE = 16_000


@pytest.mark.parametrize("snr_db", [-5.0, 0.0, 7.5, 20.0])
def test_mix_at_snr_achieves_the_requested_snr(snr_db: float, rng: np.random.Generator) -> None:
    sound = texture("grinder", 3.0, rng).astype(np.float64)
    noise = background_noise(3.0, rng)
    mixture, scaled = mix_at_snr(sound, noise, snr_db)
    assert measure_snr_db(sound, scaled) == pytest.approx(snr_db, abs=1e-9)
    assert np.allclose(mixture, sound + scaled)
    assert np.allclose(scaled / noise, scaled[0] / noise[0])  # only scaled


@settings(max_examples=40, deadline=None)
@given(
    snr_db=st.floats(-20.0, 40.0),
    seed=st.integers(0, 2**32 - 1),
    n=st.integers(2, 500),
)
def test_mix_at_snr_property(snr_db: float, seed: int, n: int) -> None:
    rng = np.random.default_rng(seed)
    sound, noise = rng.standard_normal(n), rng.standard_normal(n)
    _, scaled = mix_at_snr(sound, noise, snr_db)
    assert measure_snr_db(sound, scaled) == pytest.approx(snr_db, abs=1e-6)


def test_mix_at_snr_bad_input() -> None:
    with pytest.raises(DataError, match=r"same shape, got \(3,\) and \(4,\)"):
        mix_at_snr(np.ones(3), np.ones(4), 0.0)
    with pytest.raises(DataError, match="the noise is silent"):
        mix_at_snr(np.ones(3), np.zeros(3), 0.0)
    with pytest.raises(DataError, match="snr_db must be finite, got inf"):
        mix_at_snr(np.ones(3), np.ones(3), math.inf)


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
    mix, _ = mix_at_snr(speech, noise[: speech.size], snr_db, over="active")
    assert mix.shape == speech.shape
    assert mix.dtype == np.float32
    added = mix.astype(np.float64) - speech
    assert measure_snr_db(speech, added, over="active") == pytest.approx(snr_db, abs=0.1)


def test_snr_is_measured_over_the_active_part_only(rng: np.random.Generator) -> None:
    speech = _speech_like(rng)
    noise = kitchen_noise(speech.size / RATE, rng)
    padded = np.concatenate([np.zeros(RATE, np.float32), speech, np.zeros(RATE, np.float32)])
    padded_noise = kitchen_noise(padded.size / RATE, np.random.default_rng(1))
    padded_noise[RATE : RATE + speech.size] = noise
    short = mix_at_snr(speech, noise, 10.0, over="active")[0] - speech
    long = mix_at_snr(padded, padded_noise, 10.0, over="active")[0] - padded
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
    assert measure_snr_db(speech, np.zeros_like(speech), over="active") == math.inf


@pytest.mark.parametrize(
    ("speech", "noise", "snr", "match"),
    [
        (np.ones(RATE), np.ones(RATE - 1), 10.0, r"same shape, got \(16000,\) and \(15999,\)"),
        (np.zeros(RATE), np.ones(RATE), 10.0, "signal is silent"),
        (np.ones(RATE), np.zeros(RATE), 10.0, "noise is silent over the signal's active part"),
        (np.ones(RATE), np.ones(RATE), float("nan"), "snr_db must be finite"),
        (np.ones((RATE, 2)), np.ones(RATE), 10.0, "signal must be mono"),
        (np.ones(RATE), np.full(RATE, np.nan), 10.0, "noise must be finite"),
        (np.zeros(0), np.ones(RATE), 10.0, "signal is empty"),
        (np.ones(RATE, np.int16), np.ones(RATE), 10.0, "floating-point"),
    ],
    ids=[
        "short-noise",
        "silent-speech",
        "silent-noise",
        "nan-snr",
        "stereo",
        "nan-noise",
        "empty",
        "integer",
    ],
)
def test_bad_mixes_are_rejected(
    speech: np.ndarray, noise: np.ndarray, snr: float, match: str
) -> None:
    with pytest.raises(DataError, match=match):
        mix_at_snr(speech, noise, snr, over="active")


def test_measuring_needs_equal_lengths() -> None:
    with pytest.raises(DataError, match=r"same shape, got \(10,\) and \(11,\)"):
        measure_snr_db(np.ones(10), np.ones(11), over="active")


# ---------------------------------------------------------------- the two SNR definitions


def test_the_two_definitions_differ_by_the_silent_share() -> None:
    """Half silence: the whole-signal power is half the active power (3.01 dB apart)."""
    speech = np.concatenate([np.zeros(RATE), np.full(RATE, 0.5)])
    noise = np.random.default_rng(0).standard_normal(2 * RATE)
    _, over_active = mix_at_snr(speech, noise, 10.0, over="active")
    _, over_whole = mix_at_snr(speech, noise, 10.0)
    assert measure_snr_db(speech, over_active, over="active") == pytest.approx(10.0, abs=1e-9)
    assert measure_snr_db(speech, over_whole) == pytest.approx(10.0, abs=1e-9)
    assert measure_snr_db(speech, over_active) == pytest.approx(10.0 - 10 * math.log10(2), 1e-2)
    # The noise's power is taken over the active half too, not over the whole.
    active_noise_power = np.mean(np.square(noise[RATE:]))
    expected = np.sqrt(0.25 / (active_noise_power * 10.0))
    assert over_active[0] / noise[0] == pytest.approx(expected, rel=1e-12)


def test_an_unknown_definition_is_refused() -> None:
    with pytest.raises(DataError, match="over must be 'whole' or 'active', got 'speech'"):
        mix_at_snr(np.ones(3), np.ones(3), 0.0, over="speech")  # type: ignore[arg-type]


def test_the_inputs_floating_type_is_kept() -> None:
    mixture, scaled = mix_at_snr(np.ones(4, np.float32), np.ones(4, np.float32), 0.0)
    assert mixture.dtype == scaled.dtype == np.float32
    mixture, scaled = mix_at_snr(np.ones(4), np.ones(4, np.float32), 0.0)
    assert mixture.dtype == scaled.dtype == np.float64


def _digest(audio: np.ndarray) -> str:
    return hashlib.sha256(np.ascontiguousarray(audio).tobytes()).hexdigest()[:16]


@pytest.mark.parametrize(
    ("seed", "expected"),
    [(0, "ad3bda1ce39599ea"), (3, "2c5caa7f9a02a9a8")],
)
def test_kitchen_noise_mixes_are_the_samples_they_were(seed: int, expected: str) -> None:
    """Pinned from the two functions this one replaced (speech's active-part mixing)."""
    rng = np.random.default_rng(seed)
    speech = 0.3 * np.sin(np.linspace(0, 3000, 48000)) * (np.arange(48000) > 16000)
    mixture, _ = mix_at_snr(
        speech.astype(np.float32),
        kitchen_noise(3.0, rng),
        float(rng.uniform(-5, 30)),
        over="active",
    )
    assert _digest(mixture) == expected


def test_a_semi_synthetic_session_is_the_audio_it_was(latte: Procedure) -> None:
    """Pinned from the generator's whole-signal mixing before the two functions merged."""
    recording = synthesize_session(latte, seed=3, session_id="s", duration_scale=0.25)
    assert recording.audio is not None
    assert _digest(recording.audio) == "84d4d745603e8aec"
