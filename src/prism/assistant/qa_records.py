"""Question records for the assistant's evaluation (JSON lines), and their step states.

One JSON object per line::

    {"id": "latte-001", "task": "latte_making",
     "done_steps": ["attach_filter", "Grind beans"], "current_step": "move_filter",
     "current_probability": 0.92, "alternatives": [["place_cup", 0.05]],
     "elapsed_s": 31.0, "question": "what's next?", "expected": "Next: place cup.",
     "audio": "optional/path.wav", "type": "next",
     "must_include": [["place cup", "the cup"]]}

``task`` names a folder of ``tasks/``; steps are given by id or name (case-insensitive);
``expected`` is a reference answer or ``null`` (the assistant must not answer);
``must_include`` (optional) lists the key facts an answer must state, each a list of
acceptable alternatives (see :func:`prism.assistant.scoring.has_fact`).
Unknown fields are ignored. Errors name the file, the line and the field.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from prism.assistant.context import AssistantContext, DoneStep, StepBelief
from prism.errors import DataError
from prism.procedure.io import load_procedure
from prism.procedure.model import Procedure
from prism.settings import get_settings

__all__ = ["QARecord", "read_qa_records", "resolve_step_name"]


@dataclass(frozen=True)
class QARecord:
    """One evaluation question and the step state it is asked in (step ids resolved)."""

    id: str
    task: str
    procedure: Procedure
    done_steps: tuple[str, ...]
    current_step: str | None
    current_probability: float
    alternatives: tuple[tuple[str, float], ...]
    elapsed_s: float
    question: str
    expected: str | None
    audio: Path | None = None
    kind: str | None = None
    """The optional ``type`` field (question type, for per-type results)."""
    must_include: tuple[tuple[str, ...], ...] = ()
    """Key facts the answer must state, each as acceptable alternatives (may be empty)."""

    def context(self) -> AssistantContext:
        """The assistant's view of this state (remaining time from the durations)."""
        current: list[StepBelief] = []
        if self.current_step is not None:
            current.append(StepBelief(self.current_step, self.current_probability))
        elif self.alternatives:
            current.append(StepBelief(None, self.current_probability))
        current.extend(StepBelief(step, p) for step, p in self.alternatives)
        current.sort(key=lambda belief: -belief.probability)
        return AssistantContext(
            procedure=self.procedure,
            done=tuple(DoneStep(step) for step in self.done_steps),
            current=tuple(current),
            elapsed_s=self.elapsed_s,
        )


def resolve_step_name(procedure: Procedure, name: str) -> str | None:
    """The id of the step called ``name`` (id or display name, any case), else ``None``."""
    wanted = name.strip().lower()
    for step in procedure.steps:
        if wanted in (step.id.lower(), step.name.lower()):
            return step.id
    return None


class _Line:
    """Field access for one record with errors that say where."""

    def __init__(self, path: Path, number: int, data: Mapping[str, Any]) -> None:
        self.where = f"{path}, line {number}"
        self.data = data

    def fail(self, message: str) -> DataError:
        return DataError(f"{self.where}: {message}")

    def text(self, field: str, *, optional: bool = False) -> str | None:
        value = self.data.get(field)
        if value is None and optional:
            return None
        if not isinstance(value, str) or not value.strip():
            raise self.fail(f"field {field!r} must be a non-empty string, got {value!r}")
        return value

    def number(self, field: str, default: float) -> float:
        value = self.data.get(field, default)
        if (
            isinstance(value, bool)
            or not isinstance(value, int | float)
            or not math.isfinite(value)
        ):
            raise self.fail(f"field {field!r} must be a finite number, got {value!r}")
        return float(value)

    def facts(self, field: str) -> tuple[tuple[str, ...], ...]:
        value = self.data.get(field)
        if value is None:
            return ()
        if not isinstance(value, list) or not all(
            isinstance(fact, list) and fact and all(isinstance(a, str) and a.strip() for a in fact)
            for fact in value
        ):
            raise self.fail(
                f"field {field!r} must be a list of facts, each a non-empty list of "
                f"non-empty strings, got {value!r}"
            )
        return tuple(tuple(fact) for fact in value)

    def step(self, procedure: Procedure, name: object, field: str) -> str:
        if not isinstance(name, str):
            raise self.fail(f"{field}: a step name must be a string, got {name!r}")
        step = resolve_step_name(procedure, name)
        if step is None:
            raise self.fail(
                f"{field}: unknown step {name!r} in task {procedure.id!r}; "
                f"known: {', '.join(procedure.step_ids)}"
            )
        return step


def _record(line: _Line, tasks_dir: Path, procedures: dict[str, Procedure]) -> QARecord:
    task = line.text("task")
    assert task is not None
    if task not in procedures:
        path = tasks_dir / task / "procedure.yaml"
        if not path.is_file():
            raise line.fail(f"task {task!r} has no procedure file {path}")
        procedures[task] = load_procedure(path)
    procedure = procedures[task]
    done_raw = line.data.get("done_steps", [])
    if not isinstance(done_raw, list):
        raise line.fail(f"field 'done_steps' must be a list, got {done_raw!r}")
    done = tuple(line.step(procedure, name, "done_steps") for name in done_raw)
    current_raw = line.data.get("current_step")
    current = None if current_raw is None else line.step(procedure, current_raw, "current_step")
    probability = line.number("current_probability", 1.0)
    if not 0.0 <= probability <= 1.0:
        raise line.fail(f"field 'current_probability' must be in [0, 1], got {probability}")
    alternatives_raw = line.data.get("alternatives", [])
    if not isinstance(alternatives_raw, list):
        raise line.fail(f"field 'alternatives' must be a list, got {alternatives_raw!r}")
    alternatives = []
    for entry in alternatives_raw:
        if not (isinstance(entry, list) and len(entry) == 2 and isinstance(entry[1], int | float)):
            raise line.fail(f"alternatives: expected [step, probability], got {entry!r}")
        alternatives.append((line.step(procedure, entry[0], "alternatives"), float(entry[1])))
    audio = line.text("audio", optional=True)
    question = line.text("question")
    assert question is not None
    expected = line.data.get("expected")
    if expected is not None and not isinstance(expected, str):
        raise line.fail(f"field 'expected' must be a string or null, got {expected!r}")
    return QARecord(
        id=str(line.data.get("id", line.where)),
        task=task,
        procedure=procedure,
        done_steps=done,
        current_step=current,
        current_probability=probability,
        alternatives=tuple(alternatives),
        elapsed_s=line.number("elapsed_s", 0.0),
        question=question,
        expected=expected,
        audio=None if audio is None else Path(audio),
        kind=line.text("type", optional=True),
        must_include=line.facts("must_include"),
    )


def read_qa_records(path: Path, *, tasks_dir: Path | None = None) -> list[QARecord]:
    """Read a question file; relative ``audio`` paths are taken from the file's folder.

    Procedures come from ``tasks_dir`` (default: the settings' ``tasks_dir``).

    Raises
    ------
    DataError
        If the file is missing, a line is not a JSON object, or a field is invalid
        (the message names the file, the line and the field).
    """
    path = Path(path)
    if not path.is_file():
        raise DataError(f"question file {path} does not exist")
    folder = tasks_dir if tasks_dir is not None else get_settings().tasks_dir
    procedures: dict[str, Procedure] = {}
    records = []
    for number, raw in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if not raw.strip():
            continue
        try:
            data = json.loads(raw)
        except json.JSONDecodeError as error:
            raise DataError(f"{path}, line {number}: not valid JSON ({error.msg})") from None
        if not isinstance(data, dict):
            raise DataError(f"{path}, line {number}: expected a JSON object, got {raw[:40]!r}")
        record = _record(_Line(path, number, data), folder, procedures)
        if record.audio is not None and not record.audio.is_absolute():
            record = replace(record, audio=path.parent / record.audio)
        records.append(record)
    if not records:
        raise DataError(f"question file {path} holds no questions")
    return records
