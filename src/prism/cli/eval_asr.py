"""``prism eval asr``: spoken questions in kitchen noise -> VAD -> ASR -> answers, scored."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

from prism.assistant.qa_records import read_qa_records
from prism.cli import eval_app
from prism.cli._common import console, fail, print_json
from prism.errors import PrismError
from prism.evaluation.asr import SpokenQuestionConfig, evaluate_asr
from prism.speech import (
    ADAPTER_WEIGHT,
    MODEL_NAMES,
    AsrConfig,
    Transcriber,
    make_transcriber,
)

__all__ = ["eval_asr"]


def _table(report: dict[str, Any]) -> Table:
    table = Table(title=f"Spoken questions ({report['n_questions']})")
    table.add_column("metric")
    table.add_column("value", justify="right")
    table.add_row("word error rate", f"{report['wer']:.3f}")
    table.add_row("word error rate (Whisper normaliser)", f"{report['wer_whisper_normalised']:.3f}")
    table.add_row("answer correctness", f"{report['answer_correctness']:.3f}")
    table.add_row("latency median (ms)", f"{report['latency_ms_median']:.0f}")
    table.add_row("latency p90 (ms)", f"{report['latency_ms_p90']:.0f}")
    return table


@eval_app.command("asr")
def eval_asr(
    questions: Annotated[Path, typer.Option(help="Question file (JSON lines).")],
    tasks_dir: Annotated[
        Path | None, typer.Option(help="Folder of task procedures (default: PRISM_TASKS_DIR).")
    ] = None,
    limit: Annotated[int, typer.Option(help="Only the first N questions (0: all).", min=0)] = 0,
    seed: Annotated[int, typer.Option(help="Noise and SNR draws.")] = 0,
    threads: Annotated[int, typer.Option(help="CPU threads for local recognition.", min=1)] = 2,
    model: Annotated[
        str, typer.Option(help=f"Local Whisper model: {' or '.join(MODEL_NAMES)}.")
    ] = MODEL_NAMES[0],
    adapter: Annotated[
        Path | None,
        typer.Option(help="Decoder adapter of tiny.en-adapted (default: the shipped one)."),
    ] = None,
    adapter_weight: Annotated[
        float, typer.Option(help="Share of the adapter merged in (0: plain tiny.en).", min=0.0)
    ] = ADAPTER_WEIGHT,
    early: Annotated[
        bool,
        typer.Option(
            help="Start recognizing once the speaker pauses (0.2 s), before the detector "
            "closes the utterance (0.5 s); --no-early waits for it."
        ),
    ] = True,
    json_output: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Speak each question with espeak-ng in kitchen noise (10-20 dB SNR), detect, transcribe
    and answer it: word error rate, answer correctness, end-of-speech-to-answer latency.

    Recognition is local Whisper (by default tiny.en with the shipped decoder adapter),
    or the OpenAI-compatible transcription endpoint that ``PRISM_ASR_BASE_URL`` (and
    ``PRISM_ASR_MODEL``, ``PRISM_ASR_API_KEY``) name."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    if model not in MODEL_NAMES:
        fail(f"--model must be one of {', '.join(MODEL_NAMES)}, got {model!r}")
    if adapter is not None and model != "tiny.en-adapted":
        fail(f"--adapter is for the model tiny.en-adapted, not {model}")
    local = Transcriber(
        AsrConfig(model=model, adapter=adapter, adapter_weight=adapter_weight, cpu_threads=threads)
    )
    try:
        records = read_qa_records(questions, tasks_dir=tasks_dir)  # None: the settings'
        if limit:
            records = records[:limit]
        report = evaluate_asr(
            records,
            transcriber=make_transcriber(local=local),
            config=SpokenQuestionConfig(seed=seed),
            early=early,
        )
    except PrismError as error:
        fail(str(error))
    if json_output:
        print_json(report)
    else:
        console.print(_table(report))
