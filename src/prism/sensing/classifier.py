"""The activity classifier: recordings -> calibrated per-frame step probabilities.

:class:`ActivityClassifier` follows the scikit-learn contract: ``__init__`` stores
settings, :meth:`~ActivityClassifier.fit` learns and returns ``self``, learned state ends
in ``_``. It ties together the features (:mod:`prism.sensing.features`), the network
(:mod:`prism.sensing.network`), training (:mod:`prism.sensing.training`) and temperature
scaling (:mod:`prism.sensing.calibration`), and saves itself as a model folder
(:mod:`prism.sensing.model_folder`) with a model card (:mod:`prism.sensing.model_card`).

Probabilities are ``(T, S + 1)`` with "other" last, ``T = ceil(duration * 5)`` frames.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import torch
from scipy.special import log_softmax

from prism.data.annotations import frame_labels
from prism.data.recording import AUDIO_RATE_HZ, Recording
from prism.errors import DataError, ModelFileError
from prism.procedure.model import Procedure
from prism.sensing.calibration import (
    confusion_matrix,
    expected_calibration_error,
    fit_expert_weights,
    fit_temperature,
    negative_log_likelihood,
    softmax,
)
from prism.sensing.features import (
    ChannelNormalizer,
    LogMelSpec,
    SensingError,
    SessionFeatures,
    audio_frames,
    imu_frames,
    imu_window_channels,
)
from prism.sensing.framing import FRAME_RATE_HZ, IMU_WINDOW_S, frame_count
from prism.sensing.model_card import render_model_card
from prism.sensing.model_folder import (
    CLASSIFIER_FORMAT,
    CLASSIFIER_FORMAT_VERSION,
    read_confusion_matrix,
    read_model_folder,
    write_model_folder,
)
from prism.sensing.network import (
    BranchOutputs,
    FusedActivityNet,
    check_modalities,
    combine_session,
    concatenate_branch_outputs,
    session_logits,
)
from prism.sensing.scores import frame_accuracy, macro_f1
from prism.sensing.training import (
    EpochRecord,
    ProgressCallback,
    TrainingConfig,
    TrainingProgress,
    split_sessions,
    train_network,
)
from prism.tracker.evidence import ClassifierProfile, fit_classifier_profile

__all__ = [
    "CLASSIFIER_FORMAT",
    "CLASSIFIER_FORMAT_VERSION",
    "COVERAGE_TOLERANCE_S",
    "OTHER_CLASS",
    "ActivityClassifier",
    "ModelFileError",
    "read_confusion_matrix",
    "render_model_card",
]

OTHER_CLASS = "other"
COVERAGE_TOLERANCE_S = IMU_WINDOW_S
"""A modality may leave at most this much of a session uncovered at either end (s)."""


class ActivityClassifier:
    """Fused IMU + audio activity classifier with calibrated probabilities.

    Parameters
    ----------
    step_ids : sequence of str
        The procedure's step ids in class order; class ``S`` is "other".
    modalities : sequence of {"imu", "audio"}
        Inputs the model uses.
    privacy_rate : int or None
        Analyse audio decimated to this rate (Hz, e.g. 1000) instead of 16 kHz.
    imu_magnitude : bool
        Add the acceleration magnitude as a seventh IMU channel.
    config : TrainingConfig or None
        Training settings (``config.network.imu_channels`` is set from ``imu_magnitude``).

    Attributes
    ----------
    network_ : FusedActivityNet
    normalizers_ : dict of str to ChannelNormalizer
        Per modality.
    temperature_ : float
        Softmax temperature fitted on the validation sessions (1.0 without any).
    confusion_ : np.ndarray [shape=(S + 1, S + 1), int64]
        Validation confusion counts (rows true), or training counts without validation
        sessions (``confusion_source_`` says which).
    error_profile_ : ClassifierProfile
        How the classifier errs on the same sessions: its confusions and the mean
        lengths of its right and wrong runs, for the tracker
        (:mod:`prism.tracker.evidence`). Model folders written before it was measured
        give the confusions with assumed run lengths.
    history_ : list of EpochRecord
    split_ : dict
        ``{"train": [...], "validation": [...]}`` session ids.
    validation_metrics_ : dict
        Accuracy, macro-F1, NLL and ECE before/after calibration, frames.
    training_data_ : dict
        Counts of sessions (real and semi-synthetic) and frames per class.
    training_summary_ : dict
        Best epoch, stop reason, seconds.
    """

    network_: FusedActivityNet
    normalizers_: dict[str, ChannelNormalizer]
    temperature_: float
    confusion_: np.ndarray
    confusion_source_: str
    error_profile_: ClassifierProfile
    history_: list[EpochRecord]
    split_: dict[str, list[str]]
    validation_metrics_: dict[str, Any]
    training_data_: dict[str, Any]
    training_summary_: dict[str, Any]

    def __init__(
        self,
        step_ids: Sequence[str],
        *,
        modalities: Sequence[str] = ("imu", "audio"),
        privacy_rate: int | None = None,
        imu_magnitude: bool = True,
        config: TrainingConfig | None = None,
    ) -> None:
        self.step_ids = tuple(step_ids)
        if len(set(self.step_ids)) != len(self.step_ids) or OTHER_CLASS in self.step_ids:
            raise SensingError(
                f"step_ids must be unique and must not contain {OTHER_CLASS!r}, got {self.step_ids}"
            )
        if not self.step_ids:
            raise SensingError("step_ids must name at least one step")
        self.modalities = check_modalities(modalities)
        self.privacy_rate = privacy_rate
        self.imu_magnitude = bool(imu_magnitude)
        self.audio_spec = LogMelSpec(AUDIO_RATE_HZ, privacy_rate)
        base = config if config is not None else TrainingConfig()
        channels = len(imu_window_channels(magnitude=self.imu_magnitude))
        if base.network.imu_channels != channels:
            base = replace(base, network=replace(base.network, imu_channels=channels))
        self.config = base

    # ----------------------------------------------------------------- properties
    @property
    def class_names(self) -> tuple[str, ...]:
        """``(*step_ids, "other")``."""
        return (*self.step_ids, OTHER_CLASS)

    @property
    def n_classes(self) -> int:
        """``S + 1``."""
        return len(self.step_ids) + 1

    @classmethod
    def for_procedure(cls, procedure: Procedure, **settings: Any) -> ActivityClassifier:
        """A classifier over ``procedure.step_ids`` (+ "other"); ``settings`` as in ``__init__``."""
        return cls(procedure.step_ids, **settings)

    def check_fitted(self) -> None:
        """Raise :class:`SensingError` unless the model was fitted or loaded."""
        if not hasattr(self, "network_"):
            raise SensingError("this ActivityClassifier is not fitted; call fit() or load()")

    # ------------------------------------------------------------------- features
    def features(
        self,
        recording: Recording,
        *,
        labelled: bool = True,
        modalities: Sequence[str] | None = None,
    ) -> SessionFeatures:
        """Feature windows (not normalised) of ``recording``, ``T = ceil(duration * 5)``.

        Parameters
        ----------
        recording : Recording
        labelled : bool
            Add frame labels from ``recording.annotation``.
        modalities : sequence of str or None
            Modalities to extract (default: the model's).

        Raises
        ------
        DataError
            If the recording lacks a chosen modality, or the modality leaves more than
            :data:`COVERAGE_TOLERANCE_S` of the session uncovered at either end, or a
            labelled step is not one of ``step_ids``.
        """
        chosen = self.modalities if modalities is None else check_modalities(modalities)
        name = recording.session_id
        n_frames = frame_count(recording.duration)
        imu = audio = None
        if "imu" in chosen:
            if recording.imu is None:
                raise DataError(f"session {name!r} has no IMU; the model uses {self.modalities}")
            first, last = float(recording.imu.times[0]), float(recording.imu.times[-1])
            _check_coverage(name, "IMU", first, last, recording.duration)
            imu = imu_frames(recording.imu, n_frames=n_frames, magnitude=self.imu_magnitude)
        if "audio" in chosen:
            if recording.audio is None:
                raise DataError(f"session {name!r} has no audio; the model uses {self.modalities}")
            length = recording.audio.size / AUDIO_RATE_HZ
            _check_coverage(name, "audio", 0.0, length, recording.duration)
            audio = audio_frames(recording.audio, n_frames=n_frames, privacy_rate=self.privacy_rate)
        labels = frame_labels(recording.annotation, self.step_ids) if labelled else None
        if labels is not None and labels.size != n_frames:
            raise DataError(f"session {name!r}: {labels.size} labels for {n_frames} frames")
        return SessionFeatures(name, imu, audio, labels, synthetic=recording.synthetic)

    def _normalised(self, features: SessionFeatures, chosen: Sequence[str]) -> SessionFeatures:
        arrays = {
            name: self.normalizers_[name].transform(getattr(features, name))
            if name in chosen and getattr(features, name) is not None
            else None
            for name in ("imu", "audio")
        }
        return SessionFeatures(
            features.session_id,
            arrays["imu"],
            arrays["audio"],
            features.labels,
            features.synthetic,
        )

    # ------------------------------------------------------------------------ fit
    def fit(
        self, recordings: Sequence[Recording], *, on_progress: ProgressCallback | None = None
    ) -> ActivityClassifier:
        """Extract features and labels of ``recordings``, then :meth:`fit_features`."""
        sessions = []
        for i, recording in enumerate(recordings):
            sessions.append(self.features(recording))
            if on_progress is not None:
                on_progress(TrainingProgress("features", i + 1, len(recordings)))
        return self.fit_features(sessions, on_progress=on_progress)

    def fit_features(
        self, sessions: Sequence[SessionFeatures], *, on_progress: ProgressCallback | None = None
    ) -> ActivityClassifier:
        """Train on labelled feature windows (as made by :meth:`features`); returns self.

        Splits sessions into training and validation (``config.validation_sessions`` or
        ``config.validation_fraction``), fits the normalizers on the training sessions,
        trains the network, fits the temperature and the confusion matrix on the
        validation sessions.
        """
        if not sessions:
            raise SensingError("fit needs at least one labelled session")
        train_ids, validation_ids = split_sessions(
            [s.session_id for s in sessions],
            validation_fraction=self.config.validation_fraction,
            validation_sessions=self.config.validation_sessions,
            seed=self.config.seed,
        )
        by_id = {s.session_id: s for s in sessions}
        train = [by_id[i] for i in train_ids]
        for name in self.modalities:
            missing = [s.session_id for s in sessions if getattr(s, name) is None]
            if missing:
                raise SensingError(f"sessions {missing} have no {name} features")
        self.normalizers_ = {
            name: ChannelNormalizer().fit([getattr(s, name) for s in train])
            for name in self.modalities
        }
        ready = {s.session_id: self._normalised(s, self.modalities) for s in sessions}
        result = train_network(
            [ready[i] for i in train_ids],
            [ready[i] for i in validation_ids],
            n_classes=self.n_classes,
            modalities=self.modalities,
            config=self.config,
            on_progress=on_progress,
        )
        self.network_ = result.network
        self.history_ = result.history
        self.split_ = {"train": train_ids, "validation": validation_ids}
        self.training_summary_ = {
            "best_epoch": result.best_epoch,
            "branch_best_epochs": result.branch_best_epochs,
            "epochs_run": len(result.history),
            "stop_reason": result.stop_reason,
            "seconds": round(result.seconds, 2),
        }
        self.training_data_ = _data_summary(sessions, train_ids, validation_ids, self.class_names)
        if validation_ids:
            session_labels = [_labels(by_id[i]) for i in validation_ids]
            labels = np.concatenate(session_labels)
            outputs = result.validation_outputs
            if self.network_.late:
                _fit_late_fusion(self.network_, outputs, labels)
            session_outputs = [combine_session(self.network_, *o) for o in outputs]
            self.confusion_source_ = "validation"
        else:
            session_outputs = [
                session_logits(self.network_, s.imu, s.audio) for s in (ready[i] for i in train_ids)
            ]
            session_labels = [_labels(by_id[i]) for i in train_ids]
            labels = np.concatenate(session_labels)
            self.confusion_source_ = "training"
        logits = np.concatenate(session_outputs)
        self.temperature_ = fit_temperature(logits, labels) if validation_ids else 1.0
        self.confusion_ = confusion_matrix(labels, logits.argmax(axis=1), n_classes=self.n_classes)
        self.error_profile_ = fit_classifier_profile(
            session_labels,
            [output.argmax(axis=1) for output in session_outputs],
            n_classes=self.n_classes,
            frame_rate=FRAME_RATE_HZ,
        )
        self.validation_metrics_ = _calibration_metrics(
            logits, labels, self.temperature_, self.confusion_source_
        )
        return self

    # -------------------------------------------------------------------- predict
    def predict_logits_features(
        self, features: SessionFeatures, *, modalities: Sequence[str] | None = None
    ) -> np.ndarray:
        """Uncalibrated logits ``(T, S + 1)`` from feature windows (not normalised).

        ``modalities`` (default: the model's) chooses the inputs used; a model modality
        left out is treated as missing (the learned missing embedding stands in).
        """
        self.check_fitted()
        chosen = self.modalities if modalities is None else check_modalities(modalities)
        extra = set(chosen) - set(self.modalities)
        if extra:
            raise SensingError(
                f"the model has no {sorted(extra)} input (it uses {self.modalities})"
            )
        for name in chosen:
            if getattr(features, name) is None:
                raise SensingError(f"session {features.session_id!r} has no {name} features")
        ready = self._normalised(features, chosen)
        self.network_.eval()
        return session_logits(self.network_, ready.imu, ready.audio)

    def predict_proba_features(
        self, features: SessionFeatures, *, modalities: Sequence[str] | None = None
    ) -> np.ndarray:
        """Calibrated probabilities ``(T, S + 1)`` from feature windows (rows sum to 1)."""
        logits = self.predict_logits_features(features, modalities=modalities)
        return softmax(logits, temperature=self.temperature_)

    def predict_proba(
        self, recording: Recording, *, modalities: Sequence[str] | None = None
    ) -> np.ndarray:
        """Calibrated probabilities of ``recording``.

        Parameters
        ----------
        recording : Recording
        modalities : sequence of str or None
            Inputs to use (default: the model's); e.g. ``("imu",)`` classifies a session
            without audio with a fused model.

        Returns
        -------
        np.ndarray [shape=(T, S + 1), float64, rows sum to 1]
            ``T = ceil(recording.duration * 5)``; "other" last.
        """
        chosen = self.modalities if modalities is None else check_modalities(modalities)
        features = self.features(recording, labelled=False, modalities=chosen)
        return self.predict_proba_features(features, modalities=chosen)

    def predict(
        self, recording: Recording, *, modalities: Sequence[str] | None = None
    ) -> np.ndarray:
        """Most likely class per frame, ``(T,)`` int64."""
        return np.asarray(self.predict_proba(recording, modalities=modalities).argmax(axis=1))

    # ---------------------------------------------------------------- save / load
    def save(
        self,
        directory: Path | str,
        *,
        task: str | None = None,
        data: Mapping[str, Any] | str | None = None,
        metrics: Mapping[str, Any] | None = None,
    ) -> Path:
        """Write the model folder (:mod:`prism.sensing.model_folder`); returns its path.

        Parameters
        ----------
        directory : path
            Created if needed; existing model files are overwritten.
        task : str or None
            Procedure id, for the model card.
        data : mapping or str or None
            Description of the training data (source, real or semi-synthetic, ...).
        metrics : mapping or None
            Further metrics computed by the caller (e.g. a test split), JSON-ready.
        """
        return write_model_folder(self, directory, task=task, data=data, metrics=metrics)

    @classmethod
    def load(cls, directory: Path | str) -> ActivityClassifier:
        """Read a model folder written by :meth:`save`.

        Raises
        ------
        ModelFileError
            Naming the file that is missing, malformed or incompatible (see
            :func:`~prism.sensing.model_folder.read_model_folder`).
        """
        return read_model_folder(cls, directory)


# ---------------------------------------------------------------------- helpers
def _labels(session: SessionFeatures) -> np.ndarray:
    if session.labels is None:
        raise SensingError(f"session {session.session_id!r} has no labels")
    return session.labels


def _check_coverage(name: str, what: str, first: float, last: float, duration: float) -> None:
    if first > COVERAGE_TOLERANCE_S or duration - last > COVERAGE_TOLERANCE_S:
        raise DataError(
            f"session {name!r}: {what} covers {first:.2f}..{last:.2f} s of a {duration:.2f} s "
            f"session (more than {COVERAGE_TOLERANCE_S} s missing at an end); trim the "
            f"session or leave {what} out with modalities=..."
        )


def _data_summary(
    sessions: Sequence[SessionFeatures],
    train_ids: Sequence[str],
    validation_ids: Sequence[str],
    classes: Sequence[str],
) -> dict[str, Any]:
    by_id = {s.session_id: s for s in sessions}
    summary: dict[str, Any] = {}
    for role, ids in (("train", train_ids), ("validation", validation_ids)):
        chosen = [by_id[i] for i in ids]
        counts = np.bincount(
            np.concatenate([_labels(s) for s in chosen]) if chosen else np.zeros(0, np.int64),
            minlength=len(classes),
        )
        summary[role] = {
            "sessions": len(chosen),
            "synthetic_sessions": sum(s.synthetic for s in chosen),
            "real_sessions": sum(not s.synthetic for s in chosen),
            "frames": int(counts.sum()),
            "frames_per_class": dict(zip(classes, counts.tolist(), strict=True)),
        }
    return summary


def _calibration_metrics(
    logits: np.ndarray, labels: np.ndarray, temperature: float, source: str
) -> dict[str, Any]:
    predicted = logits.argmax(axis=1)
    before, after = softmax(logits), softmax(logits, temperature=temperature)
    return {
        "source": source,
        "frames": int(labels.size),
        "accuracy": frame_accuracy(labels, predicted),
        "macro_f1": macro_f1(labels, predicted),
        "nll_before": negative_log_likelihood(logits, labels),
        "nll_after": negative_log_likelihood(logits, labels, temperature=temperature),
        "ece_before": expected_calibration_error(before, labels),
        "ece_after": expected_calibration_error(after, labels),
    }


def _fit_late_fusion(
    network: FusedActivityNet,
    outputs: Sequence[BranchOutputs],
    labels: np.ndarray,
) -> None:
    """Late fusion: fit each branch's temperature on validation frames where its input is
    present, then the branches' weights (:func:`fit_expert_weights`) on the frames where
    all are. ``outputs``: :func:`session_branch_logits` per session; ``labels (T,)``: the
    sessions' frame labels, concatenated."""
    branch_logits, flags = concatenate_branch_outputs(outputs)
    temperatures, log_probabilities = [], []
    for logits, present in zip(branch_logits, flags.T, strict=True):
        temperature = fit_temperature(logits[present], labels[present]) if present.any() else 1.0
        temperatures.append(temperature)
        log_probabilities.append(log_softmax(logits / temperature, axis=1))
    complete = flags.all(axis=1)
    weights = fit_expert_weights(np.stack(log_probabilities)[:, complete], labels[complete])
    with torch.no_grad():
        network.branch_temperatures.copy_(torch.tensor(temperatures))
        network.branch_weights.copy_(torch.from_numpy(weights))
