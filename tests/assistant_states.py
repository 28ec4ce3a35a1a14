"""Procedures and step states shared by the assistant's tests."""

from __future__ import annotations

from prism.assistant import AssistantContext, DoneStep, StepBelief
from prism.procedure.io import load_procedure
from prism.procedure.model import Procedure

LATTE = load_procedure("tasks/latte_making/procedure.yaml")
WOUND = load_procedure("tasks/wound_care/procedure.yaml")
DONE = ("attach_filter", "grind_beans", "move_filter", "place_cup", "brew_coffee")
"""Latte steps finished in :func:`latte_context` by default."""


def latte_context(
    procedure: Procedure = LATTE,
    done: tuple[str, ...] = DONE,
    current: tuple[tuple[str | None, float], ...] = (("use_fridge", 0.9),),
) -> AssistantContext:
    """A state of ``procedure``: ``done`` finished, ``current`` (step, probability) beliefs,
    60 s into the session."""
    return AssistantContext(
        procedure,
        done=tuple(DoneStep(s) for s in done),
        current=tuple(StepBelief(s, p) for s, p in current),
        elapsed_s=60.0,
    )
