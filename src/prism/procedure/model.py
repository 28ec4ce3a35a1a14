"""The in-memory procedure: a transition graph of steps.

A :class:`Procedure` is immutable and always valid: it is built through
:func:`prism.procedure.io.load_procedure` (from YAML, with file/line errors),
:func:`prism.procedure.learn.learn_procedure` (from annotated sessions) or directly in
code, and every constructor path runs :meth:`Procedure.validate`.

Conventions
-----------
- Step ids are short identifiers (``[A-Za-z0-9_.-]+``); ``start`` and ``end`` are reserved.
- Durations are in seconds.
- ``transitions[src][dst]`` is the probability of going from ``src`` to ``dst`` when
  ``src`` ends; ``src`` may be ``"start"`` and ``dst`` may be ``"end"``. Each row sums to 1.
- ``precedence`` pairs ``(before, after)`` say ``before`` should be done before ``after``
  starts (a soft constraint for tracking, a hard one for reminders).
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np

from prism.errors import ProcedureError

__all__ = [
    "END",
    "PROBABILITY_TOLERANCE",
    "START",
    "STEP_ID_PATTERN",
    "DurationStats",
    "GapModel",
    "Procedure",
    "Step",
    "StepNotes",
    "precedence_cycle_problems",
    "reachability_problems",
]

START = "start"
END = "end"
PROBABILITY_TOLERANCE = 1e-3
"""Outgoing probabilities of a step must sum to 1 within this absolute tolerance."""

STEP_ID_PATTERN = re.compile(r"^[A-Za-z0-9_.\-]+$")


@dataclass(frozen=True)
class DurationStats:
    """Summary statistics of a duration, in seconds.

    Parameters
    ----------
    mean : float
        Mean duration in seconds, > 0.
    std : float
        Standard deviation in seconds, >= 0.
    min, max : float or None
        Optional observed or allowed bounds in seconds, ``0 <= min <= mean <= max``.
    """

    mean: float
    std: float
    min: float | None = None
    max: float | None = None

    def problems(self) -> list[str]:
        """Return human-readable problems with these statistics (empty if valid)."""
        found: list[str] = []
        for name in ("mean", "std", "min", "max"):
            value = getattr(self, name)
            if value is not None and not math.isfinite(value):
                found.append(f"duration {name} must be a finite number of seconds, got {value}")
        if found:
            return found
        if self.mean <= 0:
            found.append(f"duration mean must be > 0 seconds, got {self.mean}")
        if self.std < 0:
            found.append(f"duration std must be >= 0 seconds, got {self.std}")
        if self.min is not None and self.min < 0:
            found.append(f"duration min must be >= 0 seconds, got {self.min}")
        if self.min is not None and self.max is not None and self.min > self.max:
            found.append(f"duration min ({self.min}) is larger than max ({self.max})")
        return found


@dataclass(frozen=True)
class StepNotes:
    """Per-step notes used by reminders.

    Parameters
    ----------
    time_critical : bool
        Timing matters (e.g. steaming milk): the observer reminds ahead of and during it.
    must_not_skip : bool
        Skipping this step is an error worth a reminder.
    reminder : str or None
        Text of the reminder, e.g. ``"Stop steaming at about 60 s"``.
    """

    time_critical: bool = False
    must_not_skip: bool = False
    reminder: str | None = None


@dataclass(frozen=True)
class Step:
    """One step of a procedure.

    Parameters
    ----------
    id : str
        Unique identifier, e.g. ``"steam_milk"``.
    name : str
        Short human-readable name, e.g. ``"Steam milk"``.
    description : str
        One or two sentences on how to do the step.
    duration : DurationStats
        Duration statistics in seconds.
    repeatable : bool
        Whether the step may be done more than once (default: done once).
    notes : StepNotes
        Reminder notes.
    """

    id: str
    name: str
    description: str
    duration: DurationStats
    repeatable: bool = False
    notes: StepNotes = field(default_factory=StepNotes)

    @property
    def name_in_sentence(self) -> str:
        """The name as used inside a sentence: "Steam milk" -> "steam milk"; a name that
        starts with an acronym ("USB cable") is kept."""
        name = self.name
        return name[:1].lower() + name[1:] if name[:2] != name[:2].upper() else name


@dataclass(frozen=True)
class GapModel:
    """Time between steps when the user does something else (the "other" class).

    Parameters
    ----------
    probability : float
        Probability in [0, 1) that a gap follows a step before the next one starts.
    duration : DurationStats
        Gap duration statistics in seconds.
    """

    probability: float = 0.5
    duration: DurationStats = field(default_factory=lambda: DurationStats(mean=5.0, std=5.0))


@dataclass(frozen=True)
class Procedure:
    """A procedure as a transition graph.

    Parameters
    ----------
    id : str
        Identifier, e.g. ``"latte_making"``.
    name : str
        Human-readable name.
    steps : tuple of Step
        The steps, in a canonical order (class index ``i`` of a probability frame is
        ``steps[i]``; index ``len(steps)`` is "other").
    transitions : mapping of str to mapping of str to float
        ``transitions[src][dst]`` as described in the module docstring.
    description : str
        What the procedure is for.
    precedence : tuple of (str, str)
        Soft ordering constraints ``(before, after)``.
    gap : GapModel
        Time between steps.
    source : str
        Where the procedure comes from (hand-written, learned from ...).

    Examples
    --------
    >>> d = DurationStats(mean=10.0, std=2.0)
    >>> p = Procedure(id="tea", name="Tea",
    ...     steps=(Step("boil", "Boil water", "", d), Step("steep", "Steep", "", d)),
    ...     transitions={"start": {"boil": 1.0}, "boil": {"steep": 1.0}, "steep": {"end": 1.0}})
    >>> p.step_index("steep"), p.n_steps
    (1, 2)
    """

    id: str
    name: str
    steps: tuple[Step, ...]
    transitions: Mapping[str, Mapping[str, float]]
    description: str = ""
    precedence: tuple[tuple[str, str], ...] = ()
    gap: GapModel = field(default_factory=GapModel)
    source: str = ""

    def __post_init__(self) -> None:
        problems = self.problems()
        if problems:
            raise ProcedureError(f"procedure {self.id!r}: " + "; ".join(problems))

    @property
    def n_steps(self) -> int:
        """Number of steps ``S`` (probability frames have ``S + 1`` classes)."""
        return len(self.steps)

    @property
    def step_ids(self) -> tuple[str, ...]:
        """Step ids in class order."""
        return tuple(step.id for step in self.steps)

    def step_index(self, step_id: str) -> int:
        """Class index of ``step_id``; raises :class:`ProcedureError` if unknown."""
        for index, step in enumerate(self.steps):
            if step.id == step_id:
                return index
        raise ProcedureError(
            f"procedure {self.id!r} has no step {step_id!r}; known steps: "
            + ", ".join(self.step_ids)
        )

    def step(self, step_id: str) -> Step:
        """The :class:`Step` with id ``step_id``."""
        return self.steps[self.step_index(step_id)]

    def transition_matrix(self) -> np.ndarray:
        """Transition probabilities as a dense matrix.

        Returns
        -------
        np.ndarray [shape=(S + 1, S + 1), float64, rows sum to 1]
            Row ``i < S`` is step ``i``, row ``S`` is ``start``; column ``j < S`` is step
            ``j``, column ``S`` is ``end``.
        """
        n = self.n_steps
        index = {step_id: i for i, step_id in enumerate(self.step_ids)}
        index[START] = n
        index[END] = n
        matrix = np.zeros((n + 1, n + 1))
        for src, row in self.transitions.items():
            for dst, probability in row.items():
                matrix[index[src], index[dst]] = probability
        return np.asarray(matrix / matrix.sum(axis=1, keepdims=True))

    def precedence_matrix(self) -> np.ndarray:
        """Precedence as a boolean matrix.

        Returns
        -------
        np.ndarray [shape=(S, S), bool]
            ``m[i, j]`` is True when step ``i`` must be done before step ``j``.
        """
        matrix = np.zeros((self.n_steps, self.n_steps), dtype=bool)
        for before, after in self.precedence:
            matrix[self.step_index(before), self.step_index(after)] = True
        return matrix

    def problems(self) -> list[str]:
        """Return every consistency problem (empty if the procedure is valid).

        File-level checks with line numbers live in :mod:`prism.procedure.io`; this is
        the structural check shared by every way of building a procedure.
        """
        found: list[str] = []
        ids = [step.id for step in self.steps]
        if not self.steps:
            found.append("a procedure needs at least one step")
        seen: set[str] = set()
        for step in self.steps:
            if not STEP_ID_PATTERN.match(step.id) or step.id in (START, END):
                found.append(f"invalid step id {step.id!r}")
            if step.id in seen:
                found.append(f"duplicate step id {step.id!r}")
            seen.add(step.id)
            found.extend(f"step {step.id!r}: {p}" for p in step.duration.problems())
        found.extend(_transition_problems(self.transitions, seen))
        for before, after in self.precedence:
            for name in (before, after):
                if name not in seen:
                    found.append(f"precedence names unknown step {name!r}")
        if not 0.0 <= self.gap.probability < 1.0:
            found.append(f"gap probability must be in [0, 1), got {self.gap.probability}")
        found.extend(f"gap: {p}" for p in self.gap.duration.problems())
        if not found:
            found.extend(reachability_problems(ids, self.transitions))
            found.extend(precedence_cycle_problems(self.precedence))
        return found


def _transition_problems(
    transitions: Mapping[str, Mapping[str, float]], step_ids: set[str]
) -> list[str]:
    found: list[str] = []
    for src, row in transitions.items():
        if src not in step_ids and src != START:
            found.append(f"transition from unknown step {src!r}")
            continue
        for dst, probability in row.items():
            if dst not in step_ids and dst != END:
                found.append(f"transition {src!r} -> {dst!r}: unknown step {dst!r}")
            if not (math.isfinite(probability) and 0.0 <= probability <= 1.0):
                found.append(
                    f"transition {src!r} -> {dst!r}: probability {probability} not in [0, 1]"
                )
        total = sum(row.values())
        if abs(total - 1.0) > PROBABILITY_TOLERANCE:
            found.append(f"outgoing probabilities of {src!r} sum to {total:.6g}, not 1")
    for src in [START, *sorted(step_ids)]:
        if src not in transitions:
            found.append(f"step {src!r} has no outgoing transitions")
    return found


def _reachable(graph: Mapping[str, Sequence[str]], origin: str) -> set[str]:
    seen = {origin}
    stack = [origin]
    while stack:
        for nxt in graph.get(stack.pop(), ()):
            if nxt not in seen:
                seen.add(nxt)
                stack.append(nxt)
    return seen


def reachability_problems(
    ids: Sequence[str], transitions: Mapping[str, Mapping[str, float]]
) -> list[str]:
    """Steps unreachable from start, and steps from which end is unreachable."""
    forward = {src: [d for d, p in row.items() if p > 0] for src, row in transitions.items()}
    reached = _reachable(forward, START)
    found = [f"step {s!r} is unreachable from start" for s in ids if s not in reached]
    if END not in reached:
        found.append("end is unreachable from start")
    backward: dict[str, list[str]] = {}
    for src, dsts in forward.items():
        for dst in dsts:
            backward.setdefault(dst, []).append(src)
    reaching_end = _reachable(backward, END)
    found.extend(
        f"end is unreachable from step {s!r}" for s in ids if s in reached and s not in reaching_end
    )
    return found


def precedence_cycle_problems(precedence: Sequence[tuple[str, str]]) -> list[str]:
    """A problem naming a step on a cycle of the precedence pairs, if there is one."""
    graph: dict[str, list[str]] = {}
    for before, after in precedence:
        graph.setdefault(before, []).append(after)
    for node in graph:
        if any(node in _reachable(graph, nxt) for nxt in graph[node]):
            return [f"precedence constraints form a cycle through {node!r}"]
    return []
