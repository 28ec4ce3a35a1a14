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

from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np

from prism.errors import ProcedureError
from prism.procedure import checks
from prism.procedure.checks import END, PROBABILITY_TOLERANCE, START, STEP_ID_PATTERN

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
]


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
        return [problem.message for problem in checks.duration_problems(self)]


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

        The rules are :mod:`prism.procedure.checks`'s, shared by every way of building a
        procedure; reading a file (:mod:`prism.procedure.io`) adds line numbers and the
        checks that only make sense for a file (types, unknown and duplicate keys). The
        graph-wide checks (reachability, precedence cycles) wait for the rest to pass.
        """
        ids = self.step_ids
        found = checks.step_id_problems(ids)
        for index, step in enumerate(self.steps):
            where = ("steps", index, "duration")
            found += checks.duration_problems(step.duration, owner=f"step {step.id!r}", where=where)
        found += checks.transition_problems(self.transitions, ids)
        found += checks.precedence_problems(self.precedence, ids)
        found += checks.gap_probability_problems(self.gap.probability)
        found += checks.duration_problems(self.gap.duration, owner="gap", where=("gap", "duration"))
        if not found:
            found += checks.reachability_problems(ids, self.transitions)
            found += checks.precedence_cycle_problems(self.precedence)
        return [problem.message for problem in found]
