"""The activity classifier's model folder: what :meth:`ActivityClassifier.save` writes and
:meth:`ActivityClassifier.load` reads::

    models/<task>/
      config.json             settings, feature and network sizes, format version
      weights.pt              torch state_dict of the FusedActivityNet
      normalizer.json         per-channel mean/std of each modality's windows
      calibration.json        temperature, NLL and ECE before/after calibration
      confusion_matrix.json   classes, counts (rows true, columns predicted) and the
                              classifier's error runs: the tracker's evidence model
      confusion_matrix.csv    the counts as CSV, for people
      model_card.json         data, splits, metrics, confusion matrix, date, size
      MODEL_CARD.md           the same for people (:mod:`prism.sensing.model_card`)

Every file is checked when read, and every error names the file
(:class:`~prism.errors.ModelFileError`). Older format versions are upgraded on reading.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import numpy as np
import torch

from prism.data.json_files import read_json_object
from prism.errors import ModelFileError, SensingError, TrackerInputError
from prism.sensing.features import N_MELS, ChannelNormalizer, imu_window_channels
from prism.sensing.model_card import model_card, render_model_card, restore_from_card
from prism.sensing.network import FusedActivityNet
from prism.sensing.training import TrainingConfig
from prism.tracker.evidence import ClassifierProfile

if TYPE_CHECKING:
    from prism.sensing.classifier import ActivityClassifier

__all__ = [
    "CLASSIFIER_FORMAT",
    "CLASSIFIER_FORMAT_VERSION",
    "FILES",
    "ModelFileError",
    "read_confusion_matrix",
    "read_error_profile",
    "read_model_folder",
    "write_model_folder",
]

CLASSIFIER_FORMAT = "prism-activity-classifier"
CLASSIFIER_FORMAT_VERSION = 3
"""Bumped whenever saved files change meaning; :meth:`ActivityClassifier.load` checks it.
Older versions are still read. Version 1 (before late fusion): early-fusion networks,
the one branch's layers at the top level of ``weights.pt``. Version 2 (before fitted
branch weights): late-fusion products have every branch's weight 1."""

FILES = {
    "config": "config.json",
    "weights": "weights.pt",
    "normalizer": "normalizer.json",
    "calibration": "calibration.json",
    "confusion": "confusion_matrix.json",
    "confusion_csv": "confusion_matrix.csv",
    "card": "model_card.json",
    "card_md": "MODEL_CARD.md",
}
"""The files of a model folder, by role."""

Classifier = TypeVar("Classifier", bound="ActivityClassifier")


def write_model_folder(
    model: ActivityClassifier,
    directory: Path | str,
    *,
    task: str | None = None,
    data: Mapping[str, Any] | str | None = None,
    metrics: Mapping[str, Any] | None = None,
) -> Path:
    """Write a fitted model's folder (see the module docstring); returns its path.

    Parameters as in :meth:`ActivityClassifier.save
    <prism.sensing.classifier.ActivityClassifier.save>`.
    """
    model.check_fitted()
    root = Path(directory)
    root.mkdir(parents=True, exist_ok=True)
    torch.save(model.network_.state_dict(), root / FILES["weights"])
    config = {
        "format": CLASSIFIER_FORMAT,
        "format_version": CLASSIFIER_FORMAT_VERSION,
        "torch_version": torch.__version__.split("+")[0],
        "step_ids": list(model.step_ids),
        "class_names": list(model.class_names),
        "modalities": list(model.modalities),
        "privacy_rate": model.privacy_rate,
        "imu_magnitude": model.imu_magnitude,
        "imu_channels": list(imu_window_channels(magnitude=model.imu_magnitude)),
        "audio_features": model.audio_spec.to_dict(),
        "training": model.config.to_dict(),
    }
    _write_json(root / FILES["config"], config)
    _write_json(
        root / FILES["normalizer"],
        {name: normalizer.to_dict() for name, normalizer in model.normalizers_.items()},
    )
    _write_json(
        root / FILES["calibration"],
        {"temperature": model.temperature_, **model.validation_metrics_},
    )
    confusion = {
        "classes": list(model.class_names),
        "counts": model.confusion_.tolist(),
        "source": model.confusion_source_,
        "rows": "true class",
        "columns": "predicted class",
        "error_runs": model.error_profile_.run_lengths(),
    }
    _write_json(root / FILES["confusion"], confusion)
    (root / FILES["confusion_csv"]).write_text(
        _confusion_csv(model.class_names, model.confusion_), encoding="utf-8"
    )
    card = model_card(
        model,
        format_version=CLASSIFIER_FORMAT_VERSION,
        task=task,
        data=data,
        metrics=metrics,
        size_bytes=(root / FILES["weights"]).stat().st_size,
    )
    _write_json(root / FILES["card"], card)
    (root / FILES["card_md"]).write_text(render_model_card(card), encoding="utf-8")
    return root


def read_model_folder(estimator: type[Classifier], directory: Path | str) -> Classifier:
    """Read a folder written by :func:`write_model_folder` into a new ``estimator``.

    Raises
    ------
    ModelFileError
        Naming the file: missing, not valid JSON, another format or a newer format
        version, weights that do not match the configuration, malformed normalizer,
        calibration, confusion matrix or model card.
    """
    root = Path(directory)
    if not root.is_dir():
        raise ModelFileError(f"{root}: not a model directory (it does not exist)")
    config_path = root / FILES["config"]
    config = _read_json(config_path)
    if config.get("format") != CLASSIFIER_FORMAT:
        raise ModelFileError(
            f"{config_path}: format must be {CLASSIFIER_FORMAT!r}, got {config.get('format')!r}"
        )
    version = config.get("format_version")
    if type(version) is not int or version not in range(1, CLASSIFIER_FORMAT_VERSION + 1):
        raise ModelFileError(
            f"{config_path}: format_version {version!r} is not supported "
            f"(this PrISM reads versions 1 to {CLASSIFIER_FORMAT_VERSION})"
        )
    try:
        training = dict(config["training"])
        if version == 1:
            training["network"] = {"fusion": "early", **training.get("network", {})}
        model = estimator(
            config["step_ids"],
            modalities=config["modalities"],
            privacy_rate=config["privacy_rate"],
            imu_magnitude=config["imu_magnitude"],
            config=TrainingConfig.from_dict(training),
        )
    except (KeyError, TypeError, SensingError) as error:
        raise ModelFileError(f"{config_path}: invalid settings ({error!r})") from None
    model.network_ = _read_weights(root / FILES["weights"], model, version=version)
    model.normalizers_ = _read_normalizers(root / FILES["normalizer"], model)
    calibration_path = root / FILES["calibration"]
    calibration = _read_json(calibration_path)
    temperature = calibration.get("temperature")
    if not isinstance(temperature, int | float) or not temperature > 0:
        raise ModelFileError(f"{calibration_path}: 'temperature' must be a number > 0")
    model.temperature_ = float(temperature)
    model.validation_metrics_ = {k: v for k, v in calibration.items() if k != "temperature"}
    model.confusion_, model.confusion_source_ = read_confusion_matrix(
        root / FILES["confusion"], classes=model.class_names
    )
    model.error_profile_ = read_error_profile(root / FILES["confusion"], model.confusion_)
    card_path = root / FILES["card"]
    restore_from_card(_read_json(card_path), model, path=card_path)
    return model


def read_error_profile(path: Path | str, confusion: np.ndarray) -> ClassifierProfile:
    """The classifier's error profile from ``confusion_matrix.json`` (its ``error_runs``).

    Folders written before run lengths were measured have no ``error_runs``: the
    profile then assumes them (:meth:`ClassifierProfile.from_confusion`).
    """
    path = Path(path)
    runs = _read_json(path).get("error_runs")
    if runs is None:
        return ClassifierProfile.from_confusion(confusion)
    if not isinstance(runs, dict):
        raise ModelFileError(f"{path}: 'error_runs' must be an object")
    try:
        return ClassifierProfile.from_dict(
            {**runs, "confusion": confusion.tolist(), "frames": int(confusion.sum())}
        )
    except TrackerInputError as error:
        raise ModelFileError(f"{path}: 'error_runs': {error}") from None


def _confusion_csv(classes: Sequence[str], counts: np.ndarray) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(["true\\predicted", *classes])
    for name, row in zip(classes, counts.tolist(), strict=True):
        writer.writerow([name, *row])
    return buffer.getvalue()


def _write_json(path: Path, data: Mapping[str, Any]) -> None:
    path.write_text(json.dumps(data, indent=2) + "\n", encoding="utf-8")


def _read_json(path: Path) -> dict[str, Any]:
    return read_json_object(
        path, missing_hint="was the model saved completely?", error=ModelFileError
    )


_FORMAT_1_LAYERS = ("fuse", "context_stack", "head")


def _upgrade_weights(state: Mapping[str, Any], version: int) -> dict[str, Any]:
    """Weights of an older format in this version's layout (see
    :data:`CLASSIFIER_FORMAT_VERSION`): format 1 had the one (early-fusion) branch's layers
    at the top level (``fuse.*``, ``context_stack.*``, ``head.*``) and no branch
    temperatures; formats 1 and 2 had no branch weights (all 1)."""
    upgraded = dict(state)
    if version == 1:
        upgraded = {
            (f"branches.fused.{key}" if key.split(".")[0] in _FORMAT_1_LAYERS else key): value
            for key, value in state.items()
        }
        upgraded.setdefault("branch_temperatures", torch.ones(1))
    if version <= 2 and isinstance(upgraded.get("branch_temperatures"), torch.Tensor):
        upgraded.setdefault("branch_weights", torch.ones_like(upgraded["branch_temperatures"]))
    return upgraded


def _read_weights(path: Path, model: ActivityClassifier, *, version: int) -> FusedActivityNet:
    if not path.exists():
        raise ModelFileError(f"{path}: missing; was the model saved completely?")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as error:  # torch raises many types for a corrupt file
        raise ModelFileError(f"{path}: cannot read the weights ({error})") from None
    network = FusedActivityNet(
        model.n_classes, modalities=model.modalities, config=model.config.network
    )
    try:
        network.load_state_dict(_upgrade_weights(state, version))
    except (RuntimeError, TypeError, AttributeError) as error:
        raise ModelFileError(f"{path}: weights do not match config.json ({error})") from None
    network.eval()
    return network


def _read_normalizers(path: Path, model: ActivityClassifier) -> dict[str, ChannelNormalizer]:
    data = _read_json(path)
    expected = {"imu": model.config.network.imu_channels, "audio": N_MELS}
    normalizers = {}
    for name in model.modalities:
        if name not in data:
            raise ModelFileError(f"{path}: no normalizer for {name!r}")
        try:
            normalizer = ChannelNormalizer.from_dict(data[name])
        except SensingError as error:
            raise ModelFileError(f"{path}: {name}: {error}") from None
        if normalizer.n_channels != expected[name]:
            raise ModelFileError(
                f"{path}: {name} normalizer has {normalizer.n_channels} channels, "
                f"expected {expected[name]}"
            )
        normalizers[name] = normalizer
    return normalizers


def read_confusion_matrix(
    path: Path | str, *, classes: Sequence[str] | None = None
) -> tuple[np.ndarray, str]:
    """Read ``confusion_matrix.json`` of a model directory.

    Parameters
    ----------
    path : path
        The JSON file.
    classes : sequence of str or None
        If given, the file's classes must equal these (in order).

    Returns
    -------
    (counts, source) : np.ndarray [shape=(C, C), int64], str
        Rows are true classes; ``source`` is "validation" or "training".
    """
    path = Path(path)
    data = _read_json(path)
    try:
        names = [str(c) for c in data["classes"]]
        counts = np.asarray(data["counts"], dtype=np.int64)
        source = str(data.get("source", "validation"))
    except (KeyError, TypeError, ValueError) as error:
        raise ModelFileError(f"{path}: needs 'classes' and integer 'counts' ({error})") from None
    if counts.shape != (len(names), len(names)) or (counts < 0).any():
        raise ModelFileError(
            f"{path}: counts must be a non-negative {len(names)} x {len(names)} matrix, "
            f"got shape {counts.shape}"
        )
    if classes is not None and tuple(names) != tuple(classes):
        raise ModelFileError(f"{path}: classes {names} differ from the model's {list(classes)}")
    return counts, source
