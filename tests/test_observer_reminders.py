"""Reminder policy: missed steps, time-critical steps, gating, acknowledgements; scoring."""

from __future__ import annotations

import itertools
from dataclasses import replace

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from prism.data.annotations import AnnotatedSession, StepSegment
from prism.evaluation.reminders import score_recording
from prism.observer import (
    FutureModel,
    Observer,
    ObserverConfig,
    RemainingTimeConfig,
    Reminder,
    ReminderConfig,
    ReminderError,
    ReminderKind,
    dependents,
    descendants,
)
from prism.observer.reminders import transitive_closure, usual_order
from prism.procedure.model import DurationStats, GapModel, Procedure, Step, StepNotes
from prism.tracker import StepTracker


def _procedure() -> Procedure:
    """sugar must come before stir; a strict chain pour -> sugar -> milk -> stir."""

    def step(step_id: str, mean: float, **notes: object) -> Step:
        return Step(
            step_id,
            step_id.replace("_", " ").title(),
            "",
            DurationStats(mean=mean, std=mean / 5),
            notes=StepNotes(**notes),  # type: ignore[arg-type]
        )

    return Procedure(
        id="coffee",
        name="Coffee",
        steps=(
            step("pour_coffee", 6.0),
            step("add_sugar", 4.0, must_not_skip=True),
            step("add_milk", 10.0, time_critical=True, reminder="Stop at the line."),
            step("stir", 5.0),
        ),
        transitions={
            "start": {"pour_coffee": 1.0},
            "pour_coffee": {"add_sugar": 1.0},
            "add_sugar": {"add_milk": 1.0},
            "add_milk": {"stir": 1.0},
            "stir": {"end": 1.0},
        },
        precedence=(("add_sugar", "stir"),),
        gap=GapModel(probability=0.1, duration=DurationStats(mean=2.0, std=1.0)),
    )


SHORT_HOLD = ReminderConfig(missed_hold_s=5.0)
"""The toy procedure's steps last seconds: hold the missed-step evidence for 5 s."""


def _frames(sequence: list[tuple[int, float]], n_classes: int = 5) -> np.ndarray:
    """Confident classifier frames: (class, seconds) runs at 5 frames/s."""
    rows = []
    for label, seconds in sequence:
        row = np.full(n_classes, 0.02)
        row[label] = 1.0 - 0.02 * (n_classes - 1)
        rows.extend([row] * int(seconds * 5))
    return np.array(rows)


def _run(
    frames: np.ndarray, config: ReminderConfig | None = None
) -> tuple[Observer, list[Reminder]]:
    tracker = StepTracker(_procedure())
    observer = Observer(tracker, ObserverConfig(reminders=config or ReminderConfig()))
    issued: list[Reminder] = []
    for frame in frames:
        issued.extend(observer.observe(tracker.update(frame)).reminders)
    return observer, issued


def test_a_skipped_required_step_is_reminded_once_a_later_step_has_started() -> None:
    # pour, (no sugar), milk, stir: stir must come after sugar, so sugar was skipped.
    frames = _frames([(0, 6), (2, 10), (3, 20)])
    _, issued = _run(frames, SHORT_HOLD)
    missed = [r for r in issued if r.kind == ReminderKind.MISSED_STEP]
    assert [r.step for r in missed] == ["add_sugar"]
    assert missed[0].before == "stir"
    assert "add sugar" in missed[0].reason.lower() and "stir" in missed[0].reason
    assert missed[0].confidence >= ReminderConfig().missed_threshold
    # after the evidence has held for missed_hold_s (stir starts at 16 s), not before
    assert 16.0 + SHORT_HOLD.missed_hold_s <= missed[0].time < 16.0 + 10.0


def test_brief_evidence_of_a_later_step_does_not_raise_a_reminder() -> None:
    # stir seen for 5 s (shorter than the hold), then the user adds the sugar.
    frames = _frames([(0, 6), (2, 10), (3, 3), (1, 4), (3, 10)])
    _, issued = _run(frames, SHORT_HOLD)
    assert not [r for r in issued if r.kind == ReminderKind.MISSED_STEP]


def test_no_missed_step_reminder_when_everything_is_done_in_order() -> None:
    frames = _frames([(0, 6), (1, 4), (2, 10), (3, 5), (4, 5)])
    _, issued = _run(frames)
    assert not [r for r in issued if r.kind == ReminderKind.MISSED_STEP]


def test_time_critical_step_is_announced_and_reminded_while_it_lasts() -> None:
    frames = _frames([(0, 6), (1, 4), (2, 10)])
    _, issued = _run(frames, ReminderConfig(cooldown_s=0.0))
    kinds = [(r.kind, r.step) for r in issued]
    assert (ReminderKind.UPCOMING, "add_milk") in kinds
    assert (ReminderKind.TIME_CRITICAL, "add_milk") in kinds
    critical = next(r for r in issued if r.kind == ReminderKind.TIME_CRITICAL)
    assert "Stop at the line." in critical.reason
    assert critical.time - 10.0 >= 0.7 * 10.0 - 1.0


def test_no_reminder_while_the_tracker_is_unsure() -> None:
    uniform = np.full((400, 5), 0.2)
    _, issued = _run(uniform, ReminderConfig(min_state_confidence=0.9))
    assert issued == []


def test_rate_limits_hold() -> None:
    config = ReminderConfig(cooldown_s=30.0, max_per_minute=1)
    _, issued = _run(_frames([(0, 6), (2, 30)]), config)
    times = sorted({r.time for r in issued})
    assert all(b - a >= 30.0 for a, b in itertools.pairwise(times))


def _two_required_steps() -> Procedure:
    """grind -> tamp (required) -> lock (required) -> brew; tamp and lock before brew."""
    steps = tuple(
        Step(
            step_id,
            step_id.title(),
            "",
            DurationStats(mean=6.0, std=1.2),
            notes=StepNotes(must_not_skip=step_id in ("tamp", "lock")),
        )
        for step_id in ("grind", "tamp", "lock", "brew")
    )
    return Procedure(
        id="espresso",
        name="Espresso",
        steps=steps,
        transitions={
            "start": {"grind": 1.0},
            "grind": {"tamp": 0.9, "brew": 0.1},
            "tamp": {"lock": 1.0},
            "lock": {"brew": 1.0},
            "brew": {"end": 1.0},
        },
        precedence=(("tamp", "brew"), ("lock", "brew")),
    )


@pytest.mark.parametrize("together", [1, 3])
def test_missed_steps_due_together_are_one_notification(together: int) -> None:
    # grind, then straight to brew: tamp and lock were both skipped.
    config = ReminderConfig(missed_hold_s=5.0, cooldown_s=60.0, max_missed_together=together)
    tracker = StepTracker(_two_required_steps())
    observer = Observer(tracker, ObserverConfig(reminders=config))
    notifications = []
    for frame in _frames([(0, 6), (3, 20)]):
        reminders = observer.observe(tracker.update(frame)).reminders
        if reminders:
            notifications.append(reminders)
    # the cooldown allows one notification in this time; it names both steps at once
    # unless only one missed step may be issued per notification
    assert len(notifications) == 1
    steps = [r.step for r in notifications[0]]
    assert len(steps) == min(together, 2)
    assert set(steps) <= {"tamp", "lock"}
    assert all(r.kind == ReminderKind.MISSED_STEP and r.before == "brew" for r in notifications[0])
    assert len({r.id for r in notifications[0]}) == len(steps)


def test_dismiss_snooze_and_confirm_done() -> None:
    observer, issued = _run(_frames([(0, 6), (2, 10), (3, 20)]), SHORT_HOLD)
    reminder = next(r for r in issued if r.kind == ReminderKind.MISSED_STEP)
    scheduler = observer.scheduler
    assert scheduler.snooze(reminder.id, 5.0) == reminder
    assert scheduler.dismiss(reminder.id) == reminder
    state = observer.confirm_done("add_sugar")
    index = observer.tracker.procedure.step_index("add_sugar")
    assert state.done_probabilities[index] == pytest.approx(1.0)
    with pytest.raises(ReminderError, match="unknown reminder id 99"):
        scheduler.dismiss(99)
    with pytest.raises(ReminderError, match=r"unknown step 'sugar'.*known steps: pour_coffee"):
        observer.confirm_done("sugar")


def test_snoozed_reminder_comes_back_after_the_snooze() -> None:
    frames = _frames([(0, 6), (2, 10), (3, 25)])
    tracker = StepTracker(_procedure())
    config = ReminderConfig(cooldown_s=0.0, max_per_minute=10, missed_hold_s=5.0)
    observer = Observer(tracker, ObserverConfig(reminders=config))
    issued: list[Reminder] = []
    for frame in frames:
        new = observer.observe(tracker.update(frame)).reminders
        for reminder in new:
            if reminder.kind == ReminderKind.MISSED_STEP and len(issued) < 5:
                observer.scheduler.snooze(reminder.id, 8.0)
        issued.extend(new)
    missed = [r.time for r in issued if r.kind == ReminderKind.MISSED_STEP]
    assert len(missed) >= 2
    assert missed[1] - missed[0] >= 8.0


def test_finishing_reminds_required_steps_that_never_started() -> None:
    # pour, milk, a short stir, end: sugar never started; the evidence (stir) did not
    # hold long enough for a reminder during the task
    observer, issued = _run(_frames([(0, 6), (2, 10), (3, 3)]))
    assert not [r for r in issued if r.kind == ReminderKind.MISSED_STEP]
    last = observer.finish(observer.tracker.state())
    assert [r.step for r in last] == ["add_sugar"]
    reminder = last[0]
    assert reminder.kind == ReminderKind.MISSED_STEP and reminder.before is None
    assert reminder.reason.startswith("Before you finish")
    assert "add sugar" in reminder.reason.lower()
    assert reminder.confidence >= ReminderConfig().finish_threshold
    assert reminder.time == pytest.approx(observer.tracker.state().time)
    assert observer.finish(observer.tracker.state()) == ()  # once


def test_finishing_reminds_a_skipped_last_step_that_nothing_depends_on() -> None:
    procedure = _procedure()
    stir = replace(procedure.steps[3], notes=StepNotes(must_not_skip=True))
    tracker = StepTracker(replace(procedure, steps=(*procedure.steps[:3], stir)))
    observer = Observer(tracker)
    for frame in _frames([(0, 6), (1, 4), (2, 10)]):
        observer.observe(tracker.update(frame))
    assert [r.step for r in observer.scheduler.issued if r.kind == ReminderKind.MISSED_STEP] == []
    assert [r.step for r in observer.finish(tracker.state())] == ["stir"]


def test_finishing_leaves_out_done_reminded_and_confirmed_steps() -> None:
    everything, _ = _run(_frames([(0, 6), (1, 4), (2, 10), (3, 5)]))
    assert everything.finish(everything.tracker.state()) == ()
    reminded, issued = _run(_frames([(0, 6), (2, 10), (3, 20)]), SHORT_HOLD)
    assert [r.step for r in issued if r.kind == ReminderKind.MISSED_STEP] == ["add_sugar"]
    assert reminded.finish(reminded.tracker.state()) == ()
    confirmed, _ = _run(_frames([(0, 6), (2, 10), (3, 3)]))
    confirmed.scheduler.step_done("add_sugar")  # the user said so; the tracker not told
    assert confirmed.finish(confirmed.tracker.state()) == ()


def test_procedure_without_durations_or_precedence_still_works() -> None:
    bare = Procedure(
        id="bare",
        name="Bare",
        steps=tuple(
            Step(s, s, "", DurationStats(mean=5.0, std=2.0), notes=StepNotes(must_not_skip=True))
            for s in ("a", "b", "c")
        ),
        transitions={"start": {"a": 1.0}, "a": {"b": 1.0}, "b": {"c": 1.0}, "c": {"end": 1.0}},
    )
    tracker = StepTracker(bare)
    observer = Observer(tracker)
    issued = []
    for frame in _frames([(0, 5), (2, 40)], n_classes=4):
        issued.extend(observer.observe(tracker.update(frame)).reminders)
    missed = [r for r in issued if r.kind == ReminderKind.MISSED_STEP]
    assert [r.step for r in missed] == ["b"]
    assert missed[0].before == "c" and "it comes before: c" in missed[0].reason


def test_dependents_are_direct_precedence_successors() -> None:
    assert dependents(_procedure())["add_sugar"] == ("stir",)
    assert dependents(_procedure())["stir"] == ()


def test_descendants_close_the_precedence_or_follow_the_transitions() -> None:
    procedure = _procedure()
    assert descendants(procedure)["add_sugar"] == {"stir"}
    chained = replace(procedure, precedence=(("pour_coffee", "add_sugar"), ("add_sugar", "stir")))
    assert descendants(chained)["pour_coffee"] == {"add_sugar", "stir"}
    # without precedence: the order the transitions imply; steps in a loop (sugar and
    # milk can follow each other) are ordered by the usual (most probable) path
    looped = replace(
        procedure,
        precedence=(),
        transitions={
            **procedure.transitions,
            "add_milk": {"stir": 0.5, "add_sugar": 0.5},
        },
    )
    later = descendants(looped)
    assert later["pour_coffee"] == {"add_sugar", "add_milk", "stir"}
    assert usual_order(looped) == ("pour_coffee", "add_sugar", "add_milk", "stir")
    assert later["add_sugar"] == {"add_milk", "stir"} and later["add_milk"] == {"stir"}


@given(st.lists(st.tuples(st.integers(0, 5), st.integers(0, 5)), max_size=15))
def test_transitive_closure_matches_path_search(edges: list[tuple[int, int]]) -> None:
    direct = np.zeros((6, 6), dtype=bool)
    for a, b in edges:
        direct[a, b] = True
    closure = transitive_closure(direct)
    for origin in range(6):
        seen: set[int] = set()
        frontier = [origin]
        while frontier:
            for nxt in np.flatnonzero(direct[frontier.pop()]):
                if int(nxt) not in seen:
                    seen.add(int(nxt))
                    frontier.append(int(nxt))
        assert set(np.flatnonzero(closure[origin]).tolist()) == seen


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("missed_threshold", 1.5),
        ("cooldown_s", -1.0),
        ("max_per_minute", 0),
        ("max_missed_together", 0),
    ],
)
def test_config_rejects_bad_values(field: str, value: float) -> None:
    with pytest.raises(ReminderError, match=field):
        ReminderConfig(**{field: value})  # type: ignore[arg-type]


def _reminder(step: str, time: float) -> Reminder:
    return Reminder(1, ReminderKind.MISSED_STEP, step, "", 0.9, time)


def _coffee_session(*extra: StepSegment, skipped: tuple[str, ...] = ()) -> AnnotatedSession:
    """pour 0-6 s, milk 6-16 s, stir 16-20 s (then ``extra``); 25 s long."""
    return AnnotatedSession(
        session_id="s",
        task="coffee",
        segments=(
            StepSegment("pour_coffee", 0.0, 6.0),
            StepSegment("add_milk", 6.0, 16.0),
            StepSegment("stir", 16.0, 20.0),
            *extra,
        ),
        duration=25.0,
        skipped=skipped,
    )


def test_scoring_counts_caught_late_and_false_reminders() -> None:
    procedure = _procedure()
    session = _coffee_session(skipped=("add_sugar",))
    early = score_recording(session, procedure, [_reminder("add_sugar", 10.0)])
    assert early["skipped"] == 1 and early["caught"] == 1
    assert early["caught_before_dependent"] == 1
    assert early["lead_times_s"] == [pytest.approx(6.0)]
    late = score_recording(session, procedure, [_reminder("add_sugar", 17.0)])
    assert late["caught"] == 1 and late["caught_before_dependent"] == 0
    assert late["lead_times_s"] == [pytest.approx(-1.0)] and late["false"] == 0
    after_end = score_recording(session, procedure, [_reminder("add_sugar", 30.0)])
    assert after_end["caught"] == 0
    done = score_recording(session, procedure, [_reminder("add_milk", 8.0)])
    assert done["false"] == 1 and done["caught"] == 0


def test_scoring_counts_reminders_at_the_finish_with_a_zero_lead() -> None:
    procedure = _procedure()
    session = replace(
        _coffee_session(skipped=("add_sugar",)),
        segments=(StepSegment("pour_coffee", 0.0, 6.0), StepSegment("add_milk", 6.0, 16.0)),
    )  # stir (the step that depends on the sugar) was skipped too
    at_finish = score_recording(session, procedure, [_reminder("add_sugar", 25.2)], end=25.2)
    assert at_finish["caught"] == 1 and at_finish["lead_times_s"] == [pytest.approx(0.0)]
    assert at_finish["caught_before_dependent"] == 0
    assert score_recording(session, procedure, [_reminder("add_sugar", 25.2)])["caught"] == 0


def test_scoring_tells_overdue_steps_from_steps_not_yet_due() -> None:
    procedure = _procedure()
    session = _coffee_session(StepSegment("add_sugar", 20.0, 24.0))  # out of order: after stir
    not_due = score_recording(session, procedure, [_reminder("add_sugar", 10.0)])
    assert not_due["false"] == 1
    overdue = score_recording(session, procedure, [_reminder("add_sugar", 18.0)])
    assert overdue["false"] == 0 and overdue["skipped"] == 0


def test_sessions_can_share_one_remaining_time_model() -> None:
    procedure = _procedure()
    shared = FutureModel(StepTracker(procedure).model)
    frames = _frames([(0, 8), (1, 12)], n_classes=procedure.n_steps + 1)
    trackers = [StepTracker(procedure) for _ in range(2)]
    own = Observer(trackers[0])
    pooled = Observer(trackers[1], future=shared)
    assert pooled.future is shared
    for frame in frames:
        alone, together = (own.remaining(t.update(frame)) for t in trackers)
        assert alone.until_end.mean == pytest.approx(together.until_end.mean, abs=1e-9)
    # another procedure, or other remaining-time settings, cannot use it
    other = replace(procedure, id="other", name="Other")
    with pytest.raises(ReminderError, match="another procedure"):
        Observer(StepTracker(other), future=shared)
    config = ObserverConfig(remaining=RemainingTimeConfig(move_floor=0.2))
    with pytest.raises(ReminderError, match="remaining-time settings"):
        Observer(StepTracker(procedure), config, future=shared)
