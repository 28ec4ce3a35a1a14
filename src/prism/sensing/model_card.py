"""The activity classifier's model card: data, splits, training, metrics, confusion matrix.

:func:`model_card` builds ``model_card.json``'s dictionary from a fitted model,
:func:`render_model_card` writes it as ``MODEL_CARD.md`` for people, and
:func:`restore_from_card` gives a loaded model back the training record only the card
keeps. Reading and writing the files is :mod:`prism.sensing.model_folder`'s job.
"""

from __future__ import annotations

import platform
from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import torch

from prism.errors import ModelFileError
from prism.sensing.features import imu_window_channels
from prism.sensing.framing import FRAME_RATE_HZ, IMU_RESAMPLE_HZ, IMU_WINDOW_S
from prism.sensing.training import EpochRecord

if TYPE_CHECKING:
    from prism.sensing.classifier import ActivityClassifier

__all__ = ["MODEL_CARD_FORMAT", "model_card", "render_model_card", "restore_from_card"]

MODEL_CARD_FORMAT = "prism-model-card"


def model_card(
    model: ActivityClassifier,
    *,
    format_version: int,
    task: str | None,
    data: Mapping[str, Any] | str | None,
    metrics: Mapping[str, Any] | None,
    size_bytes: int,
) -> dict[str, Any]:
    """The ``model_card.json`` dictionary of a fitted model.

    Parameters
    ----------
    model : ActivityClassifier
        Fitted.
    format_version : int
        The model folder's format version.
    task, data, metrics
        As in :meth:`ActivityClassifier.save
        <prism.sensing.classifier.ActivityClassifier.save>`.
    size_bytes : int
        Size of the saved weights.
    """
    import librosa

    network = model.network_
    description = {"description": data} if isinstance(data, str) else dict(data or {})
    config = model.config
    if config.validation_sessions:
        method = "explicit validation sessions"
    else:
        method = (
            f"random {config.validation_fraction:.0%} of sessions held out "
            f"(seed {config.seed}); sessions are never split"
        )
    return {
        "format": MODEL_CARD_FORMAT,
        "format_version": format_version,
        "created": datetime.now(UTC).isoformat(timespec="seconds"),
        "model": {
            "type": "FusedActivityNet",
            "task": task,
            "classes": list(model.class_names),
            "modalities": list(model.modalities),
            "privacy_rate_hz": model.privacy_rate,
            "parameters": network.parameter_count(),
            "size_bytes": size_bytes,
            "receptive_field_frames": network.receptive_field,
            "receptive_field_s": network.receptive_field / FRAME_RATE_HZ,
            "frame_rate_hz": FRAME_RATE_HZ,
            "latency_s": IMU_WINDOW_S / 2 if "imu" in model.modalities else 0.5,
            "network": config.network.to_dict(),
        },
        "features": {
            "audio": model.audio_spec.to_dict() if "audio" in model.modalities else None,
            "imu": {
                "channels": list(imu_window_channels(magnitude=model.imu_magnitude)),
                "window_s": IMU_WINDOW_S,
                "rate_hz": IMU_RESAMPLE_HZ,
            }
            if "imu" in model.modalities
            else None,
        },
        "data": {"caller": description, "summary": model.training_data_},
        "splits": {**model.split_, "method": method},
        "training": {
            **model.training_summary_,
            "config": config.to_dict(),
            "history": [record.to_dict() for record in model.history_],
        },
        "validation": {"temperature": model.temperature_, **model.validation_metrics_},
        "metrics": dict(metrics or {}),
        "confusion_matrix": {
            "classes": list(model.class_names),
            "counts": model.confusion_.tolist(),
            "source": model.confusion_source_,
        },
        "software": {
            "python": platform.python_version(),
            "torch": torch.__version__,
            "numpy": np.__version__,
            "librosa": str(getattr(librosa, "__version__", "unknown")),
        },
    }


def restore_from_card(card: Mapping[str, Any], model: ActivityClassifier, *, path: Path) -> None:
    """Set the training record a loaded model keeps only in its card (``history_``,
    ``training_summary_``, ``split_``, ``training_data_``); ``path`` names the card file
    in errors.

    Raises
    ------
    ModelFileError
        If the card lacks a part or a part is malformed.
    """
    try:
        training = dict(card["training"])
        model.history_ = [EpochRecord(**record) for record in training.pop("history")]
        training.pop("config", None)
        model.training_summary_ = training
        model.split_ = {
            "train": list(card["splits"]["train"]),
            "validation": list(card["splits"]["validation"]),
        }
        model.training_data_ = dict(card["data"]["summary"])
    except (KeyError, TypeError, ValueError) as error:
        raise ModelFileError(f"{path}: malformed model card ({error!r})") from None


def _number(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)


def render_model_card(card: Mapping[str, Any]) -> str:
    """Markdown version of a ``model_card.json`` dictionary (``MODEL_CARD.md``)."""
    model, validation = card["model"], card["validation"]
    summary = card["data"]["summary"]
    lines = [
        f"# Model card: {model.get('task') or 'activity'} classifier",
        "",
        f"Created {card['created']}. Format {card['format']} v{card['format_version']}.",
        "",
        "## Model",
        "",
        f"- Fused activity network over {', '.join(model['modalities'])}"
        + (
            f" (audio at {model['privacy_rate_hz']} Hz, privacy mode)"
            if model["privacy_rate_hz"]
            else ""
        ),
        f"- {len(model['classes'])} classes (steps + other), one frame every "
        f"{1 / model['frame_rate_hz']:.1f} s, latency {model['latency_s']} s",
        f"- {model['parameters']:,} parameters, {model['size_bytes'] / 1e6:.2f} MB of weights",
        f"- Causal temporal context of {model['receptive_field_frames']} frames "
        f"({model['receptive_field_s']} s)",
        "",
        "## Data",
        "",
    ]
    for key, value in card["data"]["caller"].items():
        lines.append(f"- {key}: {value}")
    for role in ("train", "validation"):
        part = summary.get(role, {})
        lines.append(
            f"- {role}: {part.get('sessions', 0)} sessions "
            f"({part.get('real_sessions', 0)} real, {part.get('synthetic_sessions', 0)} "
            f"semi-synthetic), {part.get('frames', 0)} frames"
        )
    lines += ["", "## Splits", "", f"- {card['splits']['method']}"]
    lines += [
        f"- {role}: {', '.join(card['splits'][role]) or '(none)'}"
        for role in ("train", "validation")
    ]
    training = card["training"]
    branches = training.get("branch_best_epochs") or {}
    per_branch = ", ".join(f"{name} {epoch}" for name, epoch in branches.items())
    best = f"{training.get('best_epoch')}" + (f" ({per_branch})" if len(branches) > 1 else "")
    lines += [
        "",
        "## Training",
        "",
        f"- {training.get('epochs_run')} epochs, best {best}, "
        f"stopped by {training.get('stop_reason')}, {training.get('seconds')} s",
        f"- seed {training['config']['seed']}, weighted cross-entropy, AdamW "
        f"lr {training['config']['learning_rate']}, modality dropout "
        f"{training['config']['modality_dropout']}",
        "",
        f"## Metrics ({validation.get('source')} sessions, {validation.get('frames')} frames)",
        "",
        "| metric | value |",
        "|---|---|",
    ]
    for key, value in validation.items():
        if key not in ("source", "frames"):
            lines.append(f"| {key} | {_number(value)} |")
    for key, value in card["metrics"].items():
        lines.append(f"| {key} (caller) | {_number(value)} |")
    classes, counts = card["confusion_matrix"]["classes"], card["confusion_matrix"]["counts"]
    lines += [
        "",
        f"## Confusion matrix ({card['confusion_matrix']['source']}; rows true, columns predicted)",
        "",
        "| | " + " | ".join(str(i) for i in range(len(classes))) + " |",
        "|---" * (len(classes) + 1) + "|",
    ]
    for i, (name, row) in enumerate(zip(classes, counts, strict=True)):
        lines.append(f"| {i} {name} | " + " | ".join(str(c) for c in row) + " |")
    lines += [
        "",
        "## Use and limits",
        "",
        "Frame-level step probabilities for the PrISM tracker. Metrics from semi-synthetic "
        "sessions do not transfer to real sessions; see the data summary above.",
        "",
    ]
    return "\n".join(lines)
