"""Leave-one-session-out evaluation of activity recognition, raw and after the tracker.

For every session of a data set (OpenPack: every box), the classifier is trained on the
other sessions only, the procedure is learned from the other sessions' annotations only
(steps and precedence from the task's procedure file), and the held-out session is
classified frame by frame and then tracked. Several configurations (modalities, privacy
mode) run in the same folds beside the random-forest baseline on hand-made window
features (the published recipe), tracked with the same tracker.

Frames of all folds are pooled for accuracy, macro-F1 (over the classes present in the
ground truth, "other" included) and per-class F1.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, field, replace
from typing import Any

import numpy as np

from prism.data.recording import Recording
from prism.errors import EvaluationError
from prism.evaluation.metrics import frame_accuracy, macro_f1, per_class_f1
from prism.procedure.learn import learn_procedure
from prism.procedure.model import Procedure
from prism.sensing.classifier import ActivityClassifier
from prism.sensing.features import SessionFeatures
from prism.sensing.handcrafted import RandomForestBaseline, window_features
from prism.sensing.training import TrainingConfig
from prism.tracker import StepTracker, TrackerConfig

__all__ = [
    "BASELINE",
    "HarConfiguration",
    "HarEvaluationConfig",
    "HarFoldResult",
    "evaluate_har",
]

BASELINE = "random_forest"


@dataclass(frozen=True)
class HarConfiguration:
    """One classifier configuration evaluated in every fold.

    ``name`` is e.g. ``"imu"``, ``"audio"``, ``"fused"`` or ``"fused_1khz"``;
    ``privacy_rate`` (Hz) runs the audio features on audio downsampled to that rate.
    """

    name: str
    modalities: tuple[str, ...]
    privacy_rate: int | None = None


@dataclass(frozen=True)
class HarEvaluationConfig:
    """Settings of a HAR evaluation: training, tracking and the baseline."""

    training: TrainingConfig = field(default_factory=TrainingConfig)
    tracker: TrackerConfig = field(default_factory=TrackerConfig)
    baseline_trees: int = 200
    seed: int = 0
    macro_f1_without_other: bool = False
    """Average macro-F1 over the steps only (OpenPack's benchmark leaves its null class
    out); the JSON then also reports ``*_macro_f1_with_other``."""


@dataclass(frozen=True)
class HarFoldResult:
    """Labels, raw and tracked predictions of every method on one held-out session."""

    session_id: str
    labels: np.ndarray
    raw: dict[str, np.ndarray]
    tracked: dict[str, np.ndarray]
    training_seconds: dict[str, float]


def _features(
    recordings: Sequence[Recording],
    procedure: Procedure,
    configurations: Sequence[HarConfiguration],
) -> dict[int | None, dict[str, SessionFeatures]]:
    """Feature windows of every recording, once per privacy rate."""
    cache: dict[int | None, dict[str, SessionFeatures]] = {}
    for configuration in configurations:
        rate = configuration.privacy_rate
        if rate in cache:
            continue
        modalities = sorted(
            {m for c in configurations if c.privacy_rate == rate for m in c.modalities}
        )
        extractor = ActivityClassifier.for_procedure(
            procedure, modalities=modalities, privacy_rate=rate
        )
        cache[rate] = {r.session_id: extractor.features(r) for r in recordings}
    return cache


def _labels(features: SessionFeatures) -> np.ndarray:
    if features.labels is None:
        raise EvaluationError(
            f"session {features.session_id!r} has no frame labels; evaluation needs labelled "
            "sessions"
        )
    return features.labels


def _run_fold(
    test: Recording,
    recordings: Sequence[Recording],
    procedure: Procedure,
    configurations: Sequence[HarConfiguration],
    features: Mapping[int | None, Mapping[str, SessionFeatures]],
    config: HarEvaluationConfig,
) -> HarFoldResult:
    train = [r for r in recordings if r.session_id != test.session_id]
    learned = learn_procedure(
        [r.annotation for r in train],
        procedure_id=procedure.id,
        name=procedure.name,
        steps=procedure.steps,
        precedence=procedure.precedence,
        description=procedure.description,
        source=f"learned without {test.session_id}",
    )
    raw: dict[str, np.ndarray] = {}
    tracked: dict[str, np.ndarray] = {}
    seconds: dict[str, float] = {}
    labels = np.empty(0, dtype=np.int64)
    for configuration in configurations:
        table = features[configuration.privacy_rate]
        started = time.perf_counter()
        classifier = ActivityClassifier.for_procedure(
            procedure,
            modalities=configuration.modalities,
            privacy_rate=configuration.privacy_rate,
            config=config.training,
        ).fit_features([table[r.session_id] for r in train])
        seconds[configuration.name] = time.perf_counter() - started
        probabilities = classifier.predict_proba_features(table[test.session_id])
        labels = _labels(table[test.session_id])
        raw[configuration.name] = probabilities.argmax(axis=1)
        # the tracker models the classifier's errors as measured on its validation split
        profiled = replace(config.tracker, classifier_profile=classifier.error_profile_)
        tracked[configuration.name] = StepTracker(learned, profiled).track(probabilities).classes
    full = features[None] if None in features else next(iter(features.values()))
    baseline_modalities = max((c.modalities for c in configurations), key=len)

    def windows(session: SessionFeatures) -> np.ndarray:
        return window_features(
            session.imu if "imu" in baseline_modalities else None,
            session.audio if "audio" in baseline_modalities else None,
        )

    started = time.perf_counter()
    forest = RandomForestBaseline(
        procedure.n_steps + 1, n_estimators=config.baseline_trees, seed=config.seed
    ).fit(
        np.concatenate([windows(full[r.session_id]) for r in train]),
        np.concatenate([_labels(full[r.session_id]) for r in train]),
    )
    seconds[BASELINE] = time.perf_counter() - started
    probabilities = forest.predict_proba(windows(full[test.session_id]))
    raw[BASELINE] = probabilities.argmax(axis=1)
    tracked[BASELINE] = StepTracker(learned, config.tracker).track(probabilities).classes
    return HarFoldResult(test.session_id, labels, raw, tracked, seconds)


def _scores(
    folds: Sequence[HarFoldResult],
    method: str,
    class_names: Sequence[str],
    *,
    without_other: bool,
) -> dict[str, Any]:
    n_classes = len(class_names)
    other = n_classes - 1 if without_other else None
    labels = np.concatenate([f.labels for f in folds])
    raw = np.concatenate([f.raw[method] for f in folds])
    tracked = np.concatenate([f.tracked[method] for f in folds])
    f1 = per_class_f1(labels, tracked, n_classes=n_classes)
    scores: dict[str, Any] = {
        "raw_accuracy": frame_accuracy(labels, raw),
        "raw_macro_f1": macro_f1(labels, raw, n_classes=n_classes, exclude=other),
        "tracked_accuracy": frame_accuracy(labels, tracked),
        "tracked_macro_f1": macro_f1(labels, tracked, n_classes=n_classes, exclude=other),
    }
    if without_other:
        scores["raw_macro_f1_with_other"] = macro_f1(labels, raw, n_classes=n_classes)
        scores["tracked_macro_f1_with_other"] = macro_f1(labels, tracked, n_classes=n_classes)
    scores["per_class_f1"] = {
        name: (None if np.isnan(value) else float(value))
        for name, value in zip(class_names, f1, strict=True)
    }
    scores["training_seconds_mean"] = float(np.mean([f.training_seconds[method] for f in folds]))
    return scores


def evaluate_har(
    recordings: Sequence[Recording],
    procedure: Procedure,
    configurations: Sequence[HarConfiguration],
    *,
    config: HarEvaluationConfig | None = None,
    on_fold_done: Callable[[str], None] | None = None,
) -> tuple[dict[str, Any], list[HarFoldResult]]:
    """Leave-one-session-out evaluation of ``configurations`` and the baseline.

    Parameters
    ----------
    recordings : sequence of Recording
        Labelled sessions of ``procedure`` (at least 2).
    procedure : Procedure
        Steps (class order), names, descriptions and precedence; transitions and
        durations are re-learned in every fold from the training sessions.
    configurations : sequence of HarConfiguration
        Classifier configurations (distinct names).
    config : HarEvaluationConfig
        Training, tracker and baseline settings.
    on_fold_done : callable, optional
        Called with the held-out session id after each fold.

    Returns
    -------
    report : dict
        JSON-ready: ``methods`` maps each configuration name and ``"random_forest"`` to
        ``raw_accuracy``, ``raw_macro_f1``, ``tracked_accuracy``, ``tracked_macro_f1``,
        ``per_class_f1``; plus the data summary and settings.
    folds : list of HarFoldResult
        Per-session predictions (for plots).
    """
    if len(recordings) < 2:
        raise EvaluationError(
            f"leave-one-session-out needs at least 2 sessions, got {len(recordings)}"
        )
    names = [c.name for c in configurations]
    if len(set(names)) != len(names) or BASELINE in names:
        raise EvaluationError(
            f"configuration names must be distinct and not {BASELINE!r}, got {names}"
        )
    config = config or HarEvaluationConfig()
    features = _features(recordings, procedure, configurations)
    folds = []
    for test in recordings:
        folds.append(_run_fold(test, recordings, procedure, configurations, features, config))
        if on_fold_done is not None:
            on_fold_done(test.session_id)
    class_names = [*procedure.step_ids, "other"]
    methods = {
        name: _scores(folds, name, class_names, without_other=config.macro_f1_without_other)
        for name in [*names, BASELINE]
    }
    report = {
        "task": procedure.id,
        "n_sessions": len(recordings),
        "n_frames": int(sum(f.labels.size for f in folds)),
        "synthetic": sorted({r.synthetic for r in recordings}),
        "protocol": "leave-one-session-out; procedure re-learned from the training sessions",
        "methods": methods,
        "settings": {
            "configurations": [asdict(c) for c in configurations],
            "training": config.training.to_dict(),
            "tracker": asdict(config.tracker),
            "baseline_trees": config.baseline_trees,
            "macro_f1": "steps only ('other' left out of the average)"
            if config.macro_f1_without_other
            else "steps and 'other'",
        },
    }
    return report, folds
