"""Facts about a step state, computed from the procedure: the grounded layer's knowledge.

Pure functions of a :class:`~prism.procedure.model.Procedure`, the finished steps and a
current step. They define what "next", "missed" and "left" mean, the same for the
grounded answers, the LLM prompt and the evaluation's references (see
``docs/assistant.md``).
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass

from prism.observer.reminders import descendants, usual_order
from prism.procedure.model import END, START, Procedure

__all__ = [
    "NEXT_MIN_PROBABILITY",
    "OVERDUE_AFTER",
    "NextSteps",
    "SkipAdvice",
    "first_steps",
    "last_finished",
    "last_step",
    "missed_steps",
    "next_steps",
    "prerequisites",
    "remaining_path",
    "remaining_time_s",
    "required_steps",
    "skip_advice",
    "step_before",
    "steps_done",
]

OVERDUE_AFTER = 2
"""A required step is overdue (missed) when this many other steps were finished since it
could have been done."""

NEXT_MIN_PROBABILITY = 0.15
"""A successor is a "next step" candidate when its transition probability reaches this."""


@dataclass(frozen=True)
class NextSteps:
    """Next-step candidates, most probable first; ``may_end``: the task may be over."""

    steps: tuple[str, ...]
    may_end: bool


def _available(procedure: Procedure, step: str, done: Collection[str], current: str | None) -> bool:
    """Not going on, not done (unless repeatable), and every step that must come before
    it (precedence) done or going on."""
    if step == current or (step in done and not procedure.step(step).repeatable):
        return False
    reached = set(done) | {current}
    return all(before in reached for before, after in procedure.precedence if after == step)


def next_steps(
    procedure: Procedure,
    done: Sequence[str],
    current: str | None,
    *,
    min_probability: float = NEXT_MIN_PROBABILITY,
) -> NextSteps:
    """What may come after ``current`` (or after the last finished step, or the start).

    The successors in the procedure's transitions with probability >= ``min_probability``
    that are not done yet (repeatable steps may come again) and whose precedence
    predecessors are done. No steps: the end comes next.
    """
    origin = current or (done[-1] if done else START)
    row = procedure.transitions.get(origin, {})
    ranked = sorted(row.items(), key=lambda item: (-item[1], item[0]))
    steps = [
        step
        for step, p in ranked
        if step != END and p >= min_probability and _available(procedure, step, done, current)
    ]
    return NextSteps(tuple(steps), not steps or row.get(END, 0.0) >= min_probability)


def remaining_path(procedure: Procedure, done: Sequence[str], current: str | None) -> list[str]:
    """The most probable way to the end: from ``current`` (or the last finished step),
    repeatedly the most probable successor not done yet, until the end.

    The current step is not included; each step appears at most once.
    """
    origin = current or (done[-1] if done else START)
    visited = [*done, current] if current else list(done)
    return list(usual_order(procedure, origin=origin, visited=visited))


def remaining_time_s(procedure: Procedure, done: Sequence[str], current: str | None) -> float:
    """Expected seconds to the end: the mean durations of the current step and of the
    remaining path (how far into the current step the user is, is not known here; the
    observer's prediction, when given, replaces this)."""
    steps = ([current] if current else []) + remaining_path(procedure, done, current)
    return float(sum(procedure.step(s).duration.mean for s in steps))


def required_steps(procedure: Procedure) -> list[str]:
    """Steps that must not be skipped (``notes.must_not_skip``), in class order; a
    procedure that marks none treats every step as required."""
    return [s.id for s in procedure.steps if s.notes.must_not_skip] or list(procedure.step_ids)


def missed_steps(
    procedure: Procedure,
    done: Sequence[str],
    current: str | None,
    *,
    overdue_after: int = OVERDUE_AFTER,
) -> list[str]:
    """Required steps (:func:`required_steps`) the user has passed by, in class order:

    - not done although a step that must come after them is done or going on (procedure
      order: :func:`prism.observer.reminders.descendants`; the observer's rule), or
    - overdue: not done although every step that must come before them was done and
      ``overdue_after`` other steps have been finished since (purging the wand is
      skipped when the user steamed the milk, then removed the cup and poured the milk).

    >>> from prism.procedure.io import load_procedure
    >>> latte = load_procedure("tasks/latte_making/procedure.yaml")
    >>> coffee = ["attach_filter", "grind_beans", "move_filter", "place_cup", "brew_coffee"]
    >>> milk = ["use_fridge", "pour_milk_jug", "steam_milk"]
    >>> missed_steps(latte, [*coffee, *milk, "remove_cup"], "pour_milk_cup")
    []
    >>> missed_steps(latte, [*coffee, *milk, "remove_cup", "pour_milk_cup"], "get_towel")
    ['purge_wand']
    """
    required = required_steps(procedure)
    reached = set(done) | ({current} if current else set())
    later = descendants(procedure)
    finished = list(done)

    def overdue(step: str) -> bool:
        before = [b for b, after in procedure.precedence if after == step]
        if not before or any(b not in finished for b in before):
            return False
        since = max(len(finished) - 1 - finished[::-1].index(b) for b in before)
        return len(finished) - 1 - since >= overdue_after

    return [s for s in required if s not in reached and (later[s] & reached or overdue(s))]


def steps_done(done: Sequence[str]) -> list[str]:
    """The finished steps, each once, in the order they were first finished."""
    return list(dict.fromkeys(done))


def last_finished(done: Sequence[str]) -> str | None:
    """The step finished last (``None``: none yet)."""
    return done[-1] if done else None


def step_before(procedure: Procedure, step: str) -> str | None:
    """The step that usually comes right before ``step``: its predecessor on the
    procedure's most probable path (:func:`prism.observer.reminders.usual_order`), or,
    for a step off that path, the step most likely to lead to it (``None``: it usually
    comes first).

    >>> from prism.procedure.io import load_procedure
    >>> step_before(load_procedure("tasks/latte_making/procedure.yaml"), "brew_coffee")
    'place_cup'
    """
    path = usual_order(procedure)
    if step in path:
        position = path.index(step)
        return path[position - 1] if position > 0 else None
    sources = [
        (row[step], source)
        for source, row in procedure.transitions.items()
        if source != START and row.get(step, 0.0) > 0.0 and source != step
    ]
    return max(sources)[1] if sources else None


def prerequisites(procedure: Procedure, step: str) -> list[str]:
    """Steps that must be done before ``step`` (its direct precedence pairs), in class
    order; a procedure without precedence gives :func:`step_before`."""
    before = {b for b, after in procedure.precedence if after == step}
    if not procedure.precedence:
        earlier = step_before(procedure, step)
        before = {earlier} if earlier is not None else set()
    return [s for s in procedure.step_ids if s in before]


def first_steps(procedure: Procedure) -> tuple[str, ...]:
    """How the procedure usually starts: the start's successors that reach
    :data:`NEXT_MIN_PROBABILITY`, most probable first."""
    return next_steps(procedure, [], None).steps


def last_step(procedure: Procedure) -> str | None:
    """The step the procedure usually ends with (the end of its most probable path)."""
    path = usual_order(procedure)
    return path[-1] if path else None


@dataclass(frozen=True)
class SkipAdvice:
    """Whether a step may be left out, and why not.

    Attributes
    ----------
    step : str
    may_skip : bool
        False for a required step (:func:`required_steps`).
    reason : str or None
        The step's reminder note (what it is there for), when it has one.
    """

    step: str
    may_skip: bool
    reason: str | None
    needed_by: str | None = None
    """A required step that must come after it (so it is needed too), if it is not
    required itself."""


def skip_advice(procedure: Procedure, step: str) -> SkipAdvice:
    """May ``step`` be skipped? Not if it is required (:func:`required_steps`), nor if a
    required step must come after it (:func:`prism.observer.reminders.descendants`:
    grinding the beans before brewing); the reason is its reminder note.

    >>> from prism.procedure.io import load_procedure
    >>> latte = load_procedure("tasks/latte_making/procedure.yaml")
    >>> skip_advice(latte, "grind_beans").needed_by, skip_advice(latte, "adjust_grind").may_skip
    ('brew_coffee', True)
    """
    required = required_steps(procedure)
    note = procedure.step(step).notes.reminder
    if step in required:
        return SkipAdvice(step, False, note)
    later = descendants(procedure)[step]
    needing = [s for s in usual_order(procedure) if s in later and s in required]
    needing += [s for s in required if s in later and s not in needing]
    return SkipAdvice(step, not needing, note, needing[0] if needing else None)
