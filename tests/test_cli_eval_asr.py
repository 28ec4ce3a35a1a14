"""`prism eval asr`: spoken questions through VAD, ASR and the assistant (real models)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from prism.cli import app
from prism.speech import espeak_available

pytestmark = pytest.mark.skipif(
    not espeak_available(), reason="espeak-ng is not installed (apt-get install espeak-ng)"
)

RECORD = {
    "task": "latte_making",
    "done_steps": ["attach_filter", "grind_beans", "move_filter", "place_cup"],
    "current_step": "brew_coffee",
    "current_probability": 0.95,
}


def test_eval_asr_reports_wer_correctness_and_latency(tmp_path: Path) -> None:
    questions = tmp_path / "qa.jsonl"
    lines = [
        {**RECORD, "id": "a", "question": "what is the next step", "expected": "Next: use fridge."},
        {**RECORD, "id": "b", "question": "where am I", "expected": "You are on brew coffee."},
    ]
    questions.write_text("\n".join(json.dumps(x) for x in lines) + "\n", encoding="utf-8")
    result = CliRunner().invoke(
        app, ["eval", "asr", "--questions", str(questions), "--json", "--seed", "1"]
    )
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["n_questions"] == 2
    assert 0.0 <= report["wer"] <= 1.0
    assert 0.0 <= report["wer_whisper_normalised"] <= 1.0
    assert 0.0 <= report["answer_correctness"] <= 1.0
    assert 0.0 < report["latency_ms_median"] < 10_000
    for row in report["questions"]:
        assert 10.0 <= row["snr_db"] <= 20.0
        assert isinstance(row["transcript"], str)
    # a short clear question in noise is mostly recognized
    assert min(row["wer"] for row in report["questions"]) <= 0.5


def test_eval_asr_refuses_an_unknown_model(tmp_path: Path) -> None:
    result = CliRunner().invoke(
        app, ["eval", "asr", "--questions", str(tmp_path / "qa.jsonl"), "--model", "large"]
    )
    assert result.exit_code != 0
    assert "--model must be one of tiny.en-adapted, tiny.en, base, got 'large'" in result.output


def test_eval_asr_refuses_an_adapter_for_another_model(tmp_path: Path) -> None:
    result = CliRunner().invoke(
        app,
        [
            "eval",
            "asr",
            "--questions",
            str(tmp_path / "qa.jsonl"),
            "--model",
            "base",
            "--adapter",
            str(tmp_path / "adapter.npz"),
        ],
    )
    assert result.exit_code != 0
    assert "--adapter is for the model tiny.en-adapted, not base" in result.output
