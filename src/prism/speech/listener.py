"""Spoken questions from audio: a live stream, recognized before the speaker's pause
ends, or a clip.

:func:`transcribe_clip` gives the words of a recorded clip (a question held on the watch).
:class:`QuestionListener` cuts utterances with :class:`~prism.speech.vad.SpeechDetector`
and recognizes each one with a :class:`~prism.speech.asr.SpeechRecognizer`. A detector
only knows an utterance has ended after ``min_silence_s`` (0.5 s) of silence; waiting
for that and then recognizing puts both delays on the path from the end of speech to
the answer. The listener starts recognizing the open utterance as soon as its end
padding has arrived (:meth:`SpeechDetector.pending`, ``speech_pad_s`` = 0.2 s after the
last speech), and keeps the result if the detector later closes the same utterance;
if speech comes back, the early result is dropped and the longer utterance is
recognized when it closes.

The listener runs the recognizer in the caller's thread, as a dedicated audio thread
would, and keeps the timing of a live stream: every pushed sample is 1/16000 s of
stream time, and a recognition that starts at stream time ``t`` and computes for ``c``
seconds keeps the recognizer busy until ``t + c``. :attr:`HeardQuestion.ready_s` is
therefore when the text would be ready on a live stream, even when the stream is fed
faster than real time (an evaluation).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from prism.speech.asr import SpeechRecognizer, Transcript
from prism.speech.audio import SAMPLE_RATE_HZ
from prism.speech.vad import SpeechDetector, Utterance

__all__ = ["HeardQuestion", "QuestionListener", "transcribe_clip"]


@dataclass(frozen=True)
class HeardQuestion:
    """One utterance of the stream and what was recognized in it.

    Parameters
    ----------
    utterance : Utterance
        Its audio and span in the stream (s).
    transcript : Transcript
        The recognizer's result (``text`` may be "").
    closed_s : float
        Stream time (s) at which the detector closed the utterance.
    ready_s : float
        Stream time (s) at which its text is ready on a live stream: the later of
        ``closed_s`` and the end of its recognition.
    early : bool
        Whether the recognition started before the utterance was closed (on the
        pending utterance).
    """

    utterance: Utterance
    transcript: Transcript
    closed_s: float
    ready_s: float
    early: bool


@dataclass(frozen=True)
class _Early:
    utterance: Utterance
    transcript: Transcript
    done_s: float


class QuestionListener:
    """Streaming voice activity detection and recognition with an early start.

    Parameters
    ----------
    recognizer : SpeechRecognizer
        Recognizes one utterance (loaded by the caller, or on its first use).
    vocabulary : sequence of str
        Phrases likely to be said (a procedure's step names).
    detector : SpeechDetector or None
        The voice activity detector (default ``SpeechDetector()``); the listener owns
        its stream.
    early : bool
        Start recognizing pending utterances (default); False waits for each utterance
        to close, as a plain detector + recognizer does.

    Examples
    --------
    >>> listener = QuestionListener(recognizer, vocabulary=["Steam the milk"])  # doctest: +SKIP
    >>> heard = listener.push(chunk) + listener.flush()  # doctest: +SKIP
    """

    def __init__(
        self,
        recognizer: SpeechRecognizer,
        *,
        vocabulary: Sequence[str] = (),
        detector: SpeechDetector | None = None,
        early: bool = True,
    ) -> None:
        self.recognizer = recognizer
        self.vocabulary = list(vocabulary)
        self.detector = detector or SpeechDetector()
        self.early = early
        self.reset()

    def reset(self) -> None:
        """Start a new stream at time 0."""
        self.detector.reset()
        self._busy_until_s = 0.0  # stream time at which the recognizer is free
        self._early: _Early | None = None

    @property
    def time_s(self) -> float:
        """Length of the stream received so far (s)."""
        return self.detector.time_s

    def push(self, chunk: np.ndarray) -> list[HeardQuestion]:
        """Add the next samples; return the utterances closed within them, recognized.

        Parameters
        ----------
        chunk : np.ndarray [shape=(n_samples,), float, mono, 16 kHz]

        Returns
        -------
        list of HeardQuestion
            Usually none or one.

        Raises
        ------
        SpeechInputError
            On invalid audio.
        """
        closed = self.detector.push(chunk)
        now_s = self.detector.time_s
        heard = [self._heard(utterance, now_s) for utterance in closed]
        if self.early and not closed:
            self._start_early(now_s)
        return heard

    def flush(self) -> list[HeardQuestion]:
        """End the stream: close and recognize the open utterance; then start a new one."""
        now_s = self.detector.time_s
        heard = [self._heard(utterance, now_s) for utterance in self.detector.flush()]
        self.reset()
        return heard

    def _start_early(self, now_s: float) -> None:
        pending = self.detector.pending()
        if pending is None or (
            self._early is not None and self._early.utterance.segment == pending.segment
        ):
            return
        transcript, done_s = self._recognize(pending, now_s)
        self._early = _Early(pending, transcript, done_s)

    def _heard(self, utterance: Utterance, closed_s: float) -> HeardQuestion:
        early = self._early
        self._early = None
        if early is not None and early.utterance.segment == utterance.segment:
            return HeardQuestion(
                utterance, early.transcript, closed_s, max(closed_s, early.done_s), early=True
            )
        transcript, done_s = self._recognize(utterance, closed_s)
        return HeardQuestion(utterance, transcript, closed_s, done_s, early=False)

    def _recognize(self, utterance: Utterance, available_s: float) -> tuple[Transcript, float]:
        """Recognize on the (single) recognizer: it starts when both the audio and the
        recognizer are available; returns the transcript and when it is done (s)."""
        started_s = max(available_s, self._busy_until_s)
        transcript = self.recognizer.transcribe(
            utterance.audio, SAMPLE_RATE_HZ, vocabulary=self.vocabulary
        )
        self._busy_until_s = started_s + transcript.compute_s
        return transcript, self._busy_until_s


def transcribe_clip(
    audio: np.ndarray, recognizer: SpeechRecognizer, *, vocabulary: Sequence[str] = ()
) -> str:
    """The words said in a clip; "" if none.

    Voice activity detection cuts the speech out of the clip (silence and noise around
    it are dropped, pauses split it); each utterance is recognized with ``vocabulary``.

    Parameters
    ----------
    audio : np.ndarray [shape=(n_samples,), float, mono, 16 kHz]
    recognizer : SpeechRecognizer
    vocabulary : sequence of str
        Phrases likely to be said (a procedure's step names).

    Raises
    ------
    SpeechInputError
        On invalid audio.
    """
    listener = QuestionListener(recognizer, vocabulary=vocabulary, early=False)
    heard = listener.push(audio) + listener.flush()
    return " ".join(h.transcript.text for h in heard if h.transcript.text).strip()
