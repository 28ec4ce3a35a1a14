"""What the assistant knows when a question comes: the procedure and where the user is.

:class:`AssistantContext` is built from the live tracker (:func:`context_from_tracker`)
or from a stored question record (:meth:`prism.assistant.qa_records.QARecord.context`),
and reduced to plain facts by :mod:`prism.assistant.facts`. ``state_known=False`` is the
"without context" condition of the evaluation: the procedure only, no step state.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from prism.observer.remaining import RemainingTime
from prism.procedure.model import Procedure
from prism.tracker.state import TrackerState

__all__ = [
    "AssistantContext",
    "DialogueTurn",
    "DoneStep",
    "StepBelief",
    "context_from_tracker",
]


@dataclass(frozen=True)
class DoneStep:
    """A finished step; ``end`` in seconds since the session started (``None``: unknown)."""

    step: str
    end: float | None = None


@dataclass(frozen=True)
class StepBelief:
    """A candidate for what the user is doing now (``step is None``: between steps)."""

    step: str | None
    probability: float


@dataclass(frozen=True)
class DialogueTurn:
    """One exchange: what the user said and what the assistant answered (``None``: nothing)."""

    utterance: str
    answer: str | None


@dataclass(frozen=True)
class AssistantContext:
    """The procedure and the step state a question is answered from.

    Attributes
    ----------
    procedure : Procedure
    done : tuple of DoneStep
        Finished steps, in the order they were done.
    current : tuple of StepBelief
        What the user may be doing now, most probable first (empty: unknown).
    elapsed_s : float
        Seconds since the session started.
    remaining_s : float or None
        The observer's expected time to the end (s); ``None``: estimate from durations.
    dialogue : tuple of DialogueTurn
        Recent exchanges, oldest first.
    state_known : bool
        False: the step state is unknown (only the procedure is).
    """

    procedure: Procedure
    done: tuple[DoneStep, ...] = ()
    current: tuple[StepBelief, ...] = ()
    elapsed_s: float = 0.0
    remaining_s: float | None = None
    dialogue: tuple[DialogueTurn, ...] = field(default=())
    state_known: bool = True

    @property
    def done_ids(self) -> tuple[str, ...]:
        """Ids of the finished steps, in order."""
        return tuple(entry.step for entry in self.done)

    @property
    def current_step(self) -> str | None:
        """The most probable current step (``None``: between steps or unknown)."""
        return self.current[0].step if self.current else None

    @property
    def current_probability(self) -> float:
        """Probability of :attr:`current_step` (0 when unknown)."""
        return self.current[0].probability if self.current else 0.0

    def without_state(self) -> AssistantContext:
        """The same procedure and dialogue with the step state withheld."""
        return AssistantContext(self.procedure, dialogue=self.dialogue, state_known=False)


def context_from_tracker(
    state: TrackerState,
    *,
    remaining: RemainingTime | None = None,
    dialogue: Sequence[DialogueTurn] = (),
    alternatives: int = 3,
) -> AssistantContext:
    """The assistant's view of a live session.

    Parameters
    ----------
    state : TrackerState
        The tracker's latest state: its most probable path gives the finished steps,
        its class probabilities the current candidates (the top ``alternatives``).
    remaining : RemainingTime, optional
        The observer's prediction (its expected time to the end is used).
    dialogue : sequence of DialogueTurn
        Recent exchanges.
    """
    procedure = state.model.procedure
    done = tuple(
        DoneStep(entry.step, entry.end) for entry in state.history if entry.end is not None
    )
    current = tuple(
        StepBelief(step, probability)
        for step, probability in state.top_classes(alternatives)
        if probability > 0.0
    )
    until_end = remaining.until_end.mean if remaining is not None else None
    return AssistantContext(
        procedure=procedure,
        done=done,
        current=current,
        elapsed_s=state.time,
        remaining_s=until_end,
        dialogue=tuple(dialogue),
    )
