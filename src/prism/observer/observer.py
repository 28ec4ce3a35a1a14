"""One session's observer: remaining time and reminders on top of a step tracker."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, replace
from functools import cache

from prism.observer.remaining import FutureModel, RemainingTime, RemainingTimeConfig
from prism.observer.reminders import Reminder, ReminderConfig, ReminderError, ReminderScheduler
from prism.tracker import CorrectionKind, StepTracker, TrackerState

__all__ = ["Observer", "ObserverConfig", "ObserverUpdate"]


@dataclass(frozen=True)
class ObserverConfig:
    """Settings of an :class:`Observer`: the prediction and the reminder policy."""

    remaining: RemainingTimeConfig = field(default_factory=RemainingTimeConfig)
    reminders: ReminderConfig = field(default_factory=ReminderConfig)


@dataclass(frozen=True)
class ObserverUpdate:
    """What the observer makes of one tracker state.

    The remaining-time prediction is computed on first access (and at most once), so
    a caller that only wants reminders does not pay for it.
    """

    state: TrackerState
    reminders: tuple[Reminder, ...]
    predict: Callable[[], RemainingTime] = field(repr=False, compare=False)

    @property
    def remaining(self) -> RemainingTime:
        """Time until each step starts and until the end, from :attr:`state`."""
        return self.predict()


class Observer:
    """Predicts remaining times and issues reminders for the session of ``tracker``.

    It reads the tracker's states (it need not see every frame) and writes to the
    tracker only when the user confirms that a step is done.

    Parameters
    ----------
    tracker : StepTracker
    config : ObserverConfig, optional
    future : FutureModel, optional
        A remaining-time model to share between the sessions of one procedure (a server
        with many sessions): its cache of waiting-time kernels then serves them all. It
        must be built on the same procedure with ``config.remaining``; by default each
        observer builds its own.

    Examples
    --------
    >>> from prism.procedure.io import load_procedure
    >>> tracker = StepTracker(load_procedure("tasks/latte_making/procedure.yaml"))
    >>> observer = Observer(tracker)
    >>> update = observer.observe(tracker.state())
    >>> update.remaining.until_end.mean > 60
    True
    """

    def __init__(
        self,
        tracker: StepTracker,
        config: ObserverConfig | None = None,
        *,
        future: FutureModel | None = None,
    ) -> None:
        self.tracker = tracker
        self.config = config or ObserverConfig()
        if future is None:
            future = FutureModel(tracker.model, self.config.remaining)
        elif not _same_model(future, tracker, self.config.remaining):
            raise ReminderError(
                f"the shared FutureModel (procedure {future.model.procedure.id!r}) was built "
                "for another procedure, tracking model or remaining-time settings than "
                f"this observer's (procedure {tracker.procedure.id!r})"
            )
        self.future = future
        self.scheduler = ReminderScheduler(tracker.procedure, self.config.reminders)

    def remaining(self, state: TrackerState) -> RemainingTime:
        """The remaining-time prediction from ``state`` alone (no reminder decision)."""
        return self.future.predict(state.beam)

    def observe(
        self, state: TrackerState, *, predict: Callable[[], RemainingTime] | None = None
    ) -> ObserverUpdate:
        """Decide on reminders from ``state``.

        ``predict`` gives the remaining-time prediction when a reminder needs one
        (default: computed from ``state``); a caller that keeps a recent prediction (a
        server with many sessions) passes it instead. It is called at most once.
        """
        chosen = cache(predict if predict is not None else lambda: self.remaining(state))
        return ObserverUpdate(state, tuple(self.scheduler.observe(state, chosen)), chosen)

    def finish(self, state: TrackerState) -> tuple[Reminder, ...]:
        """The user finishes the task (ends the session): reminders for the required steps
        that ``state`` says most probably never started ("before you finish")."""
        return tuple(self.scheduler.finish(state))

    def correct(self, kind: CorrectionKind | str, step: str) -> TrackerState:
        """Apply a user correction ("done", "at", "not_done") to the tracker; a step said
        to be done is not reminded any more.

        Raises
        ------
        ReminderError
            If ``step`` is not a step of the procedure (nothing is changed).
        TrackerInputError
            If ``kind`` is not a correction kind.
        """
        if kind == "done":
            self.scheduler.step_done(step)
        return self.tracker.correct(kind, step)

    def confirm_done(self, step: str) -> TrackerState:
        """The user says ``step`` is done (e.g. answering a reminder): correct the tracker.

        Raises
        ------
        ReminderError
            If ``step`` is not a step of the procedure (nothing is changed).
        """
        return self.correct("done", step)


def _same_model(future: FutureModel, tracker: StepTracker, config: RemainingTimeConfig) -> bool:
    """Whether ``future`` predicts for ``tracker``'s model with ``config`` (its cache
    size aside: a shared model may keep more kernels)."""
    built, wanted = future.model, tracker.model
    return (
        replace(future.config, cache_size=1) == replace(config, cache_size=1)  # no effect
        and built.frame_rate == wanted.frame_rate
        and built.precedence_penalty == wanted.precedence_penalty
        and built.procedure == wanted.procedure
    )
