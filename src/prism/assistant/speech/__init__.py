"""The spoken path of the assistant, offline: voice activity -> speech recognition -> text.

- :mod:`~prism.assistant.speech.vad`: silero-vad (onnxruntime) finds utterances in 16 kHz
  mono audio, in a clip (:func:`detect_speech`) or a stream (:class:`SpeechDetector`);
  also the audio contract (:func:`check_audio`) and the package's errors.
- :mod:`~prism.assistant.speech.asr`: faster-whisper with Whisper tiny.en from a PyPI
  package transcribes an utterance, biased towards the procedure's step names;
  :mod:`~prism.assistant.speech.remote_asr` sends it to an OpenAI-compatible
  transcription endpoint instead, when ``PRISM_ASR_*`` configures one.
- :mod:`~prism.assistant.speech.tts`: espeak-ng speaks answers and test questions.
- :mod:`~prism.assistant.speech.noise`: procedural kitchen noise and exact-SNR mixing.

Heavy libraries (onnxruntime, faster-whisper) are imported on first use, so importing
this package is cheap. See ``docs/speech.md``.
"""

from prism.assistant.speech.asr import (
    MODEL_NAMES,
    TYPICAL_QUESTIONS,
    AsrConfig,
    SpeechRecognizer,
    Transcriber,
    Transcript,
    model_directory,
    vocabulary_prompt,
    word_error_rate,
)
from prism.assistant.speech.audio import (
    SAMPLE_RATE_HZ,
    SpeechBackendError,
    SpeechInputError,
    check_audio,
)
from prism.assistant.speech.denoise import spectral_subtraction
from prism.assistant.speech.noise import (
    KITCHEN_SOURCES,
    active_mask,
    active_snr_db,
    kitchen_noise,
    mix_at_snr,
)
from prism.assistant.speech.remote_asr import (
    RemoteAsrSettings,
    RemoteTranscriber,
    make_transcriber,
    wav_bytes,
)
from prism.assistant.speech.tts import espeak_available, synthesize
from prism.assistant.speech.vad import (
    FRAME_S,
    FRAME_SAMPLES,
    SileroVad,
    SpeechDetector,
    SpeechSegment,
    Utterance,
    VadConfig,
    detect_speech,
    segments_from_probabilities,
    speech_probabilities,
)

__all__ = [
    "FRAME_S",
    "FRAME_SAMPLES",
    "KITCHEN_SOURCES",
    "MODEL_NAMES",
    "SAMPLE_RATE_HZ",
    "TYPICAL_QUESTIONS",
    "AsrConfig",
    "RemoteAsrSettings",
    "RemoteTranscriber",
    "SileroVad",
    "SpeechBackendError",
    "SpeechDetector",
    "SpeechInputError",
    "SpeechRecognizer",
    "SpeechSegment",
    "Transcriber",
    "Transcript",
    "Utterance",
    "VadConfig",
    "active_mask",
    "active_snr_db",
    "check_audio",
    "detect_speech",
    "espeak_available",
    "kitchen_noise",
    "make_transcriber",
    "mix_at_snr",
    "model_directory",
    "segments_from_probabilities",
    "spectral_subtraction",
    "speech_probabilities",
    "synthesize",
    "vocabulary_prompt",
    "wav_bytes",
    "word_error_rate",
]
