"""Settings of the local recognizer: which Whisper model and how it decodes.

:class:`AsrConfig` is validated once, when it is made; :mod:`~prism.speech.models`
turns it into a model folder and :class:`~prism.speech.asr.Transcriber` decodes with it.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np

from prism.speech.audio import SpeechInputError
from prism.speech.prompt import TYPICAL_QUESTIONS
from prism.speech.question_lm import RESCORE_WEIGHT

__all__ = [
    "ADAPTER_WEIGHT",
    "MAX_UTTERANCE_S",
    "MODEL_NAMES",
    "WINDOW_S",
    "AsrConfig",
    "ModelName",
]

ModelName = Literal["tiny.en-adapted", "tiny.en", "base"]
MODEL_NAMES: tuple[ModelName, ...] = ("tiny.en-adapted", "tiny.en", "base")
"""Whisper models :class:`AsrConfig` can name (``tiny.en-adapted`` is the default)."""

ADAPTER_WEIGHT = 0.5
"""How much of the decoder adapter ``tiny.en-adapted`` adds (0: plain tiny.en, 1: the
adapted decoder as trained). Halfway keeps the gain on questions and loses nothing on
everyday sentences, which the full adapter recognizes worse (``docs/speech.md``)."""

MAX_UTTERANCE_S = 30.0
"""Longest utterance a recognizer takes by default (s): Whisper reads 30 s at most."""

MIN_WINDOW_S = 10.0
"""Shortest window (s): in a shorter one tiny.en repeats a short question several times."""

WINDOW_S = 15.0
"""Whisper's window for a spoken question (s): half of its 30 s, 0.6x the compute time,
with the same word error rate on the free-form development questions (0.159 against
0.165 for 30 s, 60 questions; 10 s: 0.170; ``docs/speech.md``)."""


@dataclass(frozen=True)
class AsrConfig:
    """Settings of the recognizer.

    Parameters
    ----------
    model : {"tiny.en-adapted", "tiny.en", "base"}
        Which Whisper model (see :mod:`prism.speech.models` for the packages they come
        from).
    model_dir : Path or None
        Use this CTranslate2 Whisper folder instead of a packaged model.
    adapter : Path or None
        The decoder adapter of ``tiny.en-adapted`` (default:
        :func:`~prism.speech.models.shipped_adapter`).
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
        Text after the vocabulary in the prompt
        (:data:`~prism.speech.prompt.TYPICAL_QUESTIONS`).
    max_duration_s : float
        Longest audio accepted (s, > 0); a spoken question is a few seconds.
    window_s : float
        Whisper's encoder reads the utterance padded with silence to this length (s, in
        [10, 30]; a longer utterance is read whole, with 5 s of silence after it).
        Whisper was trained on 30 s windows; a shorter one costs proportionally less
        (``docs/speech.md`` measures the trade-off).
    denoise : bool or None
        Whether the utterance is cleaned (:func:`~prism.speech.denoise.spectral_subtraction`)
        before recognition. None (default): the model's own front end, which is part of
        the model (:func:`~prism.speech.models.front_end`): for ``tiny.en-adapted`` the
        front end its adapter was trained with (its model card's ``front_end``:
        spectral subtraction for the shipped one); spectral subtraction with the default
        settings for the other models. For ``tiny.en-adapted`` a value that contradicts
        the adapter's front end is refused when the recognizer loads.
    rescore_weight : float
        Weight (>= 0) of the question language model when choosing among Whisper's
        ``beam_size`` best hypotheses (:func:`~prism.speech.question_lm.rescore`);
        0 keeps Whisper's first.
    no_speech_threshold : float
        An utterance whose no-speech probability is above this gives no text (in (0,
        1]; 1 keeps all). Whisper tends to repeat its prompt on noise ("What is the next
        step?", no-speech probability 0.6-0.8); real questions score below 0.05.

    Raises
    ------
    SpeechInputError
        Naming every invalid setting.
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
    max_duration_s: float = MAX_UTTERANCE_S
    window_s: float = WINDOW_S
    no_speech_threshold: float = 0.5
    denoise: bool | None = None
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
        if not (MIN_WINDOW_S <= self.window_s <= MAX_UTTERANCE_S):
            found.append(
                f"window_s must be in [{MIN_WINDOW_S}, {MAX_UTTERANCE_S}], got {self.window_s}"
            )
        if not (self.rescore_weight >= 0 and np.isfinite(self.rescore_weight)):
            found.append(f"rescore_weight must be a finite number >= 0, got {self.rescore_weight}")
        if not (self.adapter_weight >= 0 and np.isfinite(self.adapter_weight)):
            found.append(f"adapter_weight must be a finite number >= 0, got {self.adapter_weight}")
        if self.denoise is not None and not isinstance(self.denoise, bool):
            found.append(f"denoise must be True, False or None, got {self.denoise!r}")
        if not (0.0 < self.no_speech_threshold <= 1.0):
            found.append(f"no_speech_threshold must be in (0, 1], got {self.no_speech_threshold}")
        return found
