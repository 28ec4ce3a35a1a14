"""Question answering evaluation: answers with and without the step state, scored.

Each record's question is answered twice by the same assistant: from its step state
(``answer``) and from the procedure alone (``answer_without_context``); both are scored
against ``expected`` (and the record's key facts, ``must_include``) with
:func:`prism.assistant.scoring.score_answer`. Records with
``audio`` are transcribed first by the ``transcribe`` callable (the spoken path).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from prism.assistant.assistant import Assistant
from prism.assistant.llm import LLMPhraser
from prism.assistant.qa_records import QARecord
from prism.assistant.scoring import score_answer
from prism.evaluation.metrics import corpus_word_error_rate

__all__ = ["Transcribe", "evaluate_qa"]

Transcribe = Callable[[Path, QARecord], str]
"""Turns a record's audio file into text (the record gives the procedure's vocabulary)."""


def _share(values: Sequence[bool]) -> float:
    return float(np.mean(values)) if values else float("nan")


def evaluate_qa(
    records: Sequence[QARecord],
    *,
    llm: LLMPhraser | None = None,
    transcribe: Transcribe | None = None,
) -> dict[str, Any]:
    """Answer and score every record.

    Returns
    -------
    dict
        JSON-ready: ``answers`` (``{id, answer, answer_without_context, transcript,
        correct, correct_without_context, reason}`` per record), ``correctness``,
        ``correctness_without_context``, ``latency_ms_median`` and ``latency_ms_p99``
        (understanding + answer, with context), ``by_type`` / ``by_task``
        (correctness per record ``type`` field when present, and per task),
        ``by_type_without_context``, ``n_by_type`` (questions per type),
        ``n_questions``, ``llm`` (whether one was used), and ``speech`` when records
        were transcribed: ``n_transcribed`` and ``wer`` (corpus word error rate of the
        transcripts against the records' questions).
    """
    assistants: dict[str, Assistant] = {}
    answers: list[dict[str, Any]] = []
    latencies = []
    correct: list[bool] = []
    blind_correct: list[bool] = []
    by_type: dict[str, list[bool]] = defaultdict(list)
    blind_by_type: dict[str, list[bool]] = defaultdict(list)
    by_task: dict[str, list[bool]] = defaultdict(list)
    for record in records:
        assistant = assistants.setdefault(record.task, Assistant(record.procedure, llm=llm))
        transcript = None
        question = record.question
        if record.audio is not None and transcribe is not None:
            transcript = transcribe(record.audio, record)
            question = transcript
        context = record.context()
        reply = assistant.reply(question, context)
        blind = assistant.reply(question, context.without_state())
        latencies.append(reply.latency_ms)
        score, blind_score = (
            score_answer(
                text,
                record.expected,
                record.procedure,
                question=question,
                must_include=record.must_include,
            )
            for text in (reply.text, blind.text)
        )
        answers.append(
            {
                "id": record.id,
                "answer": reply.text,
                "answer_without_context": blind.text,
                "transcript": transcript,
                "correct": score.correct,
                "correct_without_context": blind_score.correct,
                "reason": score.reason,
            }
        )
        correct.append(score.correct)
        blind_correct.append(blind_score.correct)
        by_task[record.task].append(score.correct)
        if record.kind is not None:
            by_type[record.kind].append(score.correct)
            blind_by_type[record.kind].append(blind_score.correct)
    spoken = [
        (r.question, a["transcript"])
        for r, a in zip(records, answers, strict=True)
        if a["transcript"] is not None
    ]
    speech = (
        {
            "n_transcribed": len(spoken),
            "wer": corpus_word_error_rate([q for q, _ in spoken], [t for _, t in spoken]),
        }
        if spoken
        else None
    )
    return {
        "answers": answers,
        "correctness": _share(correct),
        "correctness_without_context": _share(blind_correct),
        "latency_ms_median": float(np.median(latencies)) if latencies else float("nan"),
        "latency_ms_p99": float(np.percentile(latencies, 99)) if latencies else float("nan"),
        "by_type": {k: _share(v) for k, v in sorted(by_type.items())},
        "by_task": {k: _share(v) for k, v in sorted(by_task.items())},
        "by_type_without_context": {k: _share(v) for k, v in sorted(blind_by_type.items())},
        "n_by_type": {k: len(v) for k, v in sorted(by_type.items())},
        "n_questions": len(answers),
        "llm": llm is not None,
        **({"speech": speech} if speech is not None else {}),
    }
