"""`prism eval asr`: spoken questions through VAD, ASR and the assistant (real models)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from prism.assistant.speech import espeak_available, spectral_subtraction
from prism.cli import app

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


def test_spectral_subtraction_lowers_steady_noise_and_keeps_length() -> None:
    rng = np.random.default_rng(0)
    noise = (0.02 * rng.standard_normal(32_000)).astype(np.float32)  # steady, broadband
    t = np.arange(noise.size) / 16_000
    tone = (0.1 * np.sin(2 * np.pi * 440 * t) * (t > 1.0)).astype(np.float32)
    cleaned = spectral_subtraction(noise + tone)
    assert cleaned.shape == noise.shape
    quiet = slice(0, 12_000)  # noise only
    assert np.std(cleaned[quiet]) < 0.5 * np.std(noise[quiet])
    loud = slice(20_000, 30_000)
    assert np.std(cleaned[loud]) > 0.5 * np.std(tone[loud])
