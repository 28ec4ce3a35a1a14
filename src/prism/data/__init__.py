"""Data sets, annotated sessions and simulated classifier streams."""

from prism.data.annotations import FRAME_RATE_HZ, AnnotatedSession, StepSegment, frame_labels

__all__ = ["FRAME_RATE_HZ", "AnnotatedSession", "StepSegment", "frame_labels"]
