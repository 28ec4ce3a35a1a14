"""Tests for voice activity detection (silero-vad via onnxruntime) and the audio contract."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from prism.data.synth.kitchen import kitchen_noise
from prism.data.synth.mixing import mix_at_snr
from prism.packages import find_package_dir
from prism.speech import tts
from prism.speech.audio import (
    SAMPLE_RATE_HZ,
    SpeechBackendError,
    SpeechInputError,
    check_audio,
)
from prism.speech.vad import (
    FRAME_S,
    SpeechDetector,
    SpeechSegment,
    Utterance,
    VadConfig,
    detect_speech,
    segments_from_probabilities,
    speech_probabilities,
)

pytestmark = pytest.mark.skipif(
    find_package_dir("silero_vad") is None or find_package_dir("onnxruntime") is None,
    reason="silero-vad and onnxruntime are not installed (pip install silero-vad onnxruntime)",
)
needs_espeak = pytest.mark.skipif(
    not tts.espeak_available(), reason="espeak-ng is not installed (apt-get install espeak-ng)"
)

RATE = SAMPLE_RATE_HZ


def _silence(seconds: float) -> np.ndarray:
    return np.zeros(round(seconds * RATE), dtype=np.float32)


@pytest.fixture(scope="module")
def sentence() -> tuple[np.ndarray, float, float]:
    """A synthesized question and where its sound starts and ends within it (s)."""
    audio, _ = tts.synthesize("what is the next step")
    loud = np.flatnonzero(np.abs(audio) > 1e-3)
    return audio, loud[0] / RATE, (loud[-1] + 1) / RATE


@needs_espeak
@pytest.mark.parametrize("snr_db", [None, 15.0], ids=["clean", "kitchen-noise-15dB"])
def test_finds_a_spoken_sentence_between_silences(
    sentence: tuple[np.ndarray, float, float], snr_db: float | None
) -> None:
    speech, on, off = sentence
    audio = np.concatenate([_silence(1.0), speech, _silence(1.5)])
    if snr_db is not None:
        noise = kitchen_noise(audio.size / RATE, np.random.default_rng(0))
        audio, _ = mix_at_snr(audio, noise[: audio.size], snr_db, over="active")
    segments = detect_speech(audio)
    assert len(segments) == 1
    assert segments[0].start_s == pytest.approx(1.0 + on, abs=0.3)
    assert segments[0].end_s == pytest.approx(1.0 + off, abs=0.3)


@pytest.mark.parametrize(
    "make",
    [
        lambda rng: _silence(3.0),
        lambda rng: kitchen_noise(3.0, rng, level_db=-20.0),
        lambda rng: (0.01 * rng.standard_normal(3 * RATE)).astype(np.float32),
        lambda rng: _silence(0.01),
    ],
    ids=["silence", "kitchen-noise", "white-noise", "shorter-than-a-frame"],
)
def test_finds_nothing_without_speech(make: object, rng: np.random.Generator) -> None:
    assert callable(make)
    assert detect_speech(make(rng)) == []


def test_probabilities_cover_every_frame_in_range(rng: np.random.Generator) -> None:
    audio = (0.01 * rng.standard_normal(RATE + 100)).astype(np.float32)
    p = speech_probabilities(audio)
    assert p.shape == (32,)  # ceil(16100 / 512)
    assert ((p >= 0) & (p <= 1)).all()


@needs_espeak
def test_streaming_finds_what_the_batch_finds(
    sentence: tuple[np.ndarray, float, float], rng: np.random.Generator
) -> None:
    speech = sentence[0]
    audio = np.concatenate([_silence(0.7), speech, _silence(1.2), speech, _silence(0.3)])
    batch = detect_speech(audio)
    assert len(batch) == 2
    detector = SpeechDetector()
    utterances, position = [], 0
    while position < audio.size:
        size = int(rng.integers(0, 3000))
        utterances += detector.push(audio[position : position + size])
        position += size
    first_done_at = detector.time_s
    utterances += detector.flush()
    assert [u.segment for u in utterances] == batch
    for u in utterances:
        start, stop = round(u.start_s * RATE), round(u.end_s * RATE)
        assert np.array_equal(u.audio, audio[start:stop])
    assert first_done_at > batch[0].end_s  # the first was emitted before the flush
    assert detector.time_s == 0.0  # flush starts a new stream


@needs_espeak
@settings(max_examples=15, deadline=None)
@given(chunks=st.lists(st.integers(1, 4000), min_size=1, max_size=40))
def test_a_pending_utterance_is_the_one_closed_if_silence_goes_on(
    sentence: tuple[np.ndarray, float, float], chunks: list[int]
) -> None:
    """Whatever the chunking, every pending utterance either is exactly the utterance
    the detector closes next (same span and samples) or is followed by more speech; the
    pending one is there before the detector closes it."""
    speech = sentence[0]
    audio = np.concatenate([_silence(0.4), speech, _silence(0.35), speech, _silence(1.0)])
    detector = SpeechDetector()
    pending: list[tuple[float, Utterance]] = []  # (stream time seen, utterance)
    closed: list[tuple[float, Utterance]] = []
    position, sizes = 0, iter(chunks * (audio.size // min(chunks) + 1))
    while position < audio.size:
        size = next(sizes)
        closed += [(detector.time_s, u) for u in detector.push(audio[position : position + size])]
        position += size
        candidate = detector.pending()
        if candidate is not None:
            pending.append((detector.time_s, candidate))
    closed += [(detector.time_s, u) for u in detector.flush()]
    assert closed, "the detector heard nothing"
    last = closed[-1][1]
    spans = {c.segment for _, c in closed}
    matches = [
        (seen, u) for seen, u in pending if (u.start_s, u.end_s) == (last.start_s, last.end_s)
    ]
    assert matches, "the last utterance was never pending"
    seen_at, early = matches[0]
    assert np.array_equal(early.audio, last.audio)
    assert last.end_s - 1e-9 <= seen_at < closed[-1][0]  # after its padding, before closing
    for _, u in pending:  # any other pending span was cut short by speech coming back
        if u.segment not in spans:
            assert any(c.start_s <= u.start_s and c.end_s > u.end_s for _, c in closed)


def test_nothing_is_pending_in_silence(rng: np.random.Generator) -> None:
    detector = SpeechDetector()
    detector.push(kitchen_noise(2.0, rng, level_db=-30.0))
    assert detector.pending() is None


def test_detector_keeps_only_what_it_needs(rng: np.random.Generator) -> None:
    detector = SpeechDetector()
    for _ in range(20):
        assert detector.push(kitchen_noise(1.0, rng, level_db=-30.0)) == []
    assert not detector.in_speech
    pad = round(detector.config.speech_pad_s * RATE)
    assert detector._buffer.size <= pad + 512  # the padding and a partial frame
    assert detector.time_s == pytest.approx(20.0)


# ---------------------------------------------------------------- the hysteresis machine


def _config(**changes: float) -> VadConfig:
    settings = {"min_speech_s": 0.1, "min_silence_s": 0.1, "speech_pad_s": 0.0}
    settings.update(changes)
    return VadConfig(**settings)


def test_segments_known_answer() -> None:
    p = np.array([0.1, 0.9, 0.9, 0.9, 0.9, 0.1, 0.1, 0.1, 0.1, 0.1])
    assert segments_from_probabilities(p, config=_config()) == [SpeechSegment(FRAME_S, 5 * FRAME_S)]


def test_release_threshold_keeps_speech_going() -> None:
    p = np.array([0.9, 0.9, 0.4, 0.4, 0.4, 0.4, 0.4, 0.9, 0.1, 0.1, 0.1, 0.1])
    one = segments_from_probabilities(p, config=_config(release_threshold=0.3))
    assert one == [SpeechSegment(0.0, 8 * FRAME_S)]
    two = segments_from_probabilities(p, config=_config(release_threshold=0.5, min_speech_s=0))
    assert two == [SpeechSegment(0.0, 2 * FRAME_S), SpeechSegment(7 * FRAME_S, 8 * FRAME_S)]


def test_short_pauses_stay_inside_and_short_blips_are_dropped() -> None:
    p = np.array([0.9] * 5 + [0.1] * 2 + [0.9] * 5 + [0.1] * 10 + [0.9] + [0.1] * 5)
    segments = segments_from_probabilities(p, config=_config())
    assert segments == [SpeechSegment(0.0, 12 * FRAME_S)]


def test_padding_is_clipped_to_the_audio_and_the_previous_segment() -> None:
    p = np.array([0.9] * 5 + [0.1] * 4 + [0.9] * 5)
    segments = segments_from_probabilities(p, config=_config(speech_pad_s=0.1, min_silence_s=0.1))
    pad = round(0.1 * RATE) / RATE
    assert segments[0] == SpeechSegment(0.0, 5 * FRAME_S + pad)
    assert segments[1].start_s == pytest.approx(segments[0].end_s)
    assert segments[1].end_s == pytest.approx(14 * FRAME_S)


def test_long_speech_is_cut_at_max_utterance() -> None:
    p = np.full(100, 0.9)
    segments = segments_from_probabilities(p, config=_config(max_utterance_s=40 * FRAME_S))
    assert [(round(s.start_s / FRAME_S), round(s.end_s / FRAME_S)) for s in segments] == [
        (0, 40),
        (40, 80),
        (80, 100),
    ]


@pytest.mark.parametrize(
    ("changes", "match"),
    [
        ({"threshold": 1.0}, "threshold must be in"),
        ({"threshold": float("nan")}, "threshold must be in"),
        ({"release_threshold": 0.7}, "release_threshold must be in"),
        ({"min_silence_s": -1.0}, "min_silence_s must be"),
        ({"speech_pad_s": 0.6}, "must not exceed min_silence_s"),
        ({"max_utterance_s": 0.0}, "max_utterance_s must be"),
    ],
    ids=["threshold-1", "threshold-nan", "release-above", "silence-negative", "pad-long", "max-0"],
)
def test_bad_config_is_rejected(changes: dict[str, float], match: str) -> None:
    with pytest.raises(SpeechInputError, match=match):
        VadConfig(**changes)


@pytest.mark.parametrize(
    "p",
    [np.array([0.5, 1.5]), np.array([[0.5]]), np.array([np.nan])],
    ids=["above-1", "2-d", "nan"],
)
def test_bad_probabilities_are_rejected(p: np.ndarray) -> None:
    with pytest.raises(SpeechInputError, match="probabilities must be"):
        segments_from_probabilities(p)


# ---------------------------------------------------------------- the audio contract

BAD_SAMPLES = [
    pytest.param(np.zeros((RATE, 2), np.float32), "must be mono.*average", id="stereo"),
    pytest.param(np.array([0.0, np.nan], np.float32), "must be finite.*sample 1", id="nan"),
    pytest.param(np.array([np.inf, 0.0]), "must be finite", id="inf"),
    pytest.param(np.zeros(10, np.int16), "floating-point.*32768", id="int16"),
    pytest.param([0.0, 0.1], "numpy array", id="list"),
]
BAD_RATES = [
    pytest.param(44_100, "16000 Hz, got 44100", id="rate-44k"),
    pytest.param(8_000, "16000 Hz, got 8000", id="rate-8k"),
    pytest.param(16_000.0, "must be an int", id="rate-float"),
]


@pytest.mark.parametrize(
    ("audio", "match"),
    [*BAD_SAMPLES, pytest.param(np.zeros(0, np.float32), "is empty", id="empty")],
)
def test_bad_audio_is_rejected(audio: np.ndarray, match: str) -> None:
    with pytest.raises(SpeechInputError, match=match):
        detect_speech(audio)
    with pytest.raises(SpeechInputError, match=match):
        check_audio(audio)


@pytest.mark.parametrize(("audio", "match"), BAD_SAMPLES)
def test_bad_chunks_are_rejected(audio: np.ndarray, match: str) -> None:
    with pytest.raises(SpeechInputError, match=match):
        SpeechDetector().push(audio)


@pytest.mark.parametrize(("rate", "match"), BAD_RATES)
def test_other_sample_rates_are_rejected(rate: int, match: str) -> None:
    with pytest.raises(SpeechInputError, match=match):
        detect_speech(np.zeros(RATE, np.float32), rate)
    with pytest.raises(SpeechInputError, match=match):
        SpeechDetector(sample_rate=rate)


def test_missing_model_package_names_the_pip_command(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "silero_vad", None)
    with pytest.raises(SpeechBackendError, match="pip install silero-vad"):
        detect_speech(_silence(1.0))


def test_torch_is_never_imported() -> None:
    code = textwrap.dedent(
        """
        import sys
        import numpy as np
        from prism.speech import detect_speech
        detect_speech(np.zeros(16000, dtype=np.float32))
        assert "torch" not in sys.modules and "silero_vad" not in sys.modules
        """
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=60)
