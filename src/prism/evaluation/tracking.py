"""Leave-one-recording-out evaluation of step tracking on CaptainCook4D-like data.

For every recipe and every recording of it, the procedure is learned from the *other*
recordings of that recipe only, the recording's step annotations become frame labels
at the tracker's frame rate, the simulated classifier turns them into probability
streams with a chosen raw accuracy, and three online decoders run on the same stream:

- ``tracker``: :class:`~prism.tracker.StepTracker` (durations, done sets, precedence);
- ``hmm``: the duration-free HMM baseline (:mod:`prism.tracker.hmm`), log probabilities
  weighted :data:`HMM_EVIDENCE_RATE` per second;
- ``argmax``: the classifier's per-frame argmax (the raw accuracy).

Every decoder is causal: the class reported at frame ``t`` uses frames ``0..t`` only.
"""

from __future__ import annotations

import math
import zlib
from collections.abc import Callable, Collection, Iterator, Mapping, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import asdict, dataclass, field, fields, replace
from pathlib import Path
from typing import Any

import numpy as np

from prism.data.annotations import frame_labels
from prism.data.captaincook4d import (
    CaptainCookRecipe,
    learn_from_captaincook,
    load_captaincook4d,
)
from prism.data.simulated import SimulatedClassifierConfig, simulate_classifier
from prism.evaluation.metrics import edit_score, frame_accuracy, macro_f1
from prism.procedure.model import Procedure
from prism.reliability import (
    expected_calibration_error,
    fit_confidence_map,
    reliability_table,
)
from prism.tracker import ConfirmationConfig, ConfirmationPolicy, StepTracker, TrackerConfig
from prism.tracker.evidence import ClassifierProfile, fit_classifier_profile
from prism.tracker.hmm import duration_free_hmm, forward_filter

__all__ = [
    "HMM_EVIDENCE_RATE",
    "METHODS",
    "RecordingResult",
    "SimulatedRecording",
    "TrackerEvaluationConfig",
    "cross_fitted_confidence",
    "evaluate_recording",
    "evaluate_tracker",
    "held_out_profile",
    "recipe_streams",
    "simulated_recording",
    "track_with_confirmations",
    "tracker_settings",
]

METHODS = ("tracker", "hmm", "argmax")

HMM_EVIDENCE_RATE = 1.5
"""Weight per second on the log probabilities in the HMM baseline (0.3 per frame at 5 Hz)."""


@dataclass(frozen=True)
class TrackerEvaluationConfig:
    """Settings of a tracker evaluation run.

    Parameters
    ----------
    raw_accuracy : float
        Target frame accuracy of the simulated classifier, in (0, 1).
    error_run_s : float
        Mean length in seconds of the simulated classifier's error runs (1.6 s: the
        first simulator's 8 frames at 5 Hz; real windowed classifiers err for about
        2-10 s at a time). The stream's frame rate is the tracker's.
    seed : int
        Base seed; each recording's stream is seeded by ``(seed, crc32(recording id))``,
        so results do not depend on the order or parallelism of the run.
    smoothing : float
        Dirichlet pseudo-count of the learned transitions.
    confirmations : int
        Questions the simulated user may answer per session (0: none). The user answers
        truthfully when in a step; asked between steps, they give no answer.
    calibrate : bool
        Report the tracker's probabilities through a confidence map fitted on other
        recipes (:func:`cross_fitted_confidence`); only without confirmations, whose
        policy reads the probability.
    model_errors : bool
        Give each recording's tracker the classifier's profile (confusions, error runs)
        measured on the recipe's other recordings (:func:`held_out_profile`).
    tracker : TrackerConfig
        Tracker options.
    """

    raw_accuracy: float = 0.55
    error_run_s: float = 1.6
    seed: int = 0
    smoothing: float = 0.5
    confirmations: int = 0
    model_errors: bool = True
    calibrate: bool = True
    tracker: TrackerConfig = field(default_factory=TrackerConfig)


@dataclass(frozen=True)
class RecordingResult:
    """Labels and each method's online predictions for one recording."""

    recipe: str
    recording_id: str
    n_classes: int
    labels: np.ndarray
    predictions: dict[str, np.ndarray]
    confidence: np.ndarray
    questions_asked: int

    @property
    def worse_than_raw(self) -> bool:
        """Whether the tracker's frame accuracy is below the raw argmax's."""
        tracked = frame_accuracy(self.labels, self.predictions["tracker"])
        return tracked < frame_accuracy(self.labels, self.predictions["argmax"])


def simulator_config(config: TrackerEvaluationConfig) -> SimulatedClassifierConfig:
    """The simulated classifier of an evaluation: its accuracy, error runs and frame rate."""
    return SimulatedClassifierConfig(
        raw_accuracy=config.raw_accuracy,
        mean_error_run_s=config.error_run_s,
        frame_rate=config.tracker.frame_rate,
    )


def tracker_settings(config: TrackerConfig) -> dict[str, Any]:
    """JSON-ready tracker options of a report (the profile and confidence map summarised)."""
    settings = {
        item.name: getattr(config, item.name)
        for item in fields(config)
        if item.name not in ("classifier_profile", "calibration")
    }
    settings["classifier_profile"] = (
        None if config.classifier_profile is None else "measured on the recipe's other recordings"
    )
    settings["calibration"] = None if config.calibration is None else config.calibration.to_dict()
    return settings


def _recording_rng(seed: int, recording_id: str) -> np.random.Generator:
    return np.random.default_rng([seed, zlib.crc32(recording_id.encode())])


def simulated_recording(
    recipe: CaptainCookRecipe, recording_id: str, config: TrackerEvaluationConfig
) -> tuple[Procedure, np.ndarray, np.ndarray]:
    """The leave-one-out procedure, frame labels and simulated classifier stream of a recording.

    Returns
    -------
    procedure : Procedure
        Learned from the recipe's other recordings.
    labels : np.ndarray [shape=(T,), int64]
        True class per frame (``S`` = other).
    probabilities : np.ndarray [shape=(T, S + 1)]
        The simulated classifier's output, seeded by ``(config.seed, recording id)``.
    """
    procedure = learn_from_captaincook(recipe, exclude=[recording_id], smoothing=config.smoothing)
    frame_rate = config.tracker.frame_rate
    labels = frame_labels(recipe.session(recording_id), procedure.step_ids, frame_rate=frame_rate)
    probabilities = simulate_classifier(
        labels,
        n_classes=procedure.n_steps + 1,
        config=simulator_config(config),
        names=[step.name for step in procedure.steps],
        seed=_recording_rng(config.seed, recording_id),
    )
    return procedure, labels, probabilities


def track_with_confirmations(
    tracker: StepTracker, probabilities: np.ndarray, labels: np.ndarray, max_questions: int
) -> tuple[np.ndarray, np.ndarray, int]:
    """Track frame by frame with a simulated user who answers confirmation questions.

    The tracker asks under :class:`~prism.tracker.ConfirmationPolicy` (at most
    ``max_questions`` times); the user names the true step (``labels[t]``) with an
    ``at`` correction, or gives no answer between steps.

    Returns
    -------
    classes : np.ndarray [shape=(n_frames,), int64]
        The online decision after each frame (and answer).
    confidence : np.ndarray [shape=(n_frames,)]
        Its reported probability.
    asked : int
        Questions asked.
    """
    policy = ConfirmationPolicy(ConfirmationConfig(max_requests=max_questions))
    step_ids = tracker.procedure.step_ids
    classes = np.empty(labels.size, dtype=np.int64)
    confidence = np.empty(labels.size)
    for t, frame in enumerate(probabilities):
        state = tracker.update(frame)
        if policy.observe(state) is not None and labels[t] < len(step_ids):
            state = tracker.correct("at", step_ids[labels[t]])
        classes[t] = state.current_class
        confidence[t] = state.current_probability
    return classes, confidence, policy.asked


SimulatedRecording = tuple[Procedure, np.ndarray, np.ndarray]
"""A recording's leave-one-out procedure, frame labels and simulated stream."""


def held_out_profile(
    streams: Mapping[str, SimulatedRecording], recording_id: str, *, frame_rate: float
) -> ClassifierProfile | None:
    """The simulated classifier's profile measured on the recipe's *other* recordings.

    The evaluation's analogue of a sensing model's validation split: the tracker of a
    recording learns how the classifier errs from recordings it is not tested on.
    ``None`` when the recipe has no other recording.
    """
    others = [stream for rid, stream in streams.items() if rid != recording_id]
    if not others:
        return None
    return fit_classifier_profile(
        [labels for _, labels, _ in others],
        [probabilities.argmax(axis=1) for _, _, probabilities in others],
        n_classes=others[0][0].n_steps + 1,
        frame_rate=frame_rate,
    )


def evaluate_recording(
    recipe: CaptainCookRecipe,
    recording_id: str,
    config: TrackerEvaluationConfig,
    *,
    stream: SimulatedRecording | None = None,
) -> RecordingResult:
    """Learn without ``recording_id``, simulate its classifier stream and decode it.

    ``stream`` (from :func:`simulated_recording`) is reused when given.
    """
    procedure, labels, probabilities = stream or simulated_recording(recipe, recording_id, config)
    frame_rate = config.tracker.frame_rate
    n_classes = procedure.n_steps + 1
    tracker = StepTracker(procedure, config.tracker)
    if config.confirmations > 0:
        tracked, confidence, asked = track_with_confirmations(
            tracker, probabilities, labels, config.confirmations
        )
    else:
        result = tracker.track(probabilities)
        tracked, confidence, asked = result.classes, result.confidence, 0
    transition, initial = duration_free_hmm(procedure, frame_rate=frame_rate)
    hmm = forward_filter(
        probabilities,
        transition,
        initial,
        emission_weight=HMM_EVIDENCE_RATE / frame_rate,
    )
    return RecordingResult(
        recipe=recipe.procedure_id,
        recording_id=recording_id,
        n_classes=n_classes,
        labels=labels,
        predictions={
            "tracker": tracked,
            "hmm": hmm.argmax(axis=1),
            "argmax": probabilities.argmax(axis=1),
        },
        confidence=confidence,
        questions_asked=asked,
    )


def recipe_streams(
    recipe: CaptainCookRecipe, config: TrackerEvaluationConfig
) -> Iterator[tuple[str, SimulatedRecording, TrackerConfig]]:
    """Each recording's simulated stream and the tracker settings to decode it with.

    The settings carry the classifier's profile measured on the recipe's other
    recordings when ``config.model_errors`` (see :func:`held_out_profile`).
    """
    streams = {rid: simulated_recording(recipe, rid, config) for rid in recipe.recording_ids}
    for rid, stream in streams.items():
        profile = (
            held_out_profile(streams, rid, frame_rate=config.tracker.frame_rate)
            if config.model_errors
            else None
        )
        yield rid, stream, replace(config.tracker, classifier_profile=profile)


def _evaluate_recipe(
    recipe: CaptainCookRecipe, config: TrackerEvaluationConfig
) -> list[RecordingResult]:
    return [
        evaluate_recording(recipe, rid, replace(config, tracker=tracker), stream=stream)
        for rid, stream, tracker in recipe_streams(recipe, config)
    ]


def _scores(results: Sequence[RecordingResult], method: str) -> dict[str, float]:
    n_classes = results[0].n_classes
    labels = np.concatenate([r.labels for r in results])
    predicted = np.concatenate([r.predictions[method] for r in results])
    edits = [edit_score(r.labels, r.predictions[method], ignore=r.n_classes - 1) for r in results]
    return {
        "accuracy": frame_accuracy(labels, predicted),
        "macro_f1": macro_f1(labels, predicted, n_classes=n_classes),
        "edit_score": float(np.mean(edits)),
    }


def _recipe_summary(results: Sequence[RecordingResult]) -> dict[str, Any]:
    scores = {method: _scores(results, method) for method in METHODS}
    return {
        "raw_accuracy": scores["argmax"]["accuracy"],
        "tracked_accuracy": scores["tracker"]["accuracy"],
        "macro_f1": scores["tracker"]["macro_f1"],
        "edit_score": scores["tracker"]["edit_score"],
        "n_recordings": len(results),
        "n_frames": int(sum(r.labels.size for r in results)),
        "worse_than_raw": int(sum(r.worse_than_raw for r in results)),
        "questions_asked": int(sum(r.questions_asked for r in results)),
        "methods": scores,
    }


CALIBRATION_FOLDS = 2
"""Recipes are split in this many folds; each fold's map is fitted on the others."""


def cross_fitted_confidence(
    confidence: Mapping[str, np.ndarray], correct: Mapping[str, np.ndarray]
) -> dict[str, np.ndarray]:
    """Each recipe's reported probabilities through a map fitted on other recipes only.

    Recipes (in name order) are dealt into :data:`CALIBRATION_FOLDS` folds; a fold's
    frames go through the :class:`~prism.reliability.ConfidenceMap` fitted on the other
    folds' frames, so no recording is calibrated with its own outcomes. The map changes
    only the reported probability, never a decision, so this equals running each
    tracker with that map (``TrackerConfig.calibration``).

    Parameters
    ----------
    confidence, correct : mapping of recipe -> np.ndarray [shape=(n_frames,)]
        The tracker's reported probability and whether its class was right, per frame.

    Returns
    -------
    dict of recipe -> np.ndarray [shape=(n_frames,)]
        The calibrated probabilities, in the order of ``confidence`` (unchanged when
        there is only one recipe).
    """
    recipes = sorted(confidence)
    if len(recipes) < 2:
        return dict(confidence)
    fold = {recipe: i % CALIBRATION_FOLDS for i, recipe in enumerate(recipes)}
    calibrated: dict[str, np.ndarray] = {}
    for held_out in range(CALIBRATION_FOLDS):
        fitting = [r for r in recipes if fold[r] != held_out]
        mapping = fit_confidence_map(
            np.concatenate([confidence[r] for r in fitting]),
            np.concatenate([correct[r] for r in fitting]),
        )
        for recipe in recipes:
            if fold[recipe] == held_out:
                calibrated[recipe] = mapping.calibrate(confidence[recipe])
    return {recipe: calibrated[recipe] for recipe in confidence}


def _mean_over(per_recipe: dict[str, dict[str, Any]], key: str) -> float:
    return float(np.mean([summary[key] for summary in per_recipe.values()]))


def evaluate_tracker(
    data_dir: Path,
    *,
    config: TrackerEvaluationConfig | None = None,
    recipes: Collection[str] | None = None,
    jobs: int = 1,
    on_recipe_done: Callable[[str], None] | None = None,
) -> dict[str, Any]:
    """Run the leave-one-recording-out evaluation on a CaptainCook4D-like directory.

    Parameters
    ----------
    data_dir : Path
        A directory laid out like CaptainCook4D (``complete_step_annotations.json``,
        ``task_graphs/``); any recipes, including ones never seen before.
    config : TrackerEvaluationConfig
        Settings (raw accuracy, seed, tracker options, ...).
    recipes : collection of str, optional
        Only these recipes (slug, name or procedure id).
    jobs : int
        Worker processes (results do not depend on it).
    on_recipe_done : callable, optional
        Called with each recipe's procedure id when it is finished (progress bars).

    Returns
    -------
    dict
        JSON-ready: ``raw_accuracy``, ``tracked_accuracy``, ``macro_f1``, ``edit_score``
        (the tracker's, averaged over recipes), ``baselines`` (``hmm`` and ``argmax``
        with ``accuracy``, ``macro_f1``, ``edit_score``), ``per_recipe`` with the same
        fields per recipe, and the settings used.
    """
    config = config or TrackerEvaluationConfig()
    loaded = load_captaincook4d(Path(data_dir), recipes=recipes)
    ordered = sorted(loaded.values(), key=lambda recipe: recipe.procedure_id)
    per_recipe: dict[str, dict[str, Any]] = {}
    confidence: dict[str, np.ndarray] = {}
    correct: dict[str, np.ndarray] = {}

    def collect(results: list[RecordingResult]) -> None:
        if results:
            recipe = results[0].recipe
            per_recipe[recipe] = _recipe_summary(results)
            confidence[recipe] = np.concatenate([r.confidence for r in results])
            correct[recipe] = np.concatenate(
                [r.predictions["tracker"] == r.labels for r in results]
            )
            if on_recipe_done is not None:
                on_recipe_done(results[0].recipe)

    if jobs > 1:
        with ProcessPoolExecutor(max_workers=jobs) as pool:
            for results in pool.map(_evaluate_recipe, ordered, [config] * len(ordered)):
                collect(results)
    else:
        for recipe in ordered:
            collect(_evaluate_recipe(recipe, config))
    per_recipe = dict(sorted(per_recipe.items()))
    baselines = {
        name: {
            metric: float(np.mean([s["methods"][name][metric] for s in per_recipe.values()]))
            for metric in ("accuracy", "macro_f1", "edit_score")
        }
        for name in ("hmm", "argmax")
    }
    reported = (
        cross_fitted_confidence(confidence, correct)
        if config.calibrate and config.confirmations == 0
        else confidence
    )
    order = sorted(confidence)
    all_confidence = np.concatenate([reported[r] for r in order]) if order else np.empty(0)
    raw_confidence = np.concatenate([confidence[r] for r in order]) if order else np.empty(0)
    all_correct = np.concatenate([correct[r] for r in order]) if order else np.empty(0, bool)
    n_recordings = int(sum(s["n_recordings"] for s in per_recipe.values()))
    worse = int(sum(s["worse_than_raw"] for s in per_recipe.values()))
    return {
        "data_dir": str(data_dir),
        "n_recipes": len(per_recipe),
        "n_recordings": n_recordings,
        "worse_than_raw": worse,
        "worse_than_raw_share": worse / n_recordings if n_recordings else 0.0,
        "ece": expected_calibration_error(all_confidence, all_correct),
        "ece_uncalibrated": expected_calibration_error(raw_confidence, all_correct),
        "mean_confidence": float(all_confidence.mean()) if all_confidence.size else math.nan,
        "reliability": [
            row.as_dict() for row in reliability_table(all_confidence, all_correct, n_bins=10)
        ],
        "raw_accuracy": _mean_over(per_recipe, "raw_accuracy"),
        "tracked_accuracy": _mean_over(per_recipe, "tracked_accuracy"),
        "macro_f1": _mean_over(per_recipe, "macro_f1"),
        "edit_score": _mean_over(per_recipe, "edit_score"),
        "baselines": baselines,
        "per_recipe": per_recipe,
        "settings": {
            "raw_accuracy_target": config.raw_accuracy,
            "seed": config.seed,
            "smoothing": config.smoothing,
            "confirmations": config.confirmations,
            "model_errors": config.model_errors,
            "calibrate": config.calibrate,
            "tracker": tracker_settings(config.tracker),
            "simulator": asdict(simulator_config(config)),
            "decoding": "online (causal): class at frame t uses frames 0..t",
            "edit_score": "segment order of steps, 'other' frames ignored",
            "ece": "tracker's reported probability against its accuracy, all frames "
            "pooled, 15 equal-width bins (reliability: 10 bins); calibrated by a "
            "confidence map fitted on the other half of the recipes"
            if config.calibrate and config.confirmations == 0
            else "tracker's reported probability against its accuracy, all frames pooled",
        },
    }
