"""Voice activity detection: where in 16 kHz mono audio someone is speaking.

The speech probability of every 32 ms frame (512 samples) comes from the silero-vad
network (MIT licence), run by onnxruntime from the ``.onnx`` file shipped inside the
``silero-vad`` wheel; silero-vad's own torch code is never imported. A small hysteresis
state machine (:class:`VadConfig`) turns the probabilities into speech segments. The same
machine drives the batch function :func:`detect_speech` and the streaming
:class:`SpeechDetector`, so both find the same segments in the same audio.

Why hand-written: silero-vad's own helpers (``get_speech_timestamps``, ``VADIterator``)
need torch, which recognition does not otherwise load (a test keeps it out), and the
iterator carries no padding or previous-utterance state, so a stream and a clip would
cut different segments. Here the network's recurrent state, its 64-sample context and
the segmenter's state are kept per stream by :class:`SpeechDetector`, and a test
checks that any chunking gives exactly the batch segments.

The audio contract and the errors are in :mod:`prism.speech.audio`.

Examples
--------
>>> config = VadConfig(min_speech_s=0.1, min_silence_s=0.1, speech_pad_s=0.0)
>>> p = np.array([0.1, 0.9, 0.9, 0.9, 0.9, 0.1, 0.1, 0.1, 0.1])
>>> segments_from_probabilities(p, config=config)
[SpeechSegment(start_s=0.032, end_s=0.16)]
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from prism.packages import find_package_dir
from prism.speech.audio import (
    SAMPLE_RATE_HZ,
    SpeechBackendError,
    SpeechInputError,
    check_audio,
)

if TYPE_CHECKING:
    import onnxruntime

__all__ = [
    "FRAME_S",
    "FRAME_SAMPLES",
    "SileroVad",
    "SpeechDetector",
    "SpeechSegment",
    "Utterance",
    "VadConfig",
    "detect_speech",
    "segments_from_probabilities",
    "speech_probabilities",
]

FRAME_SAMPLES = 512
"""Samples in one VAD frame (32 ms at 16 kHz): the silero-vad network's step."""

FRAME_S = FRAME_SAMPLES / SAMPLE_RATE_HZ
"""Length of one VAD frame (s)."""

_CONTEXT_SAMPLES = 64  # the network also sees the last 64 samples of the previous frame
_STATE_SHAPE = (2, 1, 128)  # its recurrent state for one stream
_MODEL_FILE = "silero_vad.onnx"


# ---------------------------------------------------------------- configuration


@dataclass(frozen=True)
class SpeechSegment:
    """One stretch of speech.

    Parameters
    ----------
    start_s, end_s : float
        Start and end (s from the start of the audio or stream), ``start_s < end_s``.
    """

    start_s: float
    end_s: float

    @property
    def duration_s(self) -> float:
        """``end_s - start_s`` (s)."""
        return self.end_s - self.start_s


@dataclass(frozen=True)
class Utterance:
    """A finished utterance cut out of a stream by :class:`SpeechDetector`.

    Parameters
    ----------
    audio : np.ndarray [shape=(n_samples,), float32]
        Its samples at 16 kHz, padding included.
    start_s, end_s : float
        Where it starts and ends in the stream (s).
    """

    audio: np.ndarray
    start_s: float
    end_s: float

    @property
    def segment(self) -> SpeechSegment:
        """Its time span as a :class:`SpeechSegment`."""
        return SpeechSegment(self.start_s, self.end_s)


@dataclass(frozen=True)
class VadConfig:
    """How frame probabilities become speech segments (all times in seconds).

    Parameters
    ----------
    threshold : float
        Speech starts at the first frame with probability >= ``threshold`` (in (0, 1)).
    release_threshold : float or None
        Speech goes on while frames stay >= this (default ``threshold - 0.15``, at least
        0.01); must not exceed ``threshold``.
    min_silence_s : float
        Frames below ``release_threshold`` for this long end the segment (>= 0); pauses
        between words that are shorter stay inside one utterance.
    min_speech_s : float
        Shorter segments (before padding) are dropped as clicks and knocks (>= 0).
    speech_pad_s : float
        Added before and after each segment (>= 0, at most ``min_silence_s``), clipped to
        the audio and to the previous segment.
    max_utterance_s : float
        A segment this long (before padding) is cut here and a new one may start at once
        (> 0); Whisper reads at most 30 s at a time.
    """

    threshold: float = 0.5
    release_threshold: float | None = None
    min_silence_s: float = 0.5
    min_speech_s: float = 0.25
    speech_pad_s: float = 0.2
    max_utterance_s: float = 20.0

    def __post_init__(self) -> None:
        problems = self.problems()
        if problems:
            raise SpeechInputError("invalid VadConfig: " + "; ".join(problems))

    @property
    def release(self) -> float:
        """The threshold that keeps speech going (``release_threshold`` or its default)."""
        if self.release_threshold is not None:
            return self.release_threshold
        return max(self.threshold - 0.15, 0.01)

    def problems(self) -> list[str]:
        """What is wrong with these settings (empty if valid)."""
        found: list[str] = []
        if not (math.isfinite(self.threshold) and 0.0 < self.threshold < 1.0):
            found.append(f"threshold must be in (0, 1), got {self.threshold}")
        elif self.release_threshold is not None and not (
            math.isfinite(self.release_threshold) and 0.0 < self.release_threshold <= self.threshold
        ):
            found.append(
                f"release_threshold must be in (0, threshold={self.threshold}], "
                f"got {self.release_threshold}"
            )
        for field in ("min_silence_s", "min_speech_s", "speech_pad_s"):
            value = getattr(self, field)
            if not (math.isfinite(value) and value >= 0.0):
                found.append(f"{field} must be a finite number >= 0 (s), got {value}")
        if not (math.isfinite(self.max_utterance_s) and self.max_utterance_s > 0.0):
            found.append(
                f"max_utterance_s must be a finite number > 0 (s), got {self.max_utterance_s}"
            )
        if self.speech_pad_s > self.min_silence_s:
            found.append(
                f"speech_pad_s ({self.speech_pad_s}) must not exceed min_silence_s "
                f"({self.min_silence_s})"
            )
        return found


# ---------------------------------------------------------------- the hysteresis machine


class _Segmenter:
    """Frame-by-frame hysteresis over speech probabilities; yields (start, stop) frames.

    Private: assumes a valid config and probabilities in [0, 1].
    """

    def __init__(self, config: VadConfig) -> None:
        self._threshold = config.threshold
        self._release = config.release
        self._silence_frames = math.ceil(config.min_silence_s / FRAME_S - 1e-9)
        self.min_frames = math.ceil(config.min_speech_s / FRAME_S - 1e-9)
        self._max_frames = max(math.floor(config.max_utterance_s / FRAME_S + 1e-9), 1)
        self.frame = 0  # index of the next frame
        self.start: int | None = None  # first frame of the open segment
        self.last_speech = 0  # last frame of the open segment at or above the release

    def push(self, probability: float) -> tuple[int, int, bool] | None:
        """Consume one frame; return a finished segment or None.

        A segment is ``(start, stop, cut)``: frames ``[start, stop)``, and whether it was
        cut at ``max_utterance_s`` (then it gets no end padding: speech goes on).
        """
        i = self.frame
        self.frame += 1
        if self.start is None:
            if probability >= self._threshold:
                self.start, self.last_speech = i, i
            return None
        if probability >= self._release:
            self.last_speech = i
            if i + 1 - self.start >= self._max_frames:
                return self._close(i + 1, cut=True)
        elif i - self.last_speech >= self._silence_frames:
            return self._close(self.last_speech + 1, cut=False)
        return None

    def finish(self) -> tuple[int, int, bool] | None:
        """End of audio: close the open segment, if any."""
        return None if self.start is None else self._close(self.last_speech + 1, cut=False)

    def _close(self, stop: int, *, cut: bool) -> tuple[int, int, bool] | None:
        start, self.start = self.start, None
        if start is None or stop - start < self.min_frames:
            return None
        return start, stop, cut


def _padded(
    frames: tuple[int, int, bool], pad: int, total: int, previous_stop: int
) -> tuple[int, int]:
    """Sample span of a segment with ``pad`` samples each side, clipped to [previous, total].

    A segment cut at ``max_utterance_s`` gets no end padding (the next one starts there).
    """
    start_frame, stop_frame, cut = frames
    start = max(start_frame * FRAME_SAMPLES - pad, previous_stop, 0)
    stop = min(stop_frame * FRAME_SAMPLES + (0 if cut else pad), total)
    return start, stop


def segments_from_probabilities(
    probabilities: np.ndarray, *, config: VadConfig | None = None, total_s: float | None = None
) -> list[SpeechSegment]:
    """Speech segments from per-frame speech probabilities (pure; no model involved).

    Parameters
    ----------
    probabilities : np.ndarray [shape=(n_frames,), in [0, 1]]
        Speech probability of each 32 ms frame (:data:`FRAME_S`).
    config : VadConfig or None
        Thresholds and durations (default :class:`VadConfig()`).
    total_s : float or None
        Length of the audio (s) to clip the padding to; default ``n_frames * FRAME_S``.

    Returns
    -------
    list of SpeechSegment
        In time order, not overlapping; times rounded to the microsecond.

    Raises
    ------
    SpeechInputError
        If the probabilities are not a 1-D array of numbers in [0, 1].
    """
    config = config or VadConfig()
    p = np.asarray(probabilities, dtype=np.float64)
    if p.ndim != 1 or not (np.isfinite(p).all() and (p >= 0).all() and (p <= 1).all()):
        raise SpeechInputError(
            f"probabilities must be a 1-D array of numbers in [0, 1], got shape {p.shape}"
        )
    total = p.size * FRAME_SAMPLES if total_s is None else round(total_s * SAMPLE_RATE_HZ)
    return [
        SpeechSegment(start / SAMPLE_RATE_HZ, stop / SAMPLE_RATE_HZ)
        for start, stop in _sample_spans(p, config, total)
    ]


def _sample_spans(p: np.ndarray, config: VadConfig, total: int) -> list[tuple[int, int]]:
    segmenter = _Segmenter(config)
    pad = round(config.speech_pad_s * SAMPLE_RATE_HZ)
    spans: list[tuple[int, int]] = []
    for value in p:
        closed = segmenter.push(float(value))
        if closed is not None:
            spans.append(_padded(closed, pad, total, spans[-1][1] if spans else 0))
    closed = segmenter.finish()
    if closed is not None:
        spans.append(_padded(closed, pad, total, spans[-1][1] if spans else 0))
    return spans


# ---------------------------------------------------------------- the silero network


@cache
def _session(path: str) -> onnxruntime.InferenceSession:
    """One shared single-threaded onnxruntime session per model file."""
    try:
        import onnxruntime
    except ImportError as error:  # pragma: no cover - depends on the environment
        raise SpeechBackendError(
            "voice activity detection needs the Python package 'onnxruntime'; "
            "install it with: pip install onnxruntime"
        ) from error
    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = 1
    options.inter_op_num_threads = 1
    options.log_severity_level = 3
    return onnxruntime.InferenceSession(
        path, sess_options=options, providers=["CPUExecutionProvider"]
    )


def _default_model_path() -> Path:
    root = find_package_dir("silero_vad")
    if root is None:
        raise SpeechBackendError(
            "voice activity detection needs the model package 'silero-vad'; "
            "install it with: pip install silero-vad (its torch code is not used)"
        )
    path = root / "data" / _MODEL_FILE
    if not path.is_file():
        raise SpeechBackendError(
            f"the silero-vad package at {root} has no data/{_MODEL_FILE}; "
            "reinstall it with: pip install --force-reinstall silero-vad"
        )
    return path


class SileroVad:
    """The silero-vad network for one audio stream: 512-sample frames -> speech probability.

    Keeps the network's recurrent state and the last 64 samples between calls, so
    consecutive calls behave like one long call. The onnxruntime session (one thread) is
    loaded on first use and shared by every instance in the process.

    Parameters
    ----------
    model_path : Path or None
        An ``.onnx`` file with silero-vad's interface (inputs ``input``, ``state``,
        ``sr``); default: ``silero_vad/data/silero_vad.onnx`` of the installed package.
    """

    def __init__(self, *, model_path: Path | None = None) -> None:
        self.model_path = model_path
        self.reset()

    def reset(self) -> None:
        """Forget the stream: zero state and context."""
        self._state = np.zeros(_STATE_SHAPE, dtype=np.float32)
        self._context = np.zeros(_CONTEXT_SAMPLES, dtype=np.float32)

    def probabilities(self, frames: np.ndarray) -> np.ndarray:
        """Speech probability of each consecutive frame.

        Parameters
        ----------
        frames : np.ndarray [shape=(n_frames, 512), float32]
            Consecutive frames of the stream (private contract: already validated).

        Returns
        -------
        np.ndarray [shape=(n_frames,), float64, in [0, 1]]
        """
        session = _session(str(self.model_path or _default_model_path()))
        rate = np.array(SAMPLE_RATE_HZ, dtype=np.int64)
        out = np.empty(frames.shape[0])
        for i, frame in enumerate(frames):
            window = np.concatenate([self._context, frame])[np.newaxis, :]
            probability, self._state = session.run(
                None, {"input": window, "state": self._state, "sr": rate}
            )
            out[i] = float(probability[0, 0])
            self._context = frame[-_CONTEXT_SAMPLES:].copy()
        return np.clip(out, 0.0, 1.0)


def _frames(audio: np.ndarray) -> np.ndarray:
    """Split into whole frames, zero-padding the last partial one. Shape (n_frames, 512)."""
    n_frames = math.ceil(audio.size / FRAME_SAMPLES)
    padded = np.zeros(n_frames * FRAME_SAMPLES, dtype=np.float32)
    padded[: audio.size] = audio
    return padded.reshape(n_frames, FRAME_SAMPLES)


def speech_probabilities(audio: np.ndarray, sample_rate: int = SAMPLE_RATE_HZ) -> np.ndarray:
    """Speech probability of every 32 ms frame of a clip.

    Parameters
    ----------
    audio : np.ndarray [shape=(n_samples,), float, mono]
        The clip (see :func:`check_audio`).
    sample_rate : int
        Must be 16000 (Hz).

    Returns
    -------
    np.ndarray [shape=(ceil(n_samples / 512),), float64, in [0, 1]]
        Frame ``i`` covers samples ``[512 i, 512 (i + 1))``; the last one is zero-padded.
    """
    audio = check_audio(audio, sample_rate)
    return SileroVad().probabilities(_frames(audio))


def detect_speech(
    audio: np.ndarray, sample_rate: int = SAMPLE_RATE_HZ, *, config: VadConfig | None = None
) -> list[SpeechSegment]:
    """Find the speech segments of a clip (a push-to-talk recording or a longer stream).

    Parameters
    ----------
    audio : np.ndarray [shape=(n_samples,), float, mono]
        The clip (see :func:`check_audio`).
    sample_rate : int
        Must be 16000 (Hz).
    config : VadConfig or None
        Thresholds and durations (default :class:`VadConfig()`).

    Returns
    -------
    list of SpeechSegment
        In time order, not overlapping, within ``[0, n_samples / 16000]`` s.

    Raises
    ------
    SpeechInputError
        On invalid audio (see :func:`check_audio`).
    SpeechBackendError
        If onnxruntime or silero-vad is not installed.
    """
    audio = check_audio(audio, sample_rate)
    p = SileroVad().probabilities(_frames(audio))
    return segments_from_probabilities(p, config=config, total_s=audio.size / SAMPLE_RATE_HZ)


# ---------------------------------------------------------------- streaming


class SpeechDetector:
    """Streaming VAD: push audio chunks of any length, get finished utterances back.

    Finds exactly the segments :func:`detect_speech` finds in the concatenated stream.
    An utterance is returned as soon as ``min_silence_s`` of silence follows it (or it
    reaches ``max_utterance_s``); :meth:`flush` ends the stream and returns the open one.
    Only the audio of the open utterance and the last ``speech_pad_s`` are kept.
    Not thread-safe: one detector per stream.

    Parameters
    ----------
    config : VadConfig or None
        Thresholds and durations (default :class:`VadConfig()`).
    sample_rate : int
        Must be 16000 (Hz).
    model_path : Path or None
        See :class:`SileroVad`.

    Examples
    --------
    >>> detector = SpeechDetector()
    >>> detector.push(np.zeros(16000, dtype=np.float32))
    []
    >>> detector.time_s, detector.flush()
    (1.0, [])
    """

    def __init__(
        self,
        config: VadConfig | None = None,
        *,
        sample_rate: int = SAMPLE_RATE_HZ,
        model_path: Path | None = None,
    ) -> None:
        check_audio(np.zeros(0, dtype=np.float32), sample_rate, allow_empty=True)
        self.config = config or VadConfig()
        self.sample_rate = sample_rate
        self._network = SileroVad(model_path=model_path)
        self.reset()

    def reset(self) -> None:
        """Start a new stream at time 0."""
        self._network.reset()
        self._segmenter = _Segmenter(self.config)
        self._pad = round(self.config.speech_pad_s * SAMPLE_RATE_HZ)
        self._buffer = np.zeros(0, dtype=np.float32)  # samples from self._offset on
        self._offset = 0  # stream index of self._buffer[0]
        self._received = 0  # samples received
        self._scored = 0  # samples handed to the network (whole frames)
        self._previous_stop = 0  # end of the last utterance (samples)

    @property
    def time_s(self) -> float:
        """Length of the stream received so far (s)."""
        return self._received / SAMPLE_RATE_HZ

    @property
    def in_speech(self) -> bool:
        """Whether an utterance is open (started, not yet finished)."""
        return self._segmenter.start is not None

    def pending(self) -> Utterance | None:
        """The open utterance as it will be cut if the silence it is in goes on.

        Available once the open segment has been silent for ``speech_pad_s`` (its end
        padding has arrived), ``min_silence_s`` before :meth:`push` returns it. If no
        speech comes back, the utterance :meth:`push` returns later is the same (same
        ``start_s``, ``end_s`` and audio), so a recognizer can start on it early
        (:class:`~prism.speech.listener.QuestionListener`).

        Returns
        -------
        Utterance or None
            None while no utterance is open, while speech goes on, before the end
            padding has arrived, or if the open segment is shorter than
            ``min_speech_s``.
        """
        segmenter = self._segmenter
        if segmenter.start is None or segmenter.frame - 1 <= segmenter.last_speech:
            return None
        frames = (segmenter.start, segmenter.last_speech + 1, False)
        if frames[1] - frames[0] < segmenter.min_frames:
            return None
        start, stop = _padded(frames, self._pad, self._received, self._previous_stop)
        if stop < frames[1] * FRAME_SAMPLES + self._pad:
            return None
        audio = self._buffer[start - self._offset : stop - self._offset].copy()
        return Utterance(audio, start / SAMPLE_RATE_HZ, stop / SAMPLE_RATE_HZ)

    def push(self, chunk: np.ndarray) -> list[Utterance]:
        """Add the next samples of the stream.

        Parameters
        ----------
        chunk : np.ndarray [shape=(n_samples,), float, mono]
            The next samples (may be empty).

        Returns
        -------
        list of Utterance
            Utterances that finished within this chunk (usually none or one).
        """
        chunk = check_audio(chunk, SAMPLE_RATE_HZ, name="chunk", allow_empty=True)
        self._buffer = np.concatenate([self._buffer, chunk])
        self._received += chunk.size
        whole = (self._received - self._scored) // FRAME_SAMPLES * FRAME_SAMPLES
        start = self._scored - self._offset
        frames = self._buffer[start : start + whole].reshape(-1, FRAME_SAMPLES)
        self._scored += whole
        return self._consume(frames, final=False)

    def flush(self) -> list[Utterance]:
        """End the stream: score the last partial frame and close the open utterance.

        The detector then starts a new stream at time 0 (as after :meth:`reset`).
        """
        tail = self._buffer[self._scored - self._offset :]
        frames = _frames(tail) if tail.size else np.zeros((0, FRAME_SAMPLES), np.float32)
        finished = self._consume(frames, final=True)
        self.reset()
        return finished

    def _consume(self, frames: np.ndarray, *, final: bool) -> list[Utterance]:
        finished: list[Utterance] = []
        for probability in self._network.probabilities(frames) if frames.size else ():
            closed = self._segmenter.push(float(probability))
            if closed is not None:
                finished.append(self._cut(closed))
        if final:
            closed = self._segmenter.finish()
            if closed is not None:
                finished.append(self._cut(closed))
        self._trim()
        return finished

    def _cut(self, frames: tuple[int, int, bool]) -> Utterance:
        start, stop = _padded(frames, self._pad, self._received, self._previous_stop)
        self._previous_stop = stop
        audio = self._buffer[start - self._offset : stop - self._offset].copy()
        return Utterance(audio, start / SAMPLE_RATE_HZ, stop / SAMPLE_RATE_HZ)

    def _trim(self) -> None:
        """Drop samples no utterance can need any more."""
        open_start = self._segmenter.start
        keep_from = (
            open_start * FRAME_SAMPLES if open_start is not None else self._scored
        ) - self._pad
        keep_from = max(keep_from, self._previous_stop, self._offset)
        self._buffer = self._buffer[keep_from - self._offset :]
        self._offset = keep_from
