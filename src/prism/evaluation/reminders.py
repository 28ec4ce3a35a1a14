"""Evaluation of missed-step reminders on CaptainCook4D-like data, leave-one-recording-out.

Each recording is tracked exactly as in :mod:`prism.evaluation.tracking` (procedure
learned from the other recordings, simulated classifier stream); the observer runs every
``observe_every`` frames and its reminders are scored against the annotations:

- A *skipped* step (annotated ``start_time = -1``) is *caught* when a missed-step
  reminder for it comes before the end of the recording (the user can still do it);
  it is caught *before its dependent* when the reminder comes before the first
  performed step that depends on it (a precedence successor). ``lead time`` = that
  dependent's start (or the end of the recording when none is performed) - reminder
  time; negative when the dependent had already started.
- The recording's end is the user finishing: the observer's last check
  (:meth:`~prism.observer.Observer.finish`) then reminds the steps most probably never
  started, at the time of the last frame. ``*_in_task`` fields leave those reminders
  out.
- A missed-step reminder for a step the recording performed is *false* when the step
  had in fact started by then, or was not yet due: no step that must come after it
  (transitive precedence) had started. A reminder for a step the user then does out of
  order (after a step that depends on it) is not false: it was overdue.

Baseline (the published policy): each required step is reminded at its initially
expected start time (the observer's prediction at the start of the session) if the
tracker does not then believe it started.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

from prism.data.annotations import AnnotatedSession
from prism.data.captaincook4d import CaptainCookRecipe, load_captaincook4d
from prism.evaluation.tracking import (
    SimulatedRecording,
    TrackerEvaluationConfig,
    recipe_streams,
    simulated_recording,
    tracker_settings,
)
from prism.observer import (
    Observer,
    ObserverConfig,
    Reminder,
    ReminderKind,
    dependents,
    descendants,
)
from prism.procedure.model import Procedure
from prism.tracker import StepTracker

__all__ = [
    "BASELINE",
    "METHOD",
    "RecordingReminders",
    "ReminderEvaluationConfig",
    "evaluate_reminders",
    "reminders_for_recording",
    "score_recording",
]

METHOD = "observer"
BASELINE = "expected_time"


@dataclass(frozen=True)
class ReminderEvaluationConfig:
    """Settings: the tracker evaluation's (stream, tracker) plus the observer's."""

    tracking: TrackerEvaluationConfig = field(default_factory=TrackerEvaluationConfig)
    observer: ObserverConfig = field(default_factory=ObserverConfig)
    observe_every: int = 5
    """Frames between two observer runs (5 = once a second at 5 frames/s)."""


@dataclass(frozen=True)
class RecordingReminders:
    """Everything needed to score and plot one recording."""

    recipe: str
    recording_id: str
    step_ids: tuple[str, ...]
    labels: np.ndarray
    tracked: np.ndarray
    frame_rate: float
    reminders: dict[str, tuple[Reminder, ...]]
    scores: dict[str, dict[str, Any]]


def _deadlines(session: AnnotatedSession, procedure: Procedure, end: float) -> dict[str, float]:
    """Skipped step -> start (s) of its first performed dependent, else ``end``."""
    started = {segment.step: segment.start for segment in session.segments}
    after = dependents(procedure)
    out = {}
    for step in session.skipped:
        if step not in after:
            continue
        performed = [started[d] for d in after[step] if d in started]
        out[step] = min(performed) if performed else end
    return out


def _is_false(reminder: Reminder, started: dict[str, float], later: frozenset[str]) -> bool:
    """A reminder for a performed step that had started, or that nothing was past yet."""
    if reminder.step not in started:
        return False
    due = [started[step] for step in later if step in started]
    return started[reminder.step] <= reminder.time or not due or min(due) > reminder.time


def score_recording(
    session: AnnotatedSession,
    procedure: Procedure,
    reminders: Sequence[Reminder],
    *,
    end: float | None = None,
) -> dict[str, Any]:
    """Caught skipped steps, lead times and false reminders of one recording.

    ``end`` is when the user finished (s; default the recording's duration; the
    evaluation passes the end of the last frame, up to a frame later).

    Returns
    -------
    dict
        ``skipped`` (count), ``caught`` (reminded before the end of the recording),
        ``caught_before_dependent`` (before its first performed dependent started),
        ``lead_times_s`` (dependent start or end - reminder time, per caught step),
        ``false`` (see the module docstring), ``reminders`` (all missed-step reminders).
    """
    end = session.duration if end is None else end
    deadlines = _deadlines(session, procedure, end)
    started = {segment.step: segment.start for segment in session.segments}
    later = descendants(procedure)
    missed = [r for r in reminders if r.kind == ReminderKind.MISSED_STEP]
    first: dict[str, float] = {}
    for reminder in missed:
        first.setdefault(reminder.step, reminder.time)
    leads = [
        deadline - first[step]
        for step, deadline in deadlines.items()
        if step in first and first[step] <= end
    ]
    return {
        "skipped": len(deadlines),
        "caught": len(leads),
        "caught_before_dependent": sum(1 for lead in leads if lead > 0),
        "lead_times_s": leads,
        "false": sum(1 for r in missed if _is_false(r, started, later[r.step])),
        "reminders": len(missed),
    }


def _baseline(expected_start: np.ndarray, state_done: np.ndarray, now: float) -> list[int]:
    """Steps whose initially expected start time has come and that do not look started."""
    due = (expected_start <= now) & (state_done < 0.5)
    return [int(i) for i in np.flatnonzero(due)]


def reminders_for_recording(
    recipe: CaptainCookRecipe,
    recording_id: str,
    config: ReminderEvaluationConfig,
    *,
    stream: SimulatedRecording | None = None,
) -> RecordingReminders:
    """Track one recording with the observer and the baseline policy; score both.

    ``stream`` (from :func:`~prism.evaluation.tracking.simulated_recording`) is reused
    when given.
    """
    procedure, labels, probabilities = stream or simulated_recording(
        recipe, recording_id, config.tracking
    )
    tracker = StepTracker(procedure, config.tracking.tracker)
    observer = Observer(tracker, config.observer)
    initial = observer.future.predict(tracker.state().beam)
    expected_start = np.array(
        [initial.until_start(step).mean for step in procedure.step_ids], dtype=np.float64
    )
    expected_start = np.nan_to_num(expected_start, nan=np.inf)
    required = {s.id for s in procedure.steps if s.notes.must_not_skip}
    baseline: list[Reminder] = []
    reminded: set[int] = set()
    tracked = np.empty(labels.size, dtype=np.int64)
    for t, frame in enumerate(probabilities):
        state = tracker.update(frame)
        tracked[t] = state.current_class
        if (t + 1) % config.observe_every:
            continue
        observer.observe(state)
        started = state.started_probabilities
        for index in _baseline(expected_start, started, state.time):
            step = procedure.step_ids[index]
            if index in reminded or step not in required:
                continue
            reminded.add(index)
            baseline.append(
                Reminder(
                    len(baseline) + 1,
                    ReminderKind.MISSED_STEP,
                    step,
                    "expected by now",
                    float(1.0 - started[index]),
                    state.time,
                )
            )
    in_task = observer.scheduler.issued
    final = tracker.state()
    observer.finish(final)
    session = recipe.session(recording_id)
    reminders = {METHOD: observer.scheduler.issued, BASELINE: tuple(baseline)}
    scores = {
        name: score_recording(session, procedure, items, end=final.time)
        for name, items in reminders.items()
    }
    task_only = score_recording(session, procedure, in_task, end=final.time)
    scores[METHOD].update(caught_in_task=task_only["caught"], false_in_task=task_only["false"])
    return RecordingReminders(
        recipe=procedure.id,
        recording_id=recording_id,
        step_ids=procedure.step_ids,
        labels=labels,
        tracked=tracked,
        frame_rate=config.tracking.tracker.frame_rate,
        reminders=reminders,
        scores=scores,
    )


def _evaluate_recipe(
    recipe: CaptainCookRecipe, config: ReminderEvaluationConfig
) -> list[RecordingReminders]:
    return [
        reminders_for_recording(
            recipe,
            rid,
            replace(config, tracking=replace(config.tracking, tracker=tracker)),
            stream=stream,
        )
        for rid, stream, tracker in recipe_streams(recipe, config.tracking)
    ]


def _summary(results: Sequence[RecordingReminders], method: str) -> dict[str, Any]:
    scores = [r.scores[method] for r in results]
    skipped = sum(s["skipped"] for s in scores)
    caught = sum(s["caught"] for s in scores)
    before_dependent = sum(s["caught_before_dependent"] for s in scores)
    leads = [lead for s in scores for lead in s["lead_times_s"]]
    in_task = {}
    if method == METHOD:
        caught_in_task = sum(s["caught_in_task"] for s in scores)
        in_task = {
            "missed_step_recall_in_task": caught_in_task / skipped if skipped else float("nan"),
            "false_reminders_per_session_in_task": float(
                np.mean([s["false_in_task"] for s in scores])
            ),
        }
    return {
        "missed_step_recall": caught / skipped if skipped else float("nan"),
        "median_lead_time_s": float(np.median(leads)) if leads else float("nan"),
        "missed_step_recall_before_dependent": (
            before_dependent / skipped if skipped else float("nan")
        ),
        "false_reminders_per_session": float(np.mean([s["false"] for s in scores])),
        "reminders_per_session": float(np.mean([s["reminders"] for s in scores])),
        "skipped_steps": skipped,
        "caught": caught,
        "n_recordings": len(results),
        **in_task,
    }


def evaluate_reminders(
    data_dir: Path,
    *,
    config: ReminderEvaluationConfig | None = None,
    recipes: Collection[str] | None = None,
    jobs: int = 1,
    on_recipe_done: Callable[[str], None] | None = None,
) -> tuple[dict[str, Any], list[RecordingReminders]]:
    """Run the reminder evaluation on a CaptainCook4D-like directory.

    Returns
    -------
    report : dict
        JSON-ready: the observer's ``missed_step_recall``, ``median_lead_time_s``,
        ``false_reminders_per_session`` over all recordings, ``baseline`` with the same
        fields, ``per_recipe`` (both methods) and the settings.
    results : list of RecordingReminders
        Per recording (for plots).
    """
    config = config or ReminderEvaluationConfig()
    loaded = load_captaincook4d(Path(data_dir), recipes=recipes)
    ordered = sorted(loaded.values(), key=lambda recipe: recipe.procedure_id)
    results: list[RecordingReminders] = []
    if jobs > 1:
        with ProcessPoolExecutor(max_workers=jobs) as pool:
            for batch in pool.map(_evaluate_recipe, ordered, [config] * len(ordered)):
                results.extend(batch)
                if batch and on_recipe_done is not None:
                    on_recipe_done(batch[0].recipe)
    else:
        for recipe in ordered:
            batch = _evaluate_recipe(recipe, config)
            results.extend(batch)
            if batch and on_recipe_done is not None:
                on_recipe_done(batch[0].recipe)
    recipes_seen = sorted({r.recipe for r in results})
    per_recipe = {
        name: {
            METHOD: _summary([r for r in results if r.recipe == name], METHOD),
            BASELINE: _summary([r for r in results if r.recipe == name], BASELINE),
        }
        for name in recipes_seen
    }
    report = {
        "data_dir": str(data_dir),
        **_summary(results, METHOD),
        "baseline": _summary(results, BASELINE),
        "per_recipe": per_recipe,
        "settings": {
            "raw_accuracy_target": config.tracking.raw_accuracy,
            "seed": config.tracking.seed,
            "observe_every_frames": config.observe_every,
            "tracker": tracker_settings(config.tracking.tracker),
            "reminders": config.observer.reminders.to_dict(),
            "remaining_time": asdict(config.observer.remaining),
            "baseline": "remind each required step at its initially expected start time "
            "if the tracker does not believe it started",
        },
    }
    return report, results
