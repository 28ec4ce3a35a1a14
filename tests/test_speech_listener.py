"""Tests for spoken questions from a stream (early recognition) and from a clip."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from prism.packages import find_package_dir
from prism.speech import tts
from prism.speech.asr import SpeechRecognizer, Transcript
from prism.speech.audio import SAMPLE_RATE_HZ
from prism.speech.listener import HeardQuestion, QuestionListener, transcribe_clip

pytestmark = [
    pytest.mark.skipif(
        find_package_dir("silero_vad") is None or find_package_dir("onnxruntime") is None,
        reason="silero-vad and onnxruntime are not installed",
    ),
    pytest.mark.skipif(not tts.espeak_available(), reason="espeak-ng is not installed"),
]

RATE = SAMPLE_RATE_HZ


class CountingRecognizer:
    """Names what it heard by its length and takes ``compute_s`` of (pretend) time."""

    def __init__(self, compute_s: float) -> None:
        self.compute_s = compute_s
        self.calls: list[tuple[int, tuple[str, ...]]] = []

    @property
    def model_name(self) -> str:
        return "counting"

    def load(self) -> SpeechRecognizer:
        return self

    def describe(self) -> dict[str, Any]:
        return {"model": self.model_name}

    def transcribe(
        self, audio: np.ndarray, sample_rate: int = RATE, *, vocabulary: Sequence[str] = ()
    ) -> Transcript:
        self.calls.append((audio.size, tuple(vocabulary)))
        return Transcript(f"heard {audio.size}", audio.size / RATE, self.compute_s, "counting")


def _silence(seconds: float) -> np.ndarray:
    return np.zeros(round(seconds * RATE), dtype=np.float32)


@pytest.fixture(scope="module")
def speech() -> np.ndarray:
    """A synthesized question, trimmed to where it is heard."""
    audio, _ = tts.synthesize("how hot should the milk be")
    loud = np.flatnonzero(np.abs(audio) > 1e-3)
    return audio[loud[0] : loud[-1] + 1]


def _stream(listener: QuestionListener, audio: np.ndarray, chunk: int) -> list[HeardQuestion]:
    heard = []
    for start in range(0, audio.size, chunk):
        heard += listener.push(audio[start : start + chunk])
    return heard + listener.flush()


@settings(max_examples=10, deadline=None)
@given(chunk=st.integers(160, 4000), compute_s=st.floats(0.0, 1.0))
def test_early_recognition_hears_the_same_sooner(
    speech: np.ndarray, chunk: int, compute_s: float
) -> None:
    audio = np.concatenate([_silence(0.6), speech, _silence(1.5)])
    early = _stream(
        QuestionListener(CountingRecognizer(compute_s), vocabulary=["Steam milk"]), audio, chunk
    )
    late = _stream(
        QuestionListener(CountingRecognizer(compute_s), vocabulary=["Steam milk"], early=False),
        audio,
        chunk,
    )
    assert [h.transcript.text for h in early] == [h.transcript.text for h in late] != []
    assert [h.utterance.segment for h in early] == [h.utterance.segment for h in late]
    first, plain = early[0], late[0]
    assert first.early and not plain.early
    assert plain.ready_s == pytest.approx(plain.closed_s + compute_s)
    # the early one started once the padding after the speech had arrived
    assert first.ready_s >= first.closed_s
    assert (
        first.ready_s
        <= max(first.closed_s, first.utterance.end_s + chunk / RATE + compute_s) + 1e-9
    )
    assert first.ready_s <= plain.ready_s + 1e-9
    if compute_s >= 0.4:  # recognition longer than the rest of the pause: early wins
        assert first.ready_s < plain.ready_s


def test_speech_after_a_short_pause_drops_the_early_result(speech: np.ndarray) -> None:
    """A 0.35 s pause: long enough to start early, too short to close the utterance."""
    recognizer = CountingRecognizer(0.1)
    listener = QuestionListener(recognizer, vocabulary=["Steam milk"])
    audio = np.concatenate([_silence(0.5), speech, _silence(0.35), speech, _silence(1.5)])
    heard = _stream(listener, audio, 1600)
    assert len(heard) == 1
    whole = heard[0]
    assert whole.transcript.text == f"heard {whole.utterance.audio.size}"
    assert whole.utterance.end_s - whole.utterance.start_s > 2 * speech.size / RATE * 0.8
    assert len(recognizer.calls) >= 2  # the early try on the first half was wasted
    assert all(vocabulary == ("Steam milk",) for _, vocabulary in recognizer.calls)


def test_a_busy_recognizer_delays_the_next_one(speech: np.ndarray) -> None:
    """Recognition takes 3 s, longer than the gap between two questions: the second
    waits for the first, as on a live stream with one recognizer."""
    listener = QuestionListener(CountingRecognizer(3.0))
    audio = np.concatenate([_silence(0.5), speech, _silence(1.0), speech, _silence(1.0)])
    first, second = _stream(listener, audio, 1600)
    assert second.ready_s == pytest.approx(first.ready_s + 3.0)


def test_a_clip_gives_the_words_of_each_utterance_in_order(speech: np.ndarray) -> None:
    recognizer = CountingRecognizer(0.0)
    clip = np.concatenate(
        [_silence(0.3), speech, _silence(1.0), speech[: speech.size // 2], _silence(0.5)]
    )
    text = transcribe_clip(clip, recognizer, vocabulary=["Pour milk"])
    sizes = [size for size, _ in recognizer.calls]
    assert len(sizes) == 2 and sizes[0] > sizes[1]
    assert text == f"heard {sizes[0]} heard {sizes[1]}"
    assert transcribe_clip(_silence(2.0), recognizer) == ""
