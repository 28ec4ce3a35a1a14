"""The consistency rules of a procedure graph, in one place.

Every way of building a procedure runs these checks: ``Procedure(...)`` raises on any
problem (:meth:`~prism.procedure.model.Procedure.problems`), the file reader
(:mod:`prism.procedure.io`) points each problem at its YAML node, and procedure learning
checks the precedence it is given with them. A check returns :class:`Problem` s that say
what is wrong and *where*, as a path in the procedure's layout, which is also the file's:
``("steps", 2, "id")``, ``("transitions", "steep", "milk")``, ``("precedence", 0)``.

The checks take plain data (step ids, transition rows, precedence pairs), so that a file
reader can run them on the parts of a file it could read while other parts are broken.

Examples
--------
>>> [str(p) for p in step_id_problems(["boil", "boil water"])]
["invalid step id 'boil water': use only letters, digits, '_', '.' and '-'"]
>>> transition_problems({"start": {"boil": 0.5}}, ["boil"])[0].message
"outgoing probabilities of 'start' sum to 0.5, expected 1 (within 0.001)"
"""

from __future__ import annotations

import difflib
import math
import re
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from graphlib import CycleError, TopologicalSorter
from typing import Protocol

__all__ = [
    "END",
    "MISSING_ROW",
    "PROBABILITY_TOLERANCE",
    "ROW_SUM",
    "START",
    "STEP_ID_PATTERN",
    "UNKNOWN_STEP",
    "Problem",
    "Where",
    "duration_problems",
    "gap_probability_problems",
    "precedence_cycle_problems",
    "precedence_problems",
    "reachability_problems",
    "step_id_problems",
    "transition_problems",
]

START = "start"
END = "end"
PROBABILITY_TOLERANCE = 1e-3
"""Outgoing probabilities of a step must sum to 1 within this absolute tolerance."""

STEP_ID_PATTERN = re.compile(r"^[A-Za-z0-9_.\-]+$")

UNKNOWN_STEP = "unknown_step"
"""Kind of a problem that names a step no step defines."""
ROW_SUM = "row_sum"
"""Kind of a transition row whose probabilities do not sum to 1."""
MISSING_ROW = "missing_row"
"""Kind of a missing transition row (of ``start`` or of a step)."""

Where = tuple[str | int, ...]
"""A path in the procedure's layout: keys of mappings, indices of lists."""


@dataclass(frozen=True)
class Problem:
    """One consistency problem and where it is.

    Parameters
    ----------
    message : str
        What is wrong, naming the thing, what was expected and what was found.
    where : tuple of str or int
        Path to the offending value (``()``: the procedure as a whole).
    at_key : bool
        The problem is the key at the end of ``where`` (a row's source, a destination),
        not its value.
    kind : str
        :data:`UNKNOWN_STEP`, :data:`ROW_SUM`, :data:`MISSING_ROW` or ``""``.
    first : tuple of str or int, or None
        For a duplicate, where the first definition is.
    """

    message: str
    where: Where = ()
    at_key: bool = False
    kind: str = ""
    first: Where | None = None

    def __str__(self) -> str:
        return self.message


class DurationLike(Protocol):
    """Duration statistics in seconds (:class:`~prism.procedure.model.DurationStats`)."""

    @property
    def mean(self) -> float: ...
    @property
    def std(self) -> float: ...
    @property
    def min(self) -> float | None: ...
    @property
    def max(self) -> float | None: ...


def _hint(name: str, known: Collection[str]) -> str:
    """ " (did you mean 'x'?)" for a close known name, else the known names (if any)."""
    close = difflib.get_close_matches(name, list(known), n=1, cutoff=0.6)
    if close:
        return f" (did you mean {close[0]!r}?)"
    if not known:
        return ""
    listed = ", ".join(list(known)[:20]) + (", ..." if len(known) > 20 else "")
    return f"; known steps: {listed}"


def _known(step_ids: Sequence[str]) -> dict[str, int]:
    """Step id -> index of its first definition (the reserved ids excluded)."""
    known: dict[str, int] = {}
    for index, step_id in enumerate(step_ids):
        if step_id not in (START, END):
            known.setdefault(step_id, index)
    return known


def step_id_problems(step_ids: Sequence[str]) -> list[Problem]:
    """No steps, invalid, reserved and duplicate step ids (at ``("steps", i, "id")``)."""
    if not step_ids:
        return [Problem("'steps' is empty; a procedure needs at least one step", ("steps",))]
    found: list[Problem] = []
    first: dict[str, int] = {}
    for index, step_id in enumerate(step_ids):
        where: Where = ("steps", index, "id")
        if step_id in first:
            duplicate = f"duplicate step id {step_id!r}"
            found.append(Problem(duplicate, where, first=("steps", first[step_id])))
        elif step_id in (START, END):
            found.append(
                Problem(f"step id {step_id!r} is reserved for the graph's {step_id}", where)
            )
        else:
            first[step_id] = index
            if not STEP_ID_PATTERN.match(step_id):
                message = f"invalid step id {step_id!r}: use only letters, digits, '_', '.' and '-'"
                found.append(Problem(message, where))
    return found


def duration_problems(
    duration: DurationLike, *, owner: str = "", where: Where = ()
) -> list[Problem]:
    """Non-finite values, ``mean <= 0``, ``std < 0``, ``min < 0`` and ``min > max``.

    ``owner`` (e.g. ``"step 'boil'"``) prefixes the messages; each problem is at
    ``(*where, field)``.
    """
    prefix = f"{owner}: " if owner else ""
    found = [
        Problem(
            f"{prefix}duration {name} must be a finite number of seconds, got {value}",
            (*where, name),
        )
        for name, value in (
            ("mean", duration.mean),
            ("std", duration.std),
            ("min", duration.min),
            ("max", duration.max),
        )
        if value is not None and not math.isfinite(value)
    ]
    if found:
        return found
    if duration.mean <= 0:
        found.append(
            Problem(
                f"{prefix}duration mean must be > 0 seconds, got {duration.mean}", (*where, "mean")
            )
        )
    if duration.std < 0:
        found.append(
            Problem(
                f"{prefix}duration std must be >= 0 seconds, got {duration.std}", (*where, "std")
            )
        )
    if duration.min is not None and duration.min < 0:
        found.append(
            Problem(
                f"{prefix}duration min must be >= 0 seconds, got {duration.min}", (*where, "min")
            )
        )
    if duration.min is not None and duration.max is not None and duration.min > duration.max:
        message = f"{prefix}duration min ({duration.min}) is larger than max ({duration.max})"
        found.append(Problem(message, (*where, "min")))
    return found


def transition_problems(
    transitions: Mapping[str, Mapping[str, float | None]],
    step_ids: Sequence[str],
    *,
    partial_rows: Collection[str] = (),
) -> list[Problem]:
    """Rows of unknown sources or of ``end``, unknown destinations or ``start`` as one,
    probabilities outside [0, 1], rows that do not sum to 1, missing rows.

    Parameters
    ----------
    transitions : mapping of str to mapping of str to float or None
        ``transitions[src][dst]``, probabilities; None for one a file reader could not
        read (its destination is checked, the row's sum is not).
    step_ids : sequence of str
        The steps, in class order.
    partial_rows : collection of str
        Sources whose rows lack entries (unreadable in a file): their sums are not checked.
    """
    known = _known(step_ids)
    found: list[Problem] = []
    for src, row in transitions.items():
        if src == END:
            message = "'end' cannot have outgoing transitions: it ends the procedure"
            found.append(Problem(message, ("transitions", END), at_key=True))
            continue
        if src != START and src not in known:
            message = f"transitions from unknown step {src!r}{_hint(src, known)}"
            found.append(Problem(message, ("transitions", src), at_key=True, kind=UNKNOWN_STEP))
        in_range = src not in partial_rows
        for dst, probability in row.items():
            where: Where = ("transitions", src, dst)
            if dst == START:
                message = f"transition {src!r} -> 'start': nothing leads back to start"
                found.append(Problem(message, where, at_key=True))
            elif dst != END and dst not in known:
                message = f"transition {src!r} -> {dst!r}: unknown step {dst!r}{_hint(dst, known)}"
                found.append(Problem(message, where, at_key=True, kind=UNKNOWN_STEP))
            if probability is None:
                in_range = False
            elif not (math.isfinite(probability) and 0.0 <= probability <= 1.0):
                message = f"probability of {src!r} -> {dst!r} must be in [0, 1], got {probability}"
                found.append(Problem(message, where))
                in_range = False
        total = math.fsum(p for p in row.values() if p is not None)
        if in_range and abs(total - 1.0) > PROBABILITY_TOLERANCE:
            message = (
                f"outgoing probabilities of {src!r} sum to {total:.6g}, expected 1"
                f" (within {PROBABILITY_TOLERANCE:g})"
            )
            found.append(Problem(message, ("transitions", src), at_key=True, kind=ROW_SUM))
    if START not in transitions:
        message = "'transitions' has no row for 'start'; add one, e.g. 'start: {first_step: 1.0}'"
        found.append(Problem(message, ("transitions",), at_key=True, kind=MISSING_ROW))
    for step_id, index in known.items():
        if step_id not in transitions:
            message = (
                f"step {step_id!r} has no outgoing transitions; add a row '{step_id}: {{...}}'"
                " under 'transitions' (with 'end' after the last step)"
            )
            found.append(Problem(message, ("steps", index), kind=MISSING_ROW))
    return found


def precedence_problems(
    precedence: Sequence[tuple[str, str]], step_ids: Sequence[str]
) -> list[Problem]:
    """Precedence pairs naming unknown steps (at ``("precedence", k, 0 or 1)``)."""
    known = _known(step_ids)
    return [
        Problem(
            f"precedence names unknown step {name!r}{_hint(name, known)}",
            ("precedence", k, side),
            kind=UNKNOWN_STEP,
        )
        for k, pair in enumerate(precedence)
        for side, name in enumerate(pair)
        if name not in known
    ]


def gap_probability_problems(probability: float) -> list[Problem]:
    """A gap probability outside [0, 1) (at ``("gap", "probability")``)."""
    if math.isfinite(probability) and 0.0 <= probability < 1.0:
        return []
    message = f"gap probability must be in [0, 1), got {probability}"
    return [Problem(message, ("gap", "probability"))]


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
    step_ids: Sequence[str], transitions: Mapping[str, Mapping[str, float]]
) -> list[Problem]:
    """Steps unreachable from start, and steps from which end is unreachable, through
    transitions with probability > 0 (at the step, or at ``transitions`` for end).

    Two depth-first searches over sets, forward from start and backward from end; the
    graph may have cycles (repeatable steps), so graphlib's orderings do not apply.
    """
    forward = {src: [d for d, p in row.items() if p > 0] for src, row in transitions.items()}
    reached = _reachable(forward, START)
    backward: dict[str, list[str]] = {}
    for src, dsts in forward.items():
        for dst in dsts:
            backward.setdefault(dst, []).append(src)
    reaching_end = _reachable(backward, END)
    steps = list(enumerate(step_ids))
    found = [
        Problem(f"step {s!r} is unreachable from start", ("steps", i))
        for i, s in steps
        if s not in reached
    ]
    if END not in reached:
        found.append(Problem("end is unreachable from start", ("transitions",), at_key=True))
    found.extend(
        Problem(f"end is unreachable from step {s!r}", ("steps", i))
        for i, s in steps
        if s in reached and s not in reaching_end
    )
    return found


def precedence_cycle_problems(precedence: Sequence[tuple[str, str]]) -> list[Problem]:
    """A problem naming a step on a cycle of the precedence pairs, if there is one.

    ``graphlib`` finds the cycle; the problem names the step of it that comes first as the
    ``before`` of a pair, and is at that pair.
    """
    sorter: TopologicalSorter[str] = TopologicalSorter()
    for before, after in precedence:
        sorter.add(after, before)
    try:
        sorter.prepare()
    except CycleError as error:
        cycle = set(error.args[1])
        k, step = next((k, before) for k, (before, _) in enumerate(precedence) if before in cycle)
        return [Problem(f"precedence constraints form a cycle through {step!r}", ("precedence", k))]
    return []
