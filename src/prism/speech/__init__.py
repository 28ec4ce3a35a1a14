"""Speech input, offline: voice activity -> speech recognition -> text; and spoken answers.

Recognition is an input modality of its own, below the assistant and the service, which
use it; it imports neither. What a user of recognition needs is exported here:

- the audio contract (:func:`check_audio`, 16 kHz mono float) and the errors
  (:mod:`~prism.speech.audio`);
- :class:`SpeechDetector` (a stream) and :func:`detect_speech` (a clip) find utterances
  with silero-vad (:mod:`~prism.speech.vad`); :class:`QuestionListener` recognizes a
  live stream's utterances, starting before the speaker's pause ends, and
  :func:`transcribe_clip` a clip's (:mod:`~prism.speech.listener`);
- :class:`Transcriber` recognizes one with Whisper from a local model folder
  (:mod:`~prism.speech.asr`; settings :class:`AsrConfig`, :mod:`~prism.speech.config`;
  models and the model cache :mod:`~prism.speech.models`; the vocabulary prompt
  :mod:`~prism.speech.prompt`; noise suppression :mod:`~prism.speech.denoise`; the
  choice among Whisper's beams :mod:`~prism.speech.question_lm`), or
  :class:`RemoteTranscriber` at an OpenAI-compatible endpoint
  (:mod:`~prism.speech.remote_asr`); :func:`make_transcriber` picks one,
  :func:`configured_recognizer` the service's;
- :func:`synthesize` speaks answers with espeak-ng (:mod:`~prism.speech.tts`).

Training the decoder adapter is :mod:`prism.speech.adaptation` (not imported here).
Heavy libraries (onnxruntime, faster-whisper, librosa) are imported on first use, so
importing this package is cheap. See ``docs/speech.md``.
"""

from prism.speech.asr import SpeechRecognizer, Transcriber, Transcript
from prism.speech.audio import (
    SAMPLE_RATE_HZ,
    SpeechBackendError,
    SpeechInputError,
    check_audio,
)
from prism.speech.config import ADAPTER_WEIGHT, MODEL_NAMES, AsrConfig
from prism.speech.denoise import FrontEnd, spectral_subtraction
from prism.speech.listener import HeardQuestion, QuestionListener, transcribe_clip
from prism.speech.models import front_end, model_directory
from prism.speech.prompt import TYPICAL_QUESTIONS, vocabulary_prompt
from prism.speech.remote_asr import RemoteTranscriber, configured_recognizer, make_transcriber
from prism.speech.tts import espeak_available, synthesize
from prism.speech.vad import (
    FRAME_S,
    FRAME_SAMPLES,
    SpeechDetector,
    SpeechSegment,
    Utterance,
    VadConfig,
    detect_speech,
)

__all__ = [
    "ADAPTER_WEIGHT",
    "FRAME_S",
    "FRAME_SAMPLES",
    "MODEL_NAMES",
    "SAMPLE_RATE_HZ",
    "TYPICAL_QUESTIONS",
    "AsrConfig",
    "FrontEnd",
    "HeardQuestion",
    "QuestionListener",
    "RemoteTranscriber",
    "SpeechBackendError",
    "SpeechDetector",
    "SpeechInputError",
    "SpeechRecognizer",
    "SpeechSegment",
    "Transcriber",
    "Transcript",
    "Utterance",
    "VadConfig",
    "check_audio",
    "configured_recognizer",
    "detect_speech",
    "espeak_available",
    "front_end",
    "make_transcriber",
    "model_directory",
    "spectral_subtraction",
    "synthesize",
    "transcribe_clip",
    "vocabulary_prompt",
]
