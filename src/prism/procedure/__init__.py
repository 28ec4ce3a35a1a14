"""Procedures as transition graphs: model, file format, validation, learning, rendering."""

from prism.procedure.model import (
    END,
    PROBABILITY_TOLERANCE,
    START,
    DurationStats,
    GapModel,
    Procedure,
    Step,
    StepNotes,
)

__all__ = [
    "END",
    "PROBABILITY_TOLERANCE",
    "START",
    "DurationStats",
    "GapModel",
    "Procedure",
    "Step",
    "StepNotes",
]
