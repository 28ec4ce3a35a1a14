"""Leave-one-recording-out evaluation of step tracking on CaptainCook4D-like data.

For every recipe and every recording of it, the procedure is learned from the *other*
recordings of that recipe only, the recording's step annotations become frame labels
at the tracker's frame rate, the simulated classifier turns them into probability
streams with a chosen raw accuracy, and three online decoders run on the same stream:

- ``tracker``: :class:`~prism.tracker.StepTracker` (durations, done sets, precedence);
- ``hmm``: the duration-free HMM baseline (:mod:`prism.tracker.hmm`), same emission weight;
- ``argmax``: the classifier's per-frame argmax (the raw accuracy).

Every decoder is causal: the class reported at frame ``t`` uses frames ``0..t`` only.
"""

from __future__ import annotations

import zlib
from collections.abc import Callable, Collection, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import asdict, dataclass, field
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
from prism.tracker import ConfirmationConfig, ConfirmationPolicy, StepTracker, TrackerConfig
from prism.tracker.hmm import duration_free_hmm, forward_filter

__all__ = [
    "METHODS",
    "RecordingResult",
    "TrackerEvaluationConfig",
    "evaluate_recording",
    "evaluate_tracker",
    "simulated_recording",
    "track_with_confirmations",
]

METHODS = ("tracker", "hmm", "argmax")


@dataclass(frozen=True)
class TrackerEvaluationConfig:
    """Settings of a tracker evaluation run.

    Parameters
    ----------
    raw_accuracy : float
        Target frame accuracy of the simulated classifier, in (0, 1).
    seed : int
        Base seed; each recording's stream is seeded by ``(seed, crc32(recording id))``,
        so results do not depend on the order or parallelism of the run.
    smoothing : float
        Dirichlet pseudo-count of the learned transitions.
    confirmations : int
        Questions the simulated user may answer per session (0: none). The user answers
        truthfully when in a step; asked between steps, they give no answer.
    tracker : TrackerConfig
        Tracker options.
    """

    raw_accuracy: float = 0.55
    seed: int = 0
    smoothing: float = 0.5
    confirmations: int = 0
    tracker: TrackerConfig = field(default_factory=TrackerConfig)


@dataclass(frozen=True)
class RecordingResult:
    """Labels and each method's online predictions for one recording."""

    recipe: str
    recording_id: str
    n_classes: int
    labels: np.ndarray
    predictions: dict[str, np.ndarray]
    questions_asked: int


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
        config=SimulatedClassifierConfig(raw_accuracy=config.raw_accuracy),
        names=[step.name for step in procedure.steps],
        seed=_recording_rng(config.seed, recording_id),
    )
    return procedure, labels, probabilities


def track_with_confirmations(
    tracker: StepTracker, probabilities: np.ndarray, labels: np.ndarray, max_questions: int
) -> tuple[np.ndarray, int]:
    """Track frame by frame with a simulated user who answers confirmation questions.

    The tracker asks under :class:`~prism.tracker.ConfirmationPolicy` (at most
    ``max_questions`` times); the user names the true step (``labels[t]``) with an
    ``at`` correction, or gives no answer between steps.

    Returns
    -------
    classes : np.ndarray [shape=(n_frames,), int64]
        The online decision after each frame (and answer).
    asked : int
        Questions asked.
    """
    policy = ConfirmationPolicy(ConfirmationConfig(max_requests=max_questions))
    step_ids = tracker.procedure.step_ids
    classes = np.empty(labels.size, dtype=np.int64)
    for t, frame in enumerate(probabilities):
        state = tracker.update(frame)
        if policy.observe(state) is not None and labels[t] < len(step_ids):
            state = tracker.correct("at", step_ids[labels[t]])
        classes[t] = state.current_class
    return classes, policy.asked


def evaluate_recording(
    recipe: CaptainCookRecipe, recording_id: str, config: TrackerEvaluationConfig
) -> RecordingResult:
    """Learn without ``recording_id``, simulate its classifier stream and decode it."""
    procedure, labels, probabilities = simulated_recording(recipe, recording_id, config)
    frame_rate = config.tracker.frame_rate
    n_classes = procedure.n_steps + 1
    tracker = StepTracker(procedure, config.tracker)
    if config.confirmations > 0:
        tracked, asked = track_with_confirmations(
            tracker, probabilities, labels, config.confirmations
        )
    else:
        tracked, asked = tracker.track(probabilities).classes, 0
    transition, initial = duration_free_hmm(procedure, frame_rate=frame_rate)
    hmm = forward_filter(
        probabilities, transition, initial, emission_weight=config.tracker.emission_weight
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
        questions_asked=asked,
    )


def _evaluate_recipe(
    recipe: CaptainCookRecipe, config: TrackerEvaluationConfig
) -> list[RecordingResult]:
    return [evaluate_recording(recipe, rid, config) for rid in recipe.recording_ids]


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
        "questions_asked": int(sum(r.questions_asked for r in results)),
        "methods": scores,
    }


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

    def collect(results: list[RecordingResult]) -> None:
        if results:
            per_recipe[results[0].recipe] = _recipe_summary(results)
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
    return {
        "data_dir": str(data_dir),
        "n_recipes": len(per_recipe),
        "n_recordings": int(sum(s["n_recordings"] for s in per_recipe.values())),
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
            "tracker": asdict(config.tracker),
            "simulator": asdict(SimulatedClassifierConfig(raw_accuracy=config.raw_accuracy)),
            "decoding": "online (causal): class at frame t uses frames 0..t",
            "edit_score": "segment order of steps, 'other' frames ignored",
        },
    }
