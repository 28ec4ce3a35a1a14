"""Tests for prism.sensing.model_folder: the files a classifier saves and loads.

The models here are assembled, not trained (an untrained network, fitted normalizers and
made-up training records): the folder's job is to give them back exactly.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from prism.errors import ModelFileError
from prism.sensing.classifier import ActivityClassifier
from prism.sensing.features import ChannelNormalizer
from prism.sensing.model_folder import (
    CLASSIFIER_FORMAT_VERSION,
    FILES,
    read_confusion_matrix,
    read_model_folder,
    write_model_folder,
)
from prism.sensing.network import FusedActivityNet, NetworkConfig
from prism.sensing.training import EpochRecord, TrainingConfig
from prism.tracker.evidence import DEFAULT_ERROR_RUN_S, ClassifierProfile

STEPS = ("grind", "steam")


def assembled(fusion: str = "late") -> ActivityClassifier:
    """A 'fitted' classifier put together by hand, without training."""
    torch.manual_seed(0)
    rng = np.random.default_rng(0)
    network = NetworkConfig(embedding_size=8, hidden_size=16, context_levels=2, fusion=fusion)
    model = ActivityClassifier(STEPS, config=TrainingConfig(network=network))
    model.network_ = FusedActivityNet(
        model.n_classes, modalities=model.modalities, config=model.config.network
    ).eval()
    model.normalizers_ = {
        "imu": ChannelNormalizer().fit(rng.normal(size=(4, 7, 10))),
        "audio": ChannelNormalizer().fit(rng.normal(size=(4, 64, 5))),
    }
    model.temperature_ = 1.5
    model.confusion_ = np.array([[5, 1, 0], [0, 4, 2], [1, 0, 7]])
    model.confusion_source_ = "validation"
    model.error_profile_ = ClassifierProfile(model.confusion_, 6.0, 2.5, 0.75, frames=20)
    model.history_ = [EpochRecord(1, 1.2, 1.1, 0.5, 0.6, 0.25)]
    model.split_ = {"train": ["a", "b"], "validation": ["c"]}
    model.validation_metrics_ = {"source": "validation", "frames": 20, "accuracy": 0.8}
    model.training_data_ = {"train": {"sessions": 2}, "validation": {"sessions": 1}}
    model.training_summary_ = {"best_epoch": 1, "epochs_run": 1, "stop_reason": "max_epochs"}
    return model


@pytest.mark.parametrize("fusion", ["late", "early"])
def test_a_folder_gives_the_model_back(tmp_path: Path, fusion: str) -> None:
    model = assembled(fusion)
    root = write_model_folder(model, tmp_path / "m", task="toy", metrics={"test": 0.5})
    assert {path.name for path in root.iterdir()} == set(FILES.values())
    loaded = read_model_folder(ActivityClassifier, root)
    assert loaded.config == model.config
    for key, value in model.network_.state_dict().items():
        assert torch.equal(loaded.network_.state_dict()[key], value), key
    for name in ("imu", "audio"):
        assert loaded.normalizers_[name].to_dict() == model.normalizers_[name].to_dict()
    np.testing.assert_array_equal(loaded.confusion_, model.confusion_)
    profile = loaded.error_profile_
    np.testing.assert_array_equal(profile.confusion, model.confusion_)
    assert (profile.mean_correct_run_s, profile.mean_error_run_s, profile.return_share) == (
        6.0,
        2.5,
        0.75,
    )
    for attribute in (
        "temperature_",
        "confusion_source_",
        "history_",
        "split_",
        "validation_metrics_",
        "training_data_",
        "training_summary_",
    ):
        assert getattr(loaded, attribute) == getattr(model, attribute), attribute
    config = json.loads((root / "config.json").read_text())
    assert config["format_version"] == CLASSIFIER_FORMAT_VERSION


def test_the_confusion_matrix_files(tmp_path: Path) -> None:
    root = write_model_folder(assembled(), tmp_path / "m")
    assert (root / "confusion_matrix.csv").read_text().splitlines() == [
        "true\\predicted,grind,steam,other",
        "grind,5,1,0",
        "steam,0,4,2",
        "other,1,0,7",
    ]
    counts, source = read_confusion_matrix(
        root / "confusion_matrix.json", classes=(*STEPS, "other")
    )
    assert counts.tolist() == [[5, 1, 0], [0, 4, 2], [1, 0, 7]] and source == "validation"


def test_a_folder_without_error_runs_assumes_them(tmp_path: Path) -> None:
    root = write_model_folder(assembled(), tmp_path / "m")
    path = root / "confusion_matrix.json"
    content = json.loads(path.read_text())
    del content["error_runs"]
    path.write_text(json.dumps(content))
    profile = read_model_folder(ActivityClassifier, root).error_profile_
    accuracy = 16 / 20
    assert profile.mean_error_run_s == DEFAULT_ERROR_RUN_S
    assert profile.mean_correct_run_s == pytest.approx(
        DEFAULT_ERROR_RUN_S * accuracy / (1 - accuracy)
    )


def test_bad_error_runs_are_named(tmp_path: Path) -> None:
    root = write_model_folder(assembled(), tmp_path / "m")
    path = root / "confusion_matrix.json"
    content = json.loads(path.read_text())
    content["error_runs"]["return_share"] = 3
    path.write_text(json.dumps(content))
    with pytest.raises(ModelFileError, match=r"confusion_matrix\.json: 'error_runs': return_share"):
        read_model_folder(ActivityClassifier, root)


@pytest.mark.parametrize(
    ("content", "match"),
    [
        pytest.param(
            {"classes": ["a", "b"]}, r"needs 'classes' and integer 'counts'", id="no-counts"
        ),
        pytest.param(
            {"classes": ["a", "b"], "counts": [[1, 2]]},
            r"counts must be a non-negative 2 x 2 matrix, got shape \(1, 2\)",
            id="shape",
        ),
        pytest.param(
            {"classes": ["a", "b"], "counts": [[1, -2], [0, 1]]},
            r"counts must be a non-negative",
            id="negative",
        ),
        pytest.param(
            {"classes": ["a", "c"], "counts": [[1, 0], [0, 1]]},
            r"classes \['a', 'c'\] differ from the model's \['a', 'b'\]",
            id="classes",
        ),
    ],
)
def test_a_bad_confusion_matrix_file_is_named(
    tmp_path: Path, content: dict[str, object], match: str
) -> None:
    path = tmp_path / "confusion_matrix.json"
    path.write_text(json.dumps(content), encoding="utf-8")
    with pytest.raises(ModelFileError, match=r"confusion_matrix\.json: " + match):
        read_confusion_matrix(path, classes=("a", "b"))


@pytest.mark.parametrize(
    ("edit", "match"),
    [
        pytest.param(lambda card: card.pop("training"), "malformed model card", id="no-training"),
        pytest.param(lambda card: card["splits"].pop("train"), "malformed model card", id="split"),
    ],
)
def test_a_bad_model_card_is_named(tmp_path: Path, edit: object, match: str) -> None:
    root = write_model_folder(assembled(), tmp_path / "m")
    card = json.loads((root / "model_card.json").read_text())
    edit(card)  # type: ignore[operator]
    (root / "model_card.json").write_text(json.dumps(card))
    with pytest.raises(ModelFileError, match=r"model_card\.json: " + match):
        read_model_folder(ActivityClassifier, root)


def test_an_unfitted_model_is_not_written(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="not fitted"):
        write_model_folder(ActivityClassifier(STEPS), tmp_path / "m")
    assert not (tmp_path / "m").exists()
