"""Tests for text to speech with espeak-ng."""

from __future__ import annotations

import shutil

import numpy as np
import pytest

from prism.speech import tts
from prism.speech.audio import SAMPLE_RATE_HZ, SpeechBackendError, SpeechInputError
from prism.speech.tts import synthesize

needs_espeak = pytest.mark.skipif(
    not tts.espeak_available(), reason="espeak-ng is not installed (apt-get install espeak-ng)"
)


@needs_espeak
def test_speaks_a_sentence_at_16k() -> None:
    audio, rate = synthesize("what is the next step")
    assert rate == SAMPLE_RATE_HZ
    assert audio.dtype == np.float32
    assert audio.ndim == 1
    assert 1.0 < audio.size / rate < 3.0
    assert 0.1 < np.abs(audio).max() <= 1.0
    assert np.isfinite(audio).all()


@needs_espeak
def test_is_deterministic_and_follows_rate_and_pitch() -> None:
    a, _ = synthesize("grind the beans")
    b, _ = synthesize("grind the beans")
    assert np.array_equal(a, b)
    slow, _ = synthesize("grind the beans", speed_wpm=100)
    fast, _ = synthesize("grind the beans", speed_wpm=300)
    assert slow.size > 1.5 * fast.size
    high, _ = synthesize("grind the beans", pitch=90)
    assert not np.array_equal(a[: high.size], high[: a.size])


@needs_espeak
def test_text_is_never_read_as_options() -> None:
    audio, _ = synthesize("--help -v xx")
    assert audio.size > SAMPLE_RATE_HZ // 2


@needs_espeak
def test_unknown_voice_is_reported() -> None:
    with pytest.raises(SpeechBackendError, match=r"voice 'zz-nope'.*does not exist"):
        synthesize("hello", voice="zz-nope")


@pytest.mark.parametrize(
    ("text", "options", "match"),
    [
        ("", {}, "non-empty string"),
        ("   ", {}, "non-empty string"),
        ("x" * 5001, {}, "at most 5000 characters"),
        ("hello", {"speed_wpm": 20}, r"speed_wpm must be an int in \[80, 450\]"),
        ("hello", {"speed_wpm": 160.0}, "speed_wpm must be an int"),
        ("hello", {"pitch": 100}, r"pitch must be an int in \[0, 99\]"),
        ("hello", {"pitch": True}, "pitch must be an int"),
        ("hello", {"voice": "en us"}, "voice must be an espeak-ng voice name"),
        ("hello", {"voice": ""}, "voice must be an espeak-ng voice name"),
    ],
    ids=[
        "empty",
        "blank",
        "too-long",
        "slow",
        "float-rate",
        "pitch",
        "bool-pitch",
        "space",
        "no-voice",
    ],
)
def test_bad_requests_are_rejected(text: str, options: dict[str, object], match: str) -> None:
    with pytest.raises(SpeechInputError, match=match):
        synthesize(text, **options)  # type: ignore[arg-type]


def test_missing_espeak_names_the_apt_package(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(shutil, "which", lambda name: None)
    assert not tts.espeak_available()
    with pytest.raises(SpeechBackendError, match="apt-get install espeak-ng"):
        synthesize("hello")
