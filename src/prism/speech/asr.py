"""Offline speech recognition with faster-whisper (CTranslate2) and a local Whisper model.

:class:`Transcriber` recognizes one utterance at a time with the model that
:class:`~prism.speech.config.AsrConfig` names (:mod:`~prism.speech.models` finds or
builds its folder; nothing is ever downloaded: ``HF_HUB_OFFLINE=1`` is set before
faster-whisper is imported and models are opened from local folders only). Weights are
quantized to int8 on load; decoding is beam search (5 beams) at temperature 0, biased
towards a procedure's words by a prompt built from its step names followed by typical
questions (:func:`~prism.speech.prompt.vocabulary_prompt`), passed as Whisper's
``initial_prompt`` (default) or as faster-whisper's ``hotwords``. Every finished beam is
kept and one is chosen with a language model of questions
(:func:`~prism.speech.question_lm.rescore`).

:class:`SpeechRecognizer` is what the assistant and the service need from a recognizer;
:class:`~prism.speech.remote_asr.RemoteTranscriber` is the other one.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np

from prism.speech.audio import (
    SAMPLE_RATE_HZ,
    SpeechInputError,
    check_audio,
    missing_package,
)
from prism.speech.config import MAX_UTTERANCE_S, AsrConfig
from prism.speech.denoise import FrontEnd
from prism.speech.models import front_end, model_directory, shipped_adapter
from prism.speech.prompt import vocabulary_prompt
from prism.speech.question_lm import question_model, rescore

if TYPE_CHECKING:
    from ctranslate2 import StorageView
    from faster_whisper import WhisperModel
    from faster_whisper.tokenizer import Tokenizer

__all__ = [
    "SpeechRecognizer",
    "Transcriber",
    "Transcript",
    "check_utterance",
    "encode_audio",
    "load_whisper",
    "prompt_tokens",
]

_load_lock = threading.Lock()
_SILENCE_AFTER_S = 5.0  # silence Whisper reads after an utterance at least (s)


@dataclass(frozen=True)
class Transcript:
    """What was said.

    Parameters
    ----------
    text : str
        The recognized text, stripped ("" if nothing was recognized or every segment
        was judged not speech).
    duration_s : float
        Length of the audio (s).
    compute_s : float
        Wall-clock time the recognition took (s), model loading excluded.
    model : str
        The model's name (or folder).
    avg_logprob : float
        Mean log probability per token of the chosen hypothesis (-inf if no text).
    no_speech_prob : float
        Whisper's probability that the audio holds no speech.
    prompt : str
        The vocabulary prompt or hotwords used ("" if none).
    """

    text: str
    duration_s: float
    compute_s: float
    model: str
    avg_logprob: float = float("-inf")
    no_speech_prob: float = 1.0
    prompt: str = ""


# ---------------------------------------------------------------- faster-whisper


@cache
def load_whisper(folder: str | Path, compute_type: str, cpu_threads: int) -> WhisperModel:
    """Load (once per process and setting) a CTranslate2 Whisper model from a local folder.

    Raises
    ------
    SpeechBackendError
        If faster-whisper is not installed.
    """
    os.environ["HF_HUB_OFFLINE"] = "1"  # belt and braces: never reach a model hub
    try:
        from faster_whisper import WhisperModel
    except ImportError as error:
        raise missing_package("faster-whisper", "Whisper") from error
    return WhisperModel(
        str(folder),
        device="cpu",
        compute_type=compute_type,
        cpu_threads=cpu_threads,
        num_workers=1,
        local_files_only=True,
    )


def _tokenizer(model: WhisperModel) -> Tokenizer:
    from faster_whisper.tokenizer import Tokenizer

    return Tokenizer(
        model.hf_tokenizer, model.model.is_multilingual, task="transcribe", language="en"
    )


def encode_audio(model: WhisperModel, audio: np.ndarray, window_s: float = 30.0) -> np.ndarray:
    """Whisper's encoder output for one utterance in a window of ``window_s`` seconds.

    Parameters
    ----------
    audio : np.ndarray [shape=(n_samples,), float32, 16 kHz], at most 30 s
    window_s : float
        The audio is padded with silence to this length (s, at most 30), or to its own
        length plus 5 s if longer. Below 10 s Whisper tends to repeat a short question
        (:class:`~prism.speech.config.AsrConfig` refuses such a ``window_s``).

    Returns
    -------
    np.ndarray [shape=(1, 50 * window, width), float32]
        ``window`` in s (30 s: 1500 positions); ``width`` is 384 for tiny.en, 512 for
        base.
    """
    return np.asarray(_encode(model, audio, window_s))


def _encode(model: WhisperModel, audio: np.ndarray, window_s: float) -> StorageView:
    """Encode in a window shorter than Whisper's 30 s: the encoder's cost grows with the
    window (15 s: 0.6x the time of 30 s on tiny.en), and a spoken question is a few
    seconds long."""
    from faster_whisper.audio import pad_or_trim

    features = model.feature_extractor(audio)[:, :-1]  # the last frame is padding
    full = model.feature_extractor.nb_max_frames  # 3000 frames: 30 s
    per_s = full / 30.0
    # silence after the audio: without enough, Whisper does not end its transcript and
    # repeats it
    needed = features.shape[-1] + round(_SILENCE_AFTER_S * per_s)
    frames = min(full, max(round(window_s * per_s), needed))
    frames += frames % 2  # the encoder halves the frames with a stride of 2
    return model.encode(pad_or_trim(features, frames))


def prompt_tokens(
    model: WhisperModel, prompt: str, hotwords: str = ""
) -> tuple[list[int], Tokenizer]:
    """The tokens Whisper reads before the text: the prompt as previous text, start of
    transcript, no timestamps (English, transcribe); and the tokenizer."""
    tokenizer = _tokenizer(model)
    previous = tokenizer.encode(" " + prompt.strip()) if prompt else []
    start = model.get_prompt(
        tokenizer, previous, without_timestamps=True, hotwords=hotwords or None
    )
    return list(start), tokenizer


# ---------------------------------------------------------------- the recognizer


def _decode_hypotheses(
    model: WhisperModel,
    audio: np.ndarray,
    prompt: str,
    hotwords: str,
    beam_size: int,
    window_s: float,
) -> tuple[list[tuple[str, float]], float]:
    """Whisper's ``beam_size`` best transcripts of one utterance (at most 30 s).

    The same decoding as faster-whisper's ``transcribe`` for one window of ``window_s``
    (English, no timestamps, temperature 0, its default suppressed tokens) but keeping
    every finished beam.

    Returns
    -------
    hypotheses : list of (text, mean log probability per token), best first
    no_speech_prob : float
        Whisper's probability that the window holds no speech.
    """
    from faster_whisper.transcribe import get_suppressed_tokens

    start, tokenizer = prompt_tokens(model, prompt, hotwords)
    result = model.model.generate(
        _encode(model, audio, window_s),
        [start],
        beam_size=beam_size,
        num_hypotheses=beam_size,
        max_length=model.max_length,
        return_scores=True,
        return_no_speech_prob=True,
        suppress_blank=True,
        suppress_tokens=get_suppressed_tokens(tokenizer, (-1,)),
    )[0]
    hypotheses = [
        (tokenizer.decode(ids).strip(), float(score))
        for ids, score in zip(result.sequences_ids, result.scores, strict=True)
    ]
    return hypotheses, float(result.no_speech_prob)


def check_utterance(
    audio: np.ndarray, sample_rate: int, max_duration_s: float = MAX_UTTERANCE_S
) -> tuple[np.ndarray, float]:
    """:func:`check_audio`, and no longer than ``max_duration_s``.

    Returns
    -------
    audio : np.ndarray [shape=(n_samples,), float32, 16 kHz]
    duration_s : float

    Raises
    ------
    SpeechInputError
        On invalid audio or audio longer than ``max_duration_s``.
    """
    audio = check_audio(audio, sample_rate)
    duration_s = audio.size / SAMPLE_RATE_HZ
    if duration_s > max_duration_s:
        raise SpeechInputError(
            f"audio must be at most {max_duration_s} s long, got "
            f"{duration_s:.2f} s; cut it into utterances first (SpeechDetector)"
        )
    return audio, duration_s


class SpeechRecognizer(Protocol):
    """What the assistant needs from a speech recognizer: :class:`Transcriber` (local
    Whisper) or :class:`~prism.speech.remote_asr.RemoteTranscriber`."""

    @property
    def model_name(self) -> str:
        """The model's name (and where it runs)."""
        ...

    def load(self) -> SpeechRecognizer:
        """Get ready now rather than on the first call; returns ``self``."""
        ...

    def describe(self) -> dict[str, Any]:
        """The recognizer's settings, JSON-ready."""
        ...

    def transcribe(
        self,
        audio: np.ndarray,
        sample_rate: int = SAMPLE_RATE_HZ,
        *,
        vocabulary: Sequence[str] = (),
    ) -> Transcript:
        """Recognize what is said in one utterance (16 kHz mono float)."""
        ...


class Transcriber:
    """Transcribes short spoken questions (16 kHz mono float audio).

    The model is loaded on the first :meth:`transcribe` (or :meth:`load`) and shared by
    every transcriber in the process with the same folder, compute type and threads.
    Calls are serialized by a lock.

    Parameters
    ----------
    config : AsrConfig or None
        Model and decoding settings (default :class:`AsrConfig()`).

    Examples
    --------
    >>> transcriber = Transcriber(AsrConfig(cpu_threads=1))
    >>> transcriber.transcribe(np.zeros(16000, np.float32)).text  # doctest: +SKIP
    ''
    """

    def __init__(self, config: AsrConfig | None = None) -> None:
        self.config = config or AsrConfig()
        self._model: WhisperModel | None = None
        self._front_end: FrontEnd | None = None
        self._lock = threading.Lock()

    @property
    def model_name(self) -> str:
        """The configured model's name, or its folder if ``model_dir`` is set."""
        return str(self.config.model_dir) if self.config.model_dir else self.config.model

    def describe(self) -> dict[str, Any]:
        """The recognizer's settings, JSON-ready."""
        adapted = self.config.model == "tiny.en-adapted" and self.config.model_dir is None
        return {
            "model": self.model_name,
            **(
                {
                    "adapter": str(self.config.adapter or shipped_adapter()),
                    "adapter_weight": self.config.adapter_weight,
                }
                if adapted
                else {}
            ),
            "front_end": self.front_end().to_dict(),
            "beam_size": self.config.beam_size,
            "cpu_threads": self.config.cpu_threads,
            "vocabulary_mode": self.config.vocabulary_mode,
        }

    def front_end(self) -> FrontEnd:
        """The audio front end applied before Whisper: the model's own
        (:func:`~prism.speech.models.front_end`), resolved once.

        Raises
        ------
        SpeechInputError
            If ``config.denoise`` contradicts the adapted model's front end.
        SpeechBackendError
            If the adapter or its model card is missing.
        """
        if self._front_end is None:
            self._front_end = front_end(self.config)
        return self._front_end

    def load(self) -> Transcriber:
        """Load the model now (otherwise on first use); returns ``self``.

        Raises
        ------
        SpeechBackendError
            If faster-whisper, the model package, the adapter or its model card is
            missing.
        SpeechInputError
            If ``config.denoise`` contradicts the adapted model's front end.
        """
        with self._lock:
            self._ensure_model()
        return self

    def _ensure_model(self) -> WhisperModel:
        if self._model is None:
            folder = model_directory(self.config)
            self.front_end()
            with _load_lock:
                self._model = load_whisper(
                    str(folder), self.config.compute_type, self.config.cpu_threads
                )
        return self._model

    def transcribe(
        self,
        audio: np.ndarray,
        sample_rate: int = SAMPLE_RATE_HZ,
        *,
        vocabulary: Sequence[str] = (),
    ) -> Transcript:
        """Recognize what is said in ``audio``.

        Parameters
        ----------
        audio : np.ndarray [shape=(n_samples,), float, mono, in [-1, 1]]
            One utterance (e.g. cut by :class:`~prism.speech.vad.SpeechDetector`),
            at most ``config.max_duration_s`` long.
        sample_rate : int
            Must be 16000 (Hz).
        vocabulary : sequence of str
            Phrases likely to be said (the procedure's step names); they bias recognition.

        Returns
        -------
        Transcript

        Raises
        ------
        SpeechInputError
            On invalid or too long audio, or a vocabulary that is not a list of strings.
        SpeechBackendError
            If faster-whisper or the model package is not installed.
        """
        audio, duration_s = check_utterance(audio, sample_rate, self.config.max_duration_s)
        audio = self.front_end()(audio)
        mode = self.config.vocabulary_mode
        prompt = vocabulary_prompt(vocabulary, questions=self.config.questions)
        prompt = "" if mode == "none" else prompt
        with self._lock:
            model = self._ensure_model()
            started = time.perf_counter()
            hypotheses, no_speech_prob = _decode_hypotheses(
                model,
                audio,
                prompt if mode == "prompt" else "",
                prompt if mode == "hotwords" else "",
                self.config.beam_size,
                self.config.window_s,
            )
        if no_speech_prob > self.config.no_speech_threshold or not hypotheses:
            text, avg_logprob = "", float("-inf")
        else:
            model_of_questions = question_model(tuple(vocabulary))
            text, avg_logprob = hypotheses[
                rescore(hypotheses, model_of_questions, self.config.rescore_weight)
            ]
        compute_s = time.perf_counter() - started
        return Transcript(
            text=text,
            duration_s=duration_s,
            compute_s=compute_s,
            model=self.model_name,
            avg_logprob=avg_logprob,
            no_speech_prob=no_speech_prob,
            prompt=prompt,
        )
