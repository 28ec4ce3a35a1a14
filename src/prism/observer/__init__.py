"""Observer: exact remaining-time prediction and proactive reminders."""

from prism.observer.observer import Observer, ObserverConfig, ObserverUpdate
from prism.observer.remaining import (
    FutureModel,
    RemainingTime,
    RemainingTimeConfig,
    TimeDistribution,
    residual_pmf,
)
from prism.observer.reminders import (
    Reminder,
    ReminderConfig,
    ReminderError,
    ReminderKind,
    ReminderScheduler,
    dependents,
    descendants,
)

__all__ = [
    "FutureModel",
    "Observer",
    "ObserverConfig",
    "ObserverUpdate",
    "RemainingTime",
    "RemainingTimeConfig",
    "Reminder",
    "ReminderConfig",
    "ReminderError",
    "ReminderKind",
    "ReminderScheduler",
    "TimeDistribution",
    "dependents",
    "descendants",
    "residual_pmf",
]
