"""Observer: remaining-time prediction and proactive reminders."""

from prism.observer.remaining import (
    FutureModel,
    RemainingTime,
    RemainingTimeConfig,
    TimeDistribution,
    residual_pmf,
)

__all__ = [
    "FutureModel",
    "RemainingTime",
    "RemainingTimeConfig",
    "TimeDistribution",
    "residual_pmf",
]
