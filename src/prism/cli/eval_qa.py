"""``prism eval qa``: answer a question file with and without the step state; score it."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

from prism.assistant.llm import LLMPhraser
from prism.assistant.qa_records import QARecord, read_qa_records
from prism.cli import eval_app
from prism.cli._common import console, fail, print_json
from prism.data.recording import read_wav
from prism.errors import PrismError
from prism.evaluation.qa import Transcribe, evaluate_qa
from prism.settings import get_settings
from prism.speech import SpeechRecognizer, configured_recognizer, transcribe_clip

__all__ = ["eval_qa"]


def _table(report: dict[str, Any]) -> Table:
    table = Table(title=f"Question answering ({report['n_questions']} questions)")
    table.add_column("group")
    table.add_column("correctness", justify="right")
    for name, value in {**report["by_task"], **report["by_type"]}.items():
        table.add_row(name, f"{value:.2f}")
    table.add_row("ALL, with the step state", f"{report['correctness']:.3f}")
    table.add_row("ALL, procedure only", f"{report['correctness_without_context']:.3f}")
    return table


def _transcribe_with(recognizer: SpeechRecognizer) -> Transcribe:
    """A record's audio file -> its words, with the procedure's step names as vocabulary."""

    def transcribe(path: Path, record: QARecord) -> str:
        vocabulary = [step.name for step in record.procedure.steps]
        return transcribe_clip(read_wav(path), recognizer, vocabulary=vocabulary)

    return transcribe


@eval_app.command("qa")
def eval_qa(
    questions: Annotated[
        Path, typer.Option(help="Question file (JSON lines; see docs/assistant.md).")
    ],
    tasks_dir: Annotated[
        Path | None, typer.Option(help="Folder of task procedures (default: PRISM_TASKS_DIR).")
    ] = None,
    llm_base_url: Annotated[
        str | None,
        typer.Option(help="OpenAI-compatible endpoint (default: PRISM_LLM_BASE_URL, or none)."),
    ] = None,
    llm_model: Annotated[str | None, typer.Option(help="Model name at the endpoint.")] = None,
    json_output: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Answer every question with and without the step state and score the answers.

    With no LLM configured the embedded grounded layer answers alone (no key, no network).
    A question with an ``audio`` file is transcribed first by the configured recognizer
    (local Whisper, or the endpoint ``PRISM_ASR_BASE_URL`` names) and its transcript is
    answered; the report's ``speech`` section gives the word error rate.
    """
    settings = get_settings().llm
    if llm_base_url is not None:
        settings = settings.model_copy(update={"base_url": llm_base_url})
    if llm_model is not None:
        settings = settings.model_copy(update={"model": llm_model})
    try:
        records = read_qa_records(questions, tasks_dir=tasks_dir or get_settings().tasks_dir)
        llm = LLMPhraser(settings) if settings.enabled else None
        transcribe = None
        if any(record.audio is not None for record in records):
            recognizer = configured_recognizer().load()
            transcribe = _transcribe_with(recognizer)
        report = evaluate_qa(records, llm=llm, transcribe=transcribe)
    except PrismError as error:
        fail(str(error))
    if json_output:
        print_json(report)
    else:
        console.print(_table(report))
