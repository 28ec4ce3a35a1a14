"""Speech recognition at an OpenAI-compatible transcription endpoint, instead of Whisper here.

Any server that implements ``POST /v1/audio/transcriptions`` (OpenAI itself, a local
faster-whisper or whisper.cpp server, vLLM, LocalAI, ...) can transcribe the spoken
questions. It is off by default (the embedded default is offline Whisper tiny.en, see
:mod:`prism.speech.asr`) and switched on by the environment:

=============================  ===========================  ==============================
variable                       default                      meaning
=============================  ===========================  ==============================
``PRISM_ASR_BASE_URL``         unset (off)                  e.g. ``http://127.0.0.1:8000/v1``
``PRISM_ASR_MODEL``            ``whisper-1``                model name at the endpoint
``PRISM_ASR_API_KEY``          unset (off)                  key (local servers: any text)
``PRISM_ASR_TIMEOUT_S``        5                            per request (s)
``PRISM_ASR_RETRIES``          1                            extra attempts after a failure
``PRISM_ASR_QUESTIONS``        the typical questions        prompt after the step names
=============================  ===========================  ==============================

(the ``asr`` section of :class:`~prism.settings.Settings`, :class:`~prism.settings.AsrSettings`).

The audio goes up as a 16-bit PCM WAV file with the same vocabulary prompt as the local
model (:func:`~prism.speech.prompt.vocabulary_prompt`); a failure, an error
status or a timeout raises :class:`~prism.speech.audio.SpeechBackendError`
naming the endpoint, never hangs longer than the timeout times the attempts.
"""

from __future__ import annotations

import io
import time
import wave
from collections.abc import Sequence
from typing import Any

import numpy as np

from prism.settings import AsrSettings, Settings, get_settings
from prism.speech.asr import SpeechRecognizer, Transcriber, Transcript, check_utterance
from prism.speech.audio import SAMPLE_RATE_HZ, SpeechBackendError
from prism.speech.config import AsrConfig
from prism.speech.models import shipped_adapter
from prism.speech.prompt import TYPICAL_QUESTIONS, vocabulary_prompt

__all__ = ["RemoteTranscriber", "configured_recognizer", "make_transcriber", "wav_bytes"]


def wav_bytes(audio: np.ndarray, sample_rate: int = SAMPLE_RATE_HZ) -> bytes:
    """A mono 16-bit PCM WAV file of ``audio``.

    Parameters
    ----------
    audio : np.ndarray [shape=(n_samples,), float, in [-1, 1]]
        Samples beyond [-1, 1] are clipped.
    sample_rate : int
        Hz.

    Returns
    -------
    bytes
        The whole file (RIFF header and data).
    """
    pcm = np.round(np.clip(audio, -1.0, 1.0) * 32767.0).astype("<i2")
    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as file:
        file.setnchannels(1)
        file.setsampwidth(2)
        file.setframerate(sample_rate)
        file.writeframes(pcm.tobytes())
    return buffer.getvalue()


class RemoteTranscriber:
    """:class:`~prism.speech.asr.Transcriber`'s interface, at an endpoint.

    Parameters
    ----------
    settings : AsrSettings
    client : openai.OpenAI, optional
        A ready client (shared connection pools); built from ``settings`` if omitted.
    """

    def __init__(self, settings: AsrSettings, client: Any | None = None) -> None:
        self.settings = settings
        self.client = client if client is not None else settings.client()

    @property
    def model_name(self) -> str:
        """The model's name and where it is served."""
        return f"{self.settings.model} at {self.settings.base_url or 'api.openai.com'}"

    def load(self) -> RemoteTranscriber:
        """Nothing to load (the endpoint holds the model); returns ``self``."""
        return self

    def describe(self) -> dict[str, Any]:
        """The recognizer's settings, JSON-ready (no key)."""
        return {
            "model": self.settings.model,
            "endpoint": self.settings.base_url,
            "timeout_s": self.settings.timeout_s,
            "retries": self.settings.retries,
        }

    def transcribe(
        self,
        audio: np.ndarray,
        sample_rate: int = SAMPLE_RATE_HZ,
        *,
        vocabulary: Sequence[str] = (),
    ) -> Transcript:
        """Send one utterance (at most 30 s) to the endpoint; what it heard.

        Arguments as :meth:`Transcriber.transcribe`; the transcript's ``avg_logprob``
        and ``no_speech_prob`` are unknown (-inf and 0). Raises
        :class:`SpeechInputError` on bad or too long audio (nothing is sent) and
        :class:`SpeechBackendError` if the endpoint fails, errs or times out.
        """
        audio, duration_s = check_utterance(audio, sample_rate)
        prompt = vocabulary_prompt(
            vocabulary, questions=self.settings.questions or TYPICAL_QUESTIONS
        )
        started = time.perf_counter()
        try:
            reply = self.client.audio.transcriptions.create(
                model=self.settings.model,
                file=("question.wav", wav_bytes(audio), "audio/wav"),
                language="en",
                prompt=prompt,
                response_format="json",
            )
        except Exception as error:  # openai's errors, httpx's, a broken reply
            raise SpeechBackendError(
                f"transcription endpoint {self.model_name} failed: {type(error).__name__}: {error}"
            ) from error
        text = getattr(reply, "text", None)
        if not isinstance(text, str):
            raise SpeechBackendError(
                f"transcription endpoint {self.model_name} sent no text: {reply!r}"[:300]
            )
        return Transcript(
            text=text.strip(),
            duration_s=duration_s,
            compute_s=time.perf_counter() - started,
            model=self.model_name,
            avg_logprob=float("-inf"),
            no_speech_prob=0.0,
            prompt=prompt,
        )


def make_transcriber(
    settings: AsrSettings | None = None, *, local: Transcriber | None = None
) -> SpeechRecognizer:
    """The configured recognizer: the endpoint if ``PRISM_ASR_*`` names one, else local.

    Parameters
    ----------
    settings : AsrSettings or None
        The settings' ``asr`` section (:func:`~prism.settings.get_settings`) if omitted.
    local : Transcriber or None
        The local recognizer to use when no endpoint is set (default ``Transcriber()``).
    """
    settings = settings if settings is not None else get_settings().asr
    if settings.enabled:
        return RemoteTranscriber(settings)
    return local if local is not None else Transcriber()


def configured_recognizer(settings: Settings | None = None) -> SpeechRecognizer:
    """The recognizer of the service and of the evaluations that stand for it: the
    endpoint ``PRISM_ASR_*`` names, else local Whisper with the decoder adapter from the
    settings' models folder (:func:`~prism.speech.models.shipped_adapter`). Not loaded
    yet (the caller loads it, at start-up or at the first question).

    Parameters
    ----------
    settings : Settings or None
        The process's (:func:`~prism.settings.get_settings`) if omitted.
    """
    settings = settings if settings is not None else get_settings()
    local = Transcriber(AsrConfig(adapter=shipped_adapter(settings.models_dir)))
    return make_transcriber(settings.asr, local=local)
