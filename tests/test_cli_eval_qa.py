"""`prism eval qa` and the question-record reader: output fields, errors that say where."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import soundfile
from typer.testing import CliRunner

from prism.assistant.qa_records import read_qa_records
from prism.cli import app
from prism.errors import DataError
from prism.speech import espeak_available, synthesize

RECORD = {
    "id": "q1",
    "task": "latte_making",
    "done_steps": ["Attach filter", "grind_beans", "move_filter", "place_cup"],
    "current_step": "brew_coffee",
    "current_probability": 0.95,
    "alternatives": [],
    "elapsed_s": 50.0,
    "question": "did I grind the beans?",
    "expected": "Yes, you ground the beans.",
    "unknown_field": "ignored",
}


def _write(path: Path, *records: dict[str, object]) -> Path:
    path.write_text("\n".join(json.dumps(r) for r in records) + "\n", encoding="utf-8")
    return path


def test_eval_qa_json_has_the_issue_fields(tmp_path: Path) -> None:
    non_question = {**RECORD, "id": "q2", "question": "ouch, hot!", "expected": None}
    next_step = {**RECORD, "id": "q3", "question": "what's next?", "expected": "Next: brew."}
    questions = _write(tmp_path / "qa.jsonl", RECORD, non_question, next_step)
    result = CliRunner().invoke(app, ["eval", "qa", "--questions", str(questions), "--json"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert {"answers", "correctness", "correctness_without_context", "latency_ms_median"} <= set(
        report
    )
    answers = {a["id"]: a for a in report["answers"]}
    assert answers["q1"]["answer"].startswith("Yes") and answers["q1"]["correct"]
    assert answers["q2"]["answer"] is None and answers["q2"]["correct"]
    assert answers["q1"]["transcript"] is None
    assert "can't tell" in answers["q1"]["answer_without_context"]
    assert report["correctness"] > report["correctness_without_context"]


def test_the_shipped_development_set_loads_and_covers_the_issue() -> None:
    records = read_qa_records(Path("datasets/qa_dev.jsonl"))
    assert len(records) >= 200
    assert len({r.task for r in records}) >= 4
    kinds = {r.kind for r in records}
    assert {"current", "next", "did_i", "missed", "how_to", "non_question"} <= kinds
    assert any(r.alternatives and r.current_probability < 0.6 for r in records)


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ("not json", r"line 1: not valid JSON"),
        ("[1, 2]", r"line 1: expected a JSON object"),
        (json.dumps({**RECORD, "task": "nope"}), r"line 1: task 'nope' has no procedure"),
        (
            json.dumps({**RECORD, "done_steps": ["make tea"]}),
            r"line 1: done_steps: unknown step 'make tea' in task 'latte_making'",
        ),
        (
            json.dumps({**RECORD, "current_probability": 2}),
            r"'current_probability' must be in \[0, 1\]",
        ),
        (json.dumps({**RECORD, "question": ""}), r"field 'question' must be a non-empty"),
        (json.dumps({**RECORD, "alternatives": [["steam_milk"]]}), r"expected \[step, prob"),
    ],
    ids=["json", "not-object", "task", "step", "probability", "question", "alternative"],
)
def test_bad_records_name_the_line_and_field(tmp_path: Path, line: str, message: str) -> None:
    path = tmp_path / "bad.jsonl"
    path.write_text(line + "\n", encoding="utf-8")
    with pytest.raises(DataError, match=message):
        read_qa_records(path)


def test_cli_reports_a_bad_file_without_a_traceback(tmp_path: Path) -> None:
    result = CliRunner().invoke(
        app, ["eval", "qa", "--questions", str(tmp_path / "missing.jsonl"), "--json"]
    )
    assert result.exit_code == 1
    assert "does not exist" in result.output


@pytest.mark.skipif(not espeak_available(), reason="espeak-ng is not installed")
def test_questions_with_audio_are_transcribed_and_scored(tmp_path: Path) -> None:
    """A record's ``audio`` is heard by the recognizer (not its text): the answer follows
    what was said, and the report gives the word error rate."""
    speech, rate = synthesize("did I grind the beans?")
    soundfile.write(tmp_path / "q1.wav", np.concatenate([np.zeros(rate // 2), speech]), rate)
    silent = tmp_path / "q2.wav"
    soundfile.write(silent, np.zeros(rate), rate)
    spoken = {**RECORD, "audio": "q1.wav"}
    unheard = {**RECORD, "id": "q2", "audio": str(silent)}
    questions = _write(tmp_path / "qa.jsonl", spoken, unheard)
    result = CliRunner().invoke(app, ["eval", "qa", "--questions", str(questions), "--json"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    answers = {a["id"]: a for a in report["answers"]}
    assert "grind" in answers["q1"]["transcript"].lower()
    assert answers["q1"]["correct"]
    assert answers["q2"]["transcript"] == ""  # nothing said: nothing heard, not the text
    assert not answers["q2"]["correct"]
    assert report["speech"]["n_transcribed"] == 2
    assert 0.4 <= report["speech"]["wer"] <= 0.75  # q2 misses all its words


def test_a_missing_or_broken_audio_file_is_named(tmp_path: Path) -> None:
    (tmp_path / "broken.wav").write_bytes(b"RIFF not really a wave file")
    for audio in ("missing.wav", "broken.wav"):
        questions = _write(tmp_path / "qa.jsonl", {**RECORD, "audio": audio})
        result = CliRunner().invoke(app, ["eval", "qa", "--questions", str(questions)])
        assert result.exit_code == 1  # the command's error exit, as for a bad question file
        assert audio in result.output and "Traceback" not in result.output
