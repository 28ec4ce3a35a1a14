"""Spoken-question evaluation: synthesized speech in kitchen noise -> VAD -> ASR -> answer.

Each question of a question file is spoken with espeak-ng (voices and speaking rates
cycled, seeded), padded with silence, mixed with procedural kitchen noise at an SNR
drawn from ``snr_db`` and streamed in ``chunk_s`` chunks through the streaming voice
activity detector, as the watch's microphone would deliver it. Every utterance found is
transcribed (biased towards the procedure's step names) and the transcript of the
utterances overlapping the question is answered from the record's step state.

- ``wer``: word error rate over all questions (errors / reference words), words as
  :func:`prism.text.spoken_words` reads them (the project's figure).
- ``wer_whisper_normalised``: the same with the Whisper English text normaliser, the one
  published Whisper word error rates use.
- ``answer_correctness``: answers scored against ``expected`` like ``prism eval qa``.
- ``latency_ms``: from the true end of speech to the answer text on a live stream:
  when the last utterance's text is ready (:class:`~prism.speech.listener.QuestionListener`
  starts recognizing once the speaker has paused for ``speech_pad_s`` and keeps the
  result if the detector then closes the same utterance; stream time plus recognition
  compute time) plus the answering compute time.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from prism.assistant.assistant import Assistant
from prism.assistant.llm import LLMPhraser
from prism.assistant.qa_records import QARecord
from prism.assistant.scoring import score_answer
from prism.data.synth.kitchen import kitchen_noise
from prism.data.synth.mixing import active_mask, mix_at_snr
from prism.evaluation.metrics import corpus_word_error_rate, word_error_rate
from prism.speech import (
    SAMPLE_RATE_HZ,
    HeardQuestion,
    QuestionListener,
    SpeechRecognizer,
    Transcriber,
    synthesize,
)
from prism.text import spoken_words

__all__ = ["SpokenQuestionConfig", "evaluate_asr", "spoken_question"]


@dataclass(frozen=True)
class SpokenQuestionConfig:
    """How the test questions are spoken and streamed.

    Parameters
    ----------
    voices : tuple of str
        espeak-ng voices, cycled over the questions.
    speeds_wpm : tuple of int
        Speaking rates (words per minute), cycled.
    snr_db : tuple of float
        Range (low, high) of the speech-to-noise ratio, drawn per question (dB).
    lead_s, tail_s : float
        Noise-only audio before and after the question (s).
    chunk_s : float
        Audio chunk length of the stream (s), like the watch's audio messages.
    seed : int
        Noise and SNR draws.
    """

    voices: tuple[str, ...] = ("en-us", "en-gb", "en-us+f3", "en-us+m3", "en-us+m1")
    speeds_wpm: tuple[int, ...] = (150, 170, 190, 160)
    snr_db: tuple[float, float] = (10.0, 20.0)
    lead_s: float = 0.8
    tail_s: float = 1.2
    chunk_s: float = 0.1
    seed: int = 0


def spoken_question(
    text: str, index: int, config: SpokenQuestionConfig, rng: np.random.Generator
) -> tuple[np.ndarray, float, float]:
    """The noisy stream of one spoken question.

    Returns
    -------
    audio : np.ndarray [shape=(n_samples,), float32, 16 kHz]
    speech_end_s : float
        Where the question's last active speech sample is (s from the stream start).
    snr_db : float
        The SNR it was mixed at.
    """
    voice = config.voices[index % len(config.voices)]
    speed = config.speeds_wpm[index % len(config.speeds_wpm)]
    speech, _ = synthesize(text, voice=voice, speed_wpm=speed)
    lead = round(config.lead_s * SAMPLE_RATE_HZ)
    padded = np.concatenate(
        [np.zeros(lead, np.float32), speech, np.zeros(round(config.tail_s * SAMPLE_RATE_HZ))]
    ).astype(np.float32)
    snr = float(rng.uniform(*config.snr_db))
    noise = kitchen_noise(padded.size / SAMPLE_RATE_HZ, rng)[: padded.size]
    mixed, _ = mix_at_snr(padded, noise, snr, over="active")
    mask = active_mask(speech)
    active = np.flatnonzero(mask)
    last = (active[-1] + 1) * (speech.size / mask.size) if active.size else 0
    return mixed, (lead + float(last)) / SAMPLE_RATE_HZ, snr


def _stream(audio: np.ndarray, listener: QuestionListener, chunk: int) -> list[HeardQuestion]:
    """Every utterance heard in ``audio``, pushed in chunks of ``chunk`` samples."""
    heard = []
    for start in range(0, audio.size, chunk):
        heard.extend(listener.push(audio[start : start + chunk]))
    return heard + listener.flush()


def evaluate_asr(
    records: Sequence[QARecord],
    *,
    transcriber: SpeechRecognizer | None = None,
    config: SpokenQuestionConfig | None = None,
    llm: LLMPhraser | None = None,
    early: bool = True,
) -> dict[str, Any]:
    """Speak, detect, transcribe and answer every record's question; score it all.

    ``early``: recognition starts on the pending utterance
    (:class:`~prism.speech.listener.QuestionListener`); False waits for the detector to
    close it.

    Returns
    -------
    dict
        JSON-ready: ``wer``, ``wer_whisper_normalised``, ``answer_correctness``,
        ``latency_ms_median``,
        ``latency_ms_p90``, ``n_questions``, ``questions`` (per question: ``id``,
        ``question``, ``transcript``, ``wer``, ``snr_db``, ``answer``, ``correct``,
        ``latency_ms``), ``settings``.
    """
    config = config or SpokenQuestionConfig()
    transcriber = (transcriber or Transcriber()).load()
    listener = QuestionListener(transcriber, early=early)
    rng = np.random.default_rng(config.seed)
    chunk = max(1, round(config.chunk_s * SAMPLE_RATE_HZ))
    assistants: dict[str, Assistant] = {}
    rows: list[dict[str, Any]] = []
    latencies: list[float] = []
    errors = words = 0.0
    for index, record in enumerate(records):
        assistant = assistants.setdefault(record.task, Assistant(record.procedure, llm=llm))
        listener.vocabulary = [step.name for step in record.procedure.steps]
        audio, speech_end_s, snr = spoken_question(record.question, index, config, rng)
        heard = [h for h in _stream(audio, listener, chunk) if h.utterance.end_s > config.lead_s]
        text = " ".join(h.transcript.text for h in heard if h.transcript.text).strip()
        started = time.perf_counter()
        reply = assistant.reply(text, record.context()) if text else None
        answer = reply.text if reply is not None else None
        answer_s = time.perf_counter() - started
        # the last utterance's text is ready at ready_s on a live stream; then the answer
        waited_s = max(0.0, heard[-1].ready_s - speech_end_s) if heard else 0.0
        n_words = len(spoken_words(record.question))
        rate = word_error_rate(record.question, text) if n_words else None
        if n_words:  # a question of hesitations only ("hmm") has no words to recognise
            errors += (rate or 0.0) * n_words
            words += n_words
        correct = score_answer(
            answer,
            record.expected,
            record.procedure,
            question=record.question,
            must_include=record.must_include,
        ).correct
        latencies.append((waited_s + answer_s) * 1000.0)
        rows.append(
            {
                "id": record.id,
                "question": record.question,
                "transcript": text,
                "wer": rate,
                "snr_db": snr,
                "answer": answer,
                "correct": correct,
                "latency_ms": latencies[-1],
            }
        )
    whisper_wer = corpus_word_error_rate(
        [row["question"] for row in rows],
        [row["transcript"] for row in rows],
        normaliser="whisper",
    )
    return {
        "wer": errors / words if words else float("nan"),
        "wer_whisper_normalised": whisper_wer,
        "answer_correctness": float(np.mean([row["correct"] for row in rows])) if rows else 0.0,
        "latency_ms_median": float(np.median(latencies)) if rows else float("nan"),
        "latency_ms_p90": float(np.percentile(latencies, 90)) if rows else float("nan"),
        "n_questions": len(rows),
        "questions": rows,
        "settings": {
            **asdict(config),
            "asr": transcriber.describe(),
            "vad": asdict(listener.detector.config),
            "early_recognition": early,
        },
    }
