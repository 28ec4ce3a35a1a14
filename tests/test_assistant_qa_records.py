"""Question files: records read with resolved step ids; bad lines named by file and line."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from prism.assistant.qa_records import read_qa_records, resolve_step_name
from prism.errors import DataError
from prism.procedure.io import load_procedure

TASKS = Path(__file__).resolve().parents[1] / "tasks"
LATTE = load_procedure(TASKS / "latte_making" / "procedure.yaml")

GOOD: dict[str, Any] = {
    "id": "q1",
    "task": "latte_making",
    "done_steps": ["attach_filter", "Adjust grind"],
    "current_step": "grind beans",
    "current_probability": 0.6,
    "alternatives": [["move_filter", 0.3]],
    "elapsed_s": 12.5,
    "question": "what's next?",
    "expected": "Next is move filter.",
    "type": "next",
    "audio": "clips/q1.wav",
    "must_include": [["move filter", "the filter"]],
}


def _write(folder: Path, *records: dict[str, Any] | str) -> Path:
    path = folder / "questions.jsonl"
    lines = [r if isinstance(r, str) else json.dumps(r) for r in records]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def test_a_record_is_read_with_step_ids_resolved(tmp_path: Path) -> None:
    path = _write(tmp_path, GOOD, "")
    [record] = read_qa_records(path, tasks_dir=TASKS)
    assert record.done_steps == ("attach_filter", "adjust_grind")
    assert record.current_step == "grind_beans"
    assert record.alternatives == (("move_filter", 0.3),)
    assert record.audio == tmp_path / "clips" / "q1.wav"  # relative to the file's folder
    assert record.kind == "next" and record.elapsed_s == 12.5
    assert record.must_include == (("move filter", "the filter"),)


def test_key_facts_are_optional(tmp_path: Path) -> None:
    plain = {k: v for k, v in GOOD.items() if k != "must_include"}
    [record, nulled] = read_qa_records(
        _write(tmp_path, plain, {**GOOD, "must_include": None}), tasks_dir=TASKS
    )
    assert record.must_include == () and nulled.must_include == ()


def test_the_context_lists_beliefs_most_probable_first(tmp_path: Path) -> None:
    unsure = {**GOOD, "current_probability": 0.2, "alternatives": [["move_filter", 0.7]]}
    [record] = read_qa_records(_write(tmp_path, unsure), tasks_dir=TASKS)
    beliefs = record.context().current
    assert [b.step for b in beliefs] == ["move_filter", "grind_beans"]
    assert [b.probability for b in beliefs] == [0.7, 0.2]


def test_step_names_resolve_by_id_or_display_name_in_any_case() -> None:
    assert resolve_step_name(LATTE, "POUR MILK (JUG)") == "pour_milk_jug"
    assert resolve_step_name(LATTE, " steam_milk ") == "steam_milk"
    assert resolve_step_name(LATTE, "make tea") is None


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ("{not json", r"line 1: not valid JSON"),
        ("[1, 2]", r"line 1: expected a JSON object"),
        (json.dumps({**GOOD, "task": "no_such_task"}), r"task 'no_such_task' has no procedure"),
        (json.dumps({**GOOD, "question": ""}), r"field 'question' must be a non-empty string"),
        (json.dumps({**GOOD, "done_steps": "grind"}), r"field 'done_steps' must be a list"),
        (json.dumps({**GOOD, "current_step": "make tea"}), r"current_step: unknown step"),
        (json.dumps({**GOOD, "current_probability": 1.5}), r"must be in \[0, 1\], got 1.5"),
        (json.dumps({**GOOD, "current_probability": True}), r"must be a finite number"),
        (json.dumps({**GOOD, "alternatives": [["move_filter"]]}), r"expected \[step, probab"),
        (json.dumps({**GOOD, "expected": 3}), r"field 'expected' must be a string or null"),
        (json.dumps({**GOOD, "must_include": "third"}), r"'must_include' must be a list of facts"),
        (json.dumps({**GOOD, "must_include": [[]]}), r"each a non-empty list of non-empty"),
        (json.dumps({**GOOD, "must_include": [["third", 3]]}), r"non-empty strings, got"),
    ],
    ids=[
        "not-json",
        "not-an-object",
        "unknown-task",
        "empty-question",
        "done-not-a-list",
        "unknown-step",
        "probability-above-one",
        "probability-a-boolean",
        "alternative-without-probability",
        "expected-a-number",
        "facts-a-string",
        "fact-without-alternatives",
        "fact-with-a-number",
    ],
)
def test_a_bad_line_is_named_by_file_and_line(tmp_path: Path, line: str, message: str) -> None:
    path = _write(tmp_path, line)
    with pytest.raises(DataError, match=message) as raised:
        read_qa_records(path, tasks_dir=TASKS)
    assert str(path) in str(raised.value)


def test_a_missing_or_empty_file_is_refused(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="does not exist"):
        read_qa_records(tmp_path / "absent.jsonl", tasks_dir=TASKS)
    with pytest.raises(DataError, match="holds no questions"):
        read_qa_records(_write(tmp_path, ""), tasks_dir=TASKS)
