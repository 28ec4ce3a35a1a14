"""Sensing: watch IMU and audio -> frame-level activity probabilities.

The public names below are imported lazily (PEP 562), so ``import prism.sensing.framing``
does not pull in torch and librosa.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from prism.sensing.calibration import (
        confusion_matrix,
        expected_calibration_error,
        fit_temperature,
        negative_log_likelihood,
        softmax,
    )
    from prism.sensing.classifier import OTHER_CLASS, ActivityClassifier
    from prism.sensing.features import (
        PRIVACY_RATE_HZ,
        ChannelNormalizer,
        LogMelSpec,
        SensingError,
        SessionFeatures,
        audio_frames,
        decimate,
        imu_frames,
    )
    from prism.sensing.frame_streams import AudioFrameStream, ImuFrameStream
    from prism.sensing.model_folder import ModelFileError, read_confusion_matrix
    from prism.sensing.network import FusedActivityNet, NetworkConfig
    from prism.sensing.streaming import StreamingClassifier
    from prism.sensing.training import (
        EpochRecord,
        TrainingConfig,
        TrainingProgress,
        TrainingResult,
        split_sessions,
        train_network,
    )

_EXPORTS = {
    "confusion_matrix": "calibration",
    "expected_calibration_error": "calibration",
    "fit_temperature": "calibration",
    "negative_log_likelihood": "calibration",
    "softmax": "calibration",
    "OTHER_CLASS": "classifier",
    "ActivityClassifier": "classifier",
    "ModelFileError": "model_folder",
    "read_confusion_matrix": "model_folder",
    "PRIVACY_RATE_HZ": "features",
    "ChannelNormalizer": "features",
    "LogMelSpec": "features",
    "SensingError": "features",
    "SessionFeatures": "features",
    "audio_frames": "features",
    "decimate": "features",
    "imu_frames": "features",
    "FusedActivityNet": "network",
    "NetworkConfig": "network",
    "AudioFrameStream": "frame_streams",
    "ImuFrameStream": "frame_streams",
    "StreamingClassifier": "streaming",
    "EpochRecord": "training",
    "TrainingConfig": "training",
    "TrainingProgress": "training",
    "TrainingResult": "training",
    "split_sessions": "training",
    "train_network": "training",
}

__all__ = [
    "OTHER_CLASS",
    "PRIVACY_RATE_HZ",
    "ActivityClassifier",
    "AudioFrameStream",
    "ChannelNormalizer",
    "EpochRecord",
    "FusedActivityNet",
    "ImuFrameStream",
    "LogMelSpec",
    "ModelFileError",
    "NetworkConfig",
    "SensingError",
    "SessionFeatures",
    "StreamingClassifier",
    "TrainingConfig",
    "TrainingProgress",
    "TrainingResult",
    "audio_frames",
    "confusion_matrix",
    "decimate",
    "expected_calibration_error",
    "fit_temperature",
    "imu_frames",
    "negative_log_likelihood",
    "read_confusion_matrix",
    "softmax",
    "split_sessions",
    "train_network",
]


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'prism.sensing' has no attribute {name!r}")
    return getattr(importlib.import_module(f"prism.sensing.{module}"), name)
