"""Tests for prism.sensing.model_card: the card's dictionary, its Markdown, restoring from it."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from prism.errors import ModelFileError
from prism.sensing.classifier import ActivityClassifier
from prism.sensing.model_card import (
    MODEL_CARD_FORMAT,
    model_card,
    render_model_card,
    restore_from_card,
)
from test_model_folder import STEPS, assembled


def card_of(**kwargs: Any) -> dict[str, Any]:
    settings: dict[str, Any] = {"task": "toy", "data": None, "metrics": None, "size_bytes": 2_000}
    settings.update(kwargs)
    return model_card(assembled(), format_version=3, **settings)


def test_the_card_describes_the_model() -> None:
    card = card_of(data="toy recordings", metrics={"test_accuracy": 0.9})
    assert (card["format"], card["format_version"]) == (MODEL_CARD_FORMAT, 3)
    assert card["model"]["classes"] == [*STEPS, "other"]
    assert card["model"]["size_bytes"] == 2_000
    assert card["data"]["caller"] == {"description": "toy recordings"}
    assert card["metrics"] == {"test_accuracy": 0.9}
    assert card["confusion_matrix"]["counts"] == [[5, 1, 0], [0, 4, 2], [1, 0, 7]]
    assert card["splits"]["method"].startswith("random 20% of sessions held out (seed 0)")
    assert card["features"]["imu"]["channels"][-1] == "acc_norm"
    assert card["training"]["history"][0]["epoch"] == 1


def test_markdown_known_lines() -> None:
    markdown = render_model_card(card_of(metrics={"test_accuracy": 0.912345}))
    lines = markdown.splitlines()
    assert lines[0] == "# Model card: toy classifier"
    assert "- 3 classes (steps + other), one frame every 0.2 s, latency 1.0 s" in lines
    assert "| test_accuracy (caller) | 0.9123 |" in lines
    assert "| accuracy | 0.8 |" in lines
    assert "| 0 grind | 5 | 1 | 0 |" in lines and "| 2 other | 1 | 0 | 7 |" in lines
    assert "- train: 2 sessions (0 real, 0 semi-synthetic), 0 frames" in lines
    assert lines[-1].startswith("Frame-level step probabilities")


def test_restore_from_card_gives_back_the_training_record() -> None:
    card = card_of()
    model = ActivityClassifier(STEPS)
    restore_from_card(card, model, path=Path("model_card.json"))
    original = assembled()
    assert model.history_ == original.history_
    assert model.split_ == original.split_
    assert model.training_summary_ == original.training_summary_
    assert model.training_data_ == original.training_data_


def test_a_malformed_card_names_its_file() -> None:
    card = card_of()
    card["training"]["history"] = [{"epoch": 1}]
    with pytest.raises(ModelFileError, match=r"card\.json: malformed model card"):
        restore_from_card(card, ActivityClassifier(STEPS), path=Path("card.json"))
