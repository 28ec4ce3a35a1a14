"""Proactive reminders: before a required step is missed, and ahead of time-critical steps.

The scheduler looks at the tracker's state and the remaining-time prediction after a
frame and decides whether to speak. Three kinds of reminder:

- ``missed_step``: a required step (``notes.must_not_skip``) that the user's path has
  skipped: ``P(not started yet) * P(a step after it has started)``, where "after" is
  the transitive closure of the procedure's precedence (the tracker sees later steps
  while it is not done). The evidence must hold for ``missed_hold_s`` before the
  reminder, so a few noisy frames of a later step do not raise it. It is reminded with
  the step it must come before ("it comes before stirring"), or, when the user
  finishes, "before you finish".
- ``upcoming``: a time-critical step (``notes.time_critical``) is likely to start within
  ``upcoming_lead_s`` ("in about 30 s you will steam the milk").
- ``time_critical``: a time-critical step has been going on for ``critical_fraction`` of
  its expected duration ("the milk has steamed for 40 s; stop at about 60 s").

Gating keeps it from nagging: nothing while the tracker is unsure where the user is
(``min_state_confidence``), a global ``cooldown_s`` between notifications, at most
``max_per_minute`` of them, one reminder per (kind, step) unless snoozed, none after a
dismissal. Missed steps that fall due together (up to ``max_missed_together``) are issued
together as one notification (the watch shows them at once), so the gating counts them
once: a user who skipped two steps hears about both, not about one now and the other a
cooldown later, when the dependent step may already be under way.

When the user finishes (ends the session), :meth:`ReminderScheduler.finish` is a last
check: every required step that most probably never started (``P(not started) >=
finish_threshold``) and was not reminded yet is reminded "before you finish", in one
notification. It is the only chance to catch a skipped step that nothing depends on (the
last one of a recipe, say): during the task, a step not done yet is most often simply
still to come.
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Callable, Collection
from dataclasses import asdict, dataclass
from enum import StrEnum
from typing import Any

import numpy as np

from prism.errors import ReminderError
from prism.observer.remaining import RemainingTime
from prism.procedure.model import END, START, Procedure
from prism.tracker.state import TrackerState

__all__ = [
    "Reminder",
    "ReminderConfig",
    "ReminderError",
    "ReminderKind",
    "ReminderScheduler",
    "dependents",
    "descendants",
    "transitive_closure",
    "usual_order",
]


class ReminderKind(StrEnum):
    """What a reminder is about."""

    MISSED_STEP = "missed_step"
    UPCOMING = "upcoming"
    TIME_CRITICAL = "time_critical"


@dataclass(frozen=True)
class ReminderConfig:
    """The reminder policy's parameters (all in one place; seconds and probabilities).

    Parameters
    ----------
    missed_threshold : float
        Missed-step evidence ``P(open) * P(a later step started)`` needed ...
    missed_hold_s : float
        ... without a break for this long (seconds) before the reminder.
    min_state_confidence : float
        No reminder while the tracker's most probable class has less than this.
    min_session_s : float
        No missed-step reminder in the first seconds of a session.
    upcoming_lead_s : float
        Announce a time-critical step this long before it is likely to start.
    upcoming_probability : float
        ... when it starts within ``upcoming_lead_s`` with at least this probability.
    critical_fraction : float
        Remind during a time-critical step after this fraction of its mean duration.
    cooldown_s : float
        Seconds between any two notifications, at least.
    max_per_minute : int
        Notifications in any 60 s window, at most.
    max_missed_together : int
        Missed-step reminders that may be issued together as one notification.
    snooze_s : float
        Default snooze length.
    finish_threshold : float
        When the user finishes, remind the required steps whose probability of never
        having started is at least this.
    """

    missed_threshold: float = 0.8
    missed_hold_s: float = 20.0
    min_state_confidence: float = 0.5
    min_session_s: float = 10.0
    upcoming_lead_s: float = 30.0
    upcoming_probability: float = 0.6
    critical_fraction: float = 0.7
    cooldown_s: float = 15.0
    max_per_minute: int = 2
    max_missed_together: int = 3
    snooze_s: float = 60.0
    finish_threshold: float = 0.8

    def __post_init__(self) -> None:
        for name in (
            "missed_threshold",
            "min_state_confidence",
            "upcoming_probability",
            "critical_fraction",
            "finish_threshold",
        ):
            value = getattr(self, name)
            if not 0.0 <= value <= 1.0:
                raise ReminderError(f"ReminderConfig.{name} must be in [0, 1], got {value}")
        for name in (
            "missed_hold_s",
            "min_session_s",
            "upcoming_lead_s",
            "cooldown_s",
            "snooze_s",
        ):
            value = getattr(self, name)
            if not 0.0 <= value < math.inf:
                raise ReminderError(f"ReminderConfig.{name} must be >= 0 s, got {value}")
        for name in ("max_per_minute", "max_missed_together"):
            if getattr(self, name) < 1:
                raise ReminderError(
                    f"ReminderConfig.{name} must be >= 1, got {getattr(self, name)}"
                )

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready field values."""
        return asdict(self)


@dataclass(frozen=True)
class Reminder:
    """One reminder event.

    Attributes
    ----------
    id : int
        Unique within a session (1, 2, ...), for acknowledgements.
    kind : ReminderKind
    step : str
        The step it is about.
    reason : str
        The sentence for the user.
    confidence : float
        Probability behind the decision (missed: P(open and a later step started);
        upcoming: P(starts within the lead); time-critical: P(the step is going on)).
    time : float
        Session time (s) it was issued.
    before : str or None
        Missed steps: the step it must come before (``None`` for other kinds, and for a
        missed step reminded when the user finishes).
    """

    id: int
    kind: ReminderKind
    step: str
    reason: str
    confidence: float
    time: float
    before: str | None = None

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready fields (``kind`` as its string value)."""
        return {**asdict(self), "kind": self.kind.value}


def dependents(procedure: Procedure) -> dict[str, tuple[str, ...]]:
    """Steps that list each step as a precedence predecessor (direct dependents)."""
    out: dict[str, list[str]] = {step: [] for step in procedure.step_ids}
    for before, after in procedure.precedence:
        out[before].append(after)
    return {step: tuple(after) for step, after in out.items()}


def transitive_closure(direct: np.ndarray) -> np.ndarray:
    """Reachability in one or more hops.

    Parameters
    ----------
    direct : np.ndarray [shape=(S, S), bool]
        ``direct[i, j]``: an edge from ``i`` to ``j``.

    Returns
    -------
    np.ndarray [shape=(S, S), bool]
        ``out[i, j]``: ``j`` can be reached from ``i`` along one or more edges.
    """
    reach = np.asarray(direct, dtype=bool).copy()
    for k in range(reach.shape[0]):
        reach |= reach[:, k : k + 1] & reach[k : k + 1, :]
    return reach


def usual_order(
    procedure: Procedure, *, origin: str = START, visited: Collection[str] = ()
) -> tuple[str, ...]:
    """The most probable path through the procedure: from ``origin`` (default the
    start), repeatedly the most probable successor not visited yet, until the end (or
    nothing new is left). ``origin`` and ``visited`` are not part of the path."""
    seen = set(visited)
    path: list[str] = []
    while True:
        row = procedure.transitions.get(origin, {})
        options = [(p, s) for s, p in row.items() if s == END or s not in seen]
        if not options:
            return tuple(path)
        _, best = max(options, key=lambda item: (item[0], item[1] == END))
        if best == END:
            return tuple(path)
        path.append(best)
        seen.add(best)
        origin = best


def descendants(procedure: Procedure) -> dict[str, frozenset[str]]:
    """Steps that must come after each step.

    The transitive closure of the precedence. A procedure without precedence gets the
    order its transitions imply: ``b`` comes after ``a`` when ``b`` can follow ``a``
    (directly or not) and ``a`` can never follow ``b``; steps that can follow each other
    (a learned graph where every step can follow every other, a repeated cycle) are
    ordered by :func:`usual_order` when both are on it.
    """
    n = procedure.n_steps
    if procedure.precedence:
        later = transitive_closure(procedure.precedence_matrix())
    else:
        reach = transitive_closure(procedure.transition_matrix()[:n, :n] > 0.0)
        later = reach & ~reach.T
        rank = np.full(n, -1)
        for position, step in enumerate(usual_order(procedure)):
            rank[procedure.step_index(step)] = position
        on_path = rank >= 0
        usual = on_path[:, None] & on_path[None, :] & (rank[:, None] < rank[None, :])
        later |= usual & reach & reach.T
    return {
        step: frozenset(procedure.step_ids[j] for j in np.flatnonzero(later[i]))
        for i, step in enumerate(procedure.step_ids)
    }


class ReminderScheduler:
    """Decides, after each observed frame, which reminders to issue.

    Parameters
    ----------
    procedure : Procedure
        Steps, notes (``must_not_skip``, ``time_critical``, ``reminder``), precedence.
    config : ReminderConfig

    Examples
    --------
    >>> from prism.procedure.io import load_procedure
    >>> scheduler = ReminderScheduler(load_procedure("tasks/latte_making/procedure.yaml"))
    >>> "purge_wand" in scheduler.required_steps
    True
    """

    def __init__(self, procedure: Procedure, config: ReminderConfig | None = None) -> None:
        self.procedure = procedure
        self.config = config or ReminderConfig()
        self.required_steps = tuple(s.id for s in procedure.steps if s.notes.must_not_skip)
        self.critical_steps = tuple(s.id for s in procedure.steps if s.notes.time_critical)
        self._dependents = dependents(procedure)
        later = descendants(procedure)
        self._later_indices = [
            np.array(sorted(procedure.step_index(d) for d in later[step]), dtype=np.int64)
            for step in procedure.step_ids
        ]
        self._evidence_since: dict[int, float] = {}
        self._issued: list[Reminder] = []
        self._fired: set[tuple[ReminderKind, str]] = set()
        self._dismissed: set[tuple[ReminderKind, str]] = set()
        self._snoozed_until: dict[tuple[ReminderKind, str], float] = {}
        self._recent: deque[float] = deque()
        self._critical_run: dict[str, float] = {}

    @property
    def issued(self) -> tuple[Reminder, ...]:
        """Every reminder issued so far, in order."""
        return tuple(self._issued)

    def _step_index(self, step: str) -> int:
        if step not in self.procedure.step_ids:
            raise ReminderError(
                f"unknown step {step!r} in procedure {self.procedure.id!r}; "
                f"known steps: {', '.join(self.procedure.step_ids)}"
            )
        return self.procedure.step_index(step)

    def _reminder(self, reminder_id: int) -> Reminder:
        for reminder in self._issued:
            if reminder.id == reminder_id:
                return reminder
        raise ReminderError(
            f"unknown reminder id {reminder_id}; issued: {[r.id for r in self._issued]}"
        )

    def dismiss(self, reminder_id: int) -> Reminder:
        """Never repeat this reminder (its kind and step) in this session."""
        reminder = self._reminder(reminder_id)
        self._dismissed.add((reminder.kind, reminder.step))
        return reminder

    def snooze(self, reminder_id: int, seconds: float | None = None) -> Reminder:
        """Allow this reminder again ``seconds`` (default ``snooze_s``) after it was issued."""
        reminder = self._reminder(reminder_id)
        delay = self.config.snooze_s if seconds is None else seconds
        if not 0.0 <= delay < math.inf:
            raise ReminderError(f"snooze length must be >= 0 s, got {seconds}")
        key = (reminder.kind, reminder.step)
        self._fired.discard(key)
        self._snoozed_until[key] = reminder.time + delay
        return reminder

    def acknowledge(self, reminder_id: int) -> Reminder:
        """The user heard it: it is not repeated (same as a dismissal for scheduling)."""
        return self.dismiss(reminder_id)

    def step_done(self, step: str) -> None:
        """The user said ``step`` is done: no missed-step or upcoming reminder for it."""
        self._step_index(step)
        for kind in (ReminderKind.MISSED_STEP, ReminderKind.UPCOMING):
            self._dismissed.add((kind, step))

    def _allowed(self, key: tuple[ReminderKind, str], now: float) -> bool:
        return (
            key not in self._fired
            and key not in self._dismissed
            and now >= self._snoozed_until.get(key, -math.inf)
        )

    def _rate_ok(self, now: float) -> bool:
        while self._recent and now - self._recent[0] >= 60.0:
            self._recent.popleft()
        last = self._issued[-1].time if self._issued else -math.inf
        return now - last >= self.config.cooldown_s and len(self._recent) < (
            self.config.max_per_minute
        )

    def _issue(
        self,
        kind: ReminderKind,
        step: str,
        reason: str,
        confidence: float,
        now: float,
        before: str | None = None,
    ) -> Reminder:
        reminder = Reminder(len(self._issued) + 1, kind, step, reason, confidence, now, before)
        self._issued.append(reminder)
        self._fired.add((kind, step))
        return reminder

    def missed_probabilities(self, state: TrackerState) -> np.ndarray:
        """Probability that each step has been skipped, shape ``(S,)``, in [0, 1].

        ``P(not started) * max P(started)`` over the steps that must come after it
        (transitive precedence): the user is past it. Zero for a step nothing depends on.
        """
        started = state.started_probabilities
        passed = np.zeros(self.procedure.n_steps)
        for index, later in enumerate(self._later_indices):
            if later.size:
                passed[index] = (1.0 - started[index]) * started[later].max()
        return np.asarray(np.clip(passed, 0.0, 1.0))

    def _before_step(self, index: int, state: TrackerState) -> str:
        """The step that ``index`` must come before, to name in the reminder.

        A direct dependent not started yet (the likeliest next one), else the later step
        most probably started (the evidence for the reminder).
        """
        started = state.started_probabilities
        direct = [
            self.procedure.step_index(d) for d in self._dependents[self.procedure.step_ids[index]]
        ]
        waiting = [d for d in direct if started[d] < 0.5]
        if waiting:
            order = {s.step: s.probability for s in state.next_steps(self.procedure.n_steps + 1)}
            best = max(waiting, key=lambda d: order.get(self.procedure.step_ids[d], 0.0))
        else:
            later = self._later_indices[index]
            best = int(later[np.argmax(started[later])])
        return self.procedure.step_ids[best]

    def _missed_reason(self, step: str, before: str | None) -> str:
        name = self.procedure.step(step).name_in_sentence
        if before is None:
            text = f"Before you finish: you have not done this step: {name}."
        else:
            later = self.procedure.step(before).name_in_sentence
            text = f"You have not done this step yet: {name}; it comes before: {later}."
        note = self.procedure.step(step).notes.reminder
        return f"{text} {note}" if note else text

    def observe(
        self, state: TrackerState, remaining: Callable[[], RemainingTime]
    ) -> list[Reminder]:
        """Reminders due after this state: usually none; one notification at most (a
        single reminder, or up to ``max_missed_together`` missed steps together).

        Parameters
        ----------
        state : TrackerState
            The tracker's state after the latest frame.
        remaining : callable
            Returns the observer's prediction for that state; called only when a
            reminder needs it (upcoming time-critical steps).
        """
        now = state.time
        overdue = self._overdue(state, now)
        if state.current_probability < self.config.min_state_confidence or not self._rate_ok(now):
            return []
        critical = self._time_critical(state, now)
        if critical is not None:
            notification = [critical]
        else:
            notification = self._missed(state, overdue, now)
            if not notification and self.critical_steps:
                upcoming = self._upcoming(remaining(), now)
                notification = [upcoming] if upcoming is not None else []
        if notification:
            self._recent.append(now)
        return notification

    def _overdue(self, state: TrackerState, now: float) -> list[tuple[int, float]]:
        """Steps whose missed-step evidence has held for ``missed_hold_s``, likeliest first.

        Keeps, per step, the time its evidence last rose above the threshold (this runs on
        every observed state, even when reminders are gated).
        """
        missed = self.missed_probabilities(state)
        for index, value in enumerate(missed):
            if value >= self.config.missed_threshold:
                self._evidence_since.setdefault(index, now)
            else:
                self._evidence_since.pop(index, None)
        held = [
            (index, float(missed[index]))
            for index, since in self._evidence_since.items()
            if now - since >= self.config.missed_hold_s
        ]
        return sorted(held, key=lambda item: (-item[1], item[0]))

    def _time_critical(self, state: TrackerState, now: float) -> Reminder | None:
        """A time-critical step that has been going on for most of its usual time."""
        config = self.config
        current = state.current_step
        for step in self.critical_steps:
            if current != step:
                self._critical_run.pop(step, None)
                continue
            began = self._critical_run.setdefault(step, now)
            expected = self.procedure.step(step).duration.mean
            key = (ReminderKind.TIME_CRITICAL, step)
            if now - began >= config.critical_fraction * expected and self._allowed(key, now):
                name = self.procedure.step(step).name_in_sentence
                reason = (
                    f"You have been at this step for {now - began:.0f} s: {name}; "
                    f"it usually takes about {expected:.0f} s."
                )
                note = self.procedure.step(step).notes.reminder
                return self._issue(
                    key[0],
                    step,
                    f"{reason} {note}" if note else reason,
                    state.current_probability,
                    now,
                )
        return None

    def _missed(
        self, state: TrackerState, overdue: list[tuple[int, float]], now: float
    ) -> list[Reminder]:
        """The required steps most probably skipped (likeliest first, at most
        ``max_missed_together``), once their evidence has held."""
        if now < self.config.min_session_s:
            return []
        issued: list[Reminder] = []
        for index, probability in overdue:
            step = self.procedure.step_ids[index]
            key = (ReminderKind.MISSED_STEP, step)
            if step in self.required_steps and self._allowed(key, now):
                before = self._before_step(index, state)
                reason = self._missed_reason(step, before)
                issued.append(self._issue(key[0], step, reason, probability, now, before))
                if len(issued) == self.config.max_missed_together:
                    break
        return issued

    def finish(self, state: TrackerState) -> list[Reminder]:
        """The user finishes: a last notification for the required steps most probably
        never started (``P(not started) >= finish_threshold``), likeliest first.

        A step already reminded as missed, dismissed or said to be done is left out
        (snoozed ones are not). The cooldown and the per-minute cap do not apply: this is
        the last chance, and it is one notification however many steps it names.
        """
        now = state.time
        open_steps = 1.0 - state.started_probabilities
        candidates = sorted(
            (
                (float(open_steps[index]), step)
                for index, step in enumerate(self.procedure.step_ids)
                if step in self.required_steps
            ),
            key=lambda item: -item[0],
        )
        issued: list[Reminder] = []
        for probability, step in candidates:
            key = (ReminderKind.MISSED_STEP, step)
            if probability >= self.config.finish_threshold and self._allowed(key, now):
                reason = self._missed_reason(step, None)
                issued.append(self._issue(key[0], step, reason, probability, now))
        if issued:
            self._recent.append(now)
        return issued

    def _upcoming(self, remaining: RemainingTime, now: float) -> Reminder | None:
        """A time-critical step likely to start within the lead time."""
        config = self.config
        for step in self.critical_steps:
            key = (ReminderKind.UPCOMING, step)
            soon = remaining.until_start(step).probability_within(config.upcoming_lead_s)
            if soon >= config.upcoming_probability and self._allowed(key, now):
                when = remaining.until_start(step).quantile(0.5)
                name = self.procedure.step(step).name_in_sentence
                reason = f"In about {max(when, 1.0):.0f} s: {name}."
                note = self.procedure.step(step).notes.reminder
                return self._issue(key[0], step, f"{reason} {note}" if note else reason, soon, now)
        return None
