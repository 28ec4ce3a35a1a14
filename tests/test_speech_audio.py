"""Tests for the speech package's audio contract and errors."""

from __future__ import annotations

import numpy as np
import pytest

from prism.errors import PrismError
from prism.speech.audio import SpeechBackendError, check_audio, missing_package


def test_input_errors_are_value_errors() -> None:
    with pytest.raises(ValueError, match="is empty"):
        check_audio(np.zeros(0))
    assert check_audio(np.zeros(0), allow_empty=True).dtype == np.float32


def test_a_missing_package_error_names_the_pip_command() -> None:
    error = missing_package("faster-whisper", "Whisper")
    assert isinstance(error, SpeechBackendError)
    assert isinstance(error, PrismError) and isinstance(error, RuntimeError)
    assert "pip install faster-whisper" in str(error)
    assert "speech recognition with Whisper needs" in str(error)
