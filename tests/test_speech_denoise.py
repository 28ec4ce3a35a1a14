"""Tests for noise suppression before recognition."""

from __future__ import annotations

import numpy as np

from prism.speech.denoise import spectral_subtraction


def test_spectral_subtraction_lowers_steady_noise_and_keeps_length() -> None:
    rng = np.random.default_rng(0)
    noise = (0.02 * rng.standard_normal(32_000)).astype(np.float32)  # steady, broadband
    t = np.arange(noise.size) / 16_000
    tone = (0.1 * np.sin(2 * np.pi * 440 * t) * (t > 1.0)).astype(np.float32)
    cleaned = spectral_subtraction(noise + tone)
    assert cleaned.shape == noise.shape
    quiet = slice(0, 12_000)  # noise only
    assert np.std(cleaned[quiet]) < 0.5 * np.std(noise[quiet])
    loud = slice(20_000, 30_000)
    assert np.std(cleaned[loud]) > 0.5 * np.std(tone[loud])
