"""Streaming transition-graph step tracking."""

from prism.tracker.confirmation import ConfirmationConfig, ConfirmationPolicy, ConfirmationRequest
from prism.tracker.corrections import CorrectionKind
from prism.tracker.state import HistoryEntry, NextStep, TrackerState
from prism.tracker.tracker import StepTracker, TrackerConfig, TrackResult, track

__all__ = [
    "ConfirmationConfig",
    "ConfirmationPolicy",
    "ConfirmationRequest",
    "CorrectionKind",
    "HistoryEntry",
    "NextStep",
    "StepTracker",
    "TrackResult",
    "TrackerConfig",
    "TrackerState",
    "track",
]
