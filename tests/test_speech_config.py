"""Tests for the recognizer's settings."""

from __future__ import annotations

import pytest

from prism.speech.audio import SpeechInputError
from prism.speech.config import AsrConfig


@pytest.mark.parametrize(
    ("changes", "match"),
    [
        ({"model": "large"}, "model must be one of tiny.en-adapted, tiny.en, base"),
        ({"cpu_threads": 0}, "cpu_threads must be an int >= 1"),
        ({"beam_size": True}, "beam_size must be an int >= 1"),
        ({"compute_type": "float16"}, "compute_type must be"),
        ({"vocabulary_mode": "bias"}, "vocabulary_mode must be"),
        ({"max_duration_s": float("inf")}, "max_duration_s must be"),
        ({"no_speech_threshold": 0.0}, "no_speech_threshold must be"),
        ({"rescore_weight": -0.1}, "rescore_weight must be"),
        ({"window_s": 5.0}, r"window_s must be in \[10.0, 30.0\], got 5.0"),
        ({"window_s": 31.0}, "window_s must be in"),
    ],
    ids=[
        "model",
        "threads",
        "beam-bool",
        "float16",
        "mode",
        "duration-inf",
        "no-speech-0",
        "rescore-negative",
        "window-short",
        "window-long",
    ],
)
def test_bad_config_is_rejected(changes: dict[str, object], match: str) -> None:
    with pytest.raises(SpeechInputError, match=match):
        AsrConfig(**changes)  # type: ignore[arg-type]
