"""Annotated sessions: which step happened when.

An :class:`AnnotatedSession` is what procedure learning (:mod:`prism.procedure.learn`)
takes, and what data-set loaders (CaptainCook4D, OpenPack, annotation files, recordings)
produce; it lives here, below the loaders, so that learning does not depend on them.
:mod:`prism.data.annotations` re-exports both classes and turns sessions into frame
labels.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["AnnotatedSession", "StepSegment"]


@dataclass(frozen=True)
class StepSegment:
    """One performed step: ``step`` from ``start`` to ``end`` seconds after session start."""

    step: str
    start: float
    end: float


@dataclass(frozen=True)
class AnnotatedSession:
    """A session annotated with the steps performed.

    Parameters
    ----------
    session_id : str
        Recording identifier, e.g. ``"1_7"``.
    task : str
        Procedure id the session performs.
    segments : tuple of StepSegment
        Performed steps sorted by start time (segments may overlap in real data).
    duration : float
        Session length in seconds (>= the last segment's end).
    skipped : tuple of str
        Steps of the procedure annotated as skipped in this session.

    Examples
    --------
    >>> segments = (StepSegment("boil", 0, 60), StepSegment("steep", 60, 240))
    >>> AnnotatedSession("s", "tea", segments, 240.0).step_order
    ('boil', 'steep')
    """

    session_id: str
    task: str
    segments: tuple[StepSegment, ...]
    duration: float
    skipped: tuple[str, ...] = ()

    @property
    def step_order(self) -> tuple[str, ...]:
        """Performed steps in order of start time."""
        return tuple(segment.step for segment in self.segments)
