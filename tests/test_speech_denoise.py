"""Tests for noise suppression before recognition and the recognizer's front end."""

from __future__ import annotations

import numpy as np
import pytest

from prism.speech.audio import SpeechInputError
from prism.speech.denoise import FrontEnd, spectral_subtraction


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


# ---------------------------------------------------------------- the front end


def test_the_front_end_applies_its_own_settings(rng: np.random.Generator) -> None:
    audio = (0.05 * rng.standard_normal(16_000)).astype(np.float32)
    settings = {"noise_percentile": 30.0, "over_subtraction": 1.0, "floor": 0.2}
    front = FrontEnd(**settings)  # type: ignore[arg-type]
    assert np.array_equal(front(audio), spectral_subtraction(audio, **settings))  # type: ignore[arg-type]
    assert np.array_equal(FrontEnd()(audio), spectral_subtraction(audio))  # the defaults
    raw = FrontEnd(denoise=False)(audio.astype(np.float64))
    assert raw.dtype == np.float32 and np.array_equal(raw, audio)


def test_a_front_end_round_trips_through_a_card() -> None:
    front = FrontEnd(denoise=True, floor=0.05, hop_length=256)
    assert FrontEnd.from_dict(front.to_dict(), source="card.json") == front
    assert FrontEnd.from_dict({}, source="card.json") == FrontEnd()  # missing ones default


@pytest.mark.parametrize(
    ("settings", "match"),
    [
        ({"denoise": "yes"}, "denoise must be true or false, got 'yes'"),
        ({"noise_percentile": 101.0}, r"noise_percentile must be a finite number in \[0, 100\]"),
        ({"over_subtraction": -1.0}, "over_subtraction must be a finite number >= 0"),
        ({"floor": float("nan")}, "floor must be"),
        ({"n_fft": 8}, "n_fft must be an int >= 16, got 8"),
        ({"hop_length": 1024}, "hop_length must be an int from 1 to n_fft, got 1024"),
    ],
    ids=["denoise", "percentile", "over-subtraction", "floor-nan", "n-fft", "hop"],
)
def test_bad_front_ends_are_refused(settings: dict[str, object], match: str) -> None:
    with pytest.raises(SpeechInputError, match=match):
        FrontEnd(**settings)  # type: ignore[arg-type]
    with pytest.raises(SpeechInputError, match=rf"card.json: invalid FrontEnd: {match}"):
        FrontEnd.from_dict(settings, source="card.json")


@pytest.mark.parametrize(
    ("data", "match"),
    [
        (True, "card.json: front_end must be an object of settings, got True"),
        ({"denoise": True, "gain": 2}, "card.json: front_end has unknown settings gain"),
    ],
    ids=["not-an-object", "unknown-key"],
)
def test_bad_front_end_entries_name_the_file(data: object, match: str) -> None:
    with pytest.raises(SpeechInputError, match=match):
        FrontEnd.from_dict(data, source="card.json")
