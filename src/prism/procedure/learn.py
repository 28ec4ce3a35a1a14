"""Learn a procedure (transition graph, durations, gaps) from annotated sessions.

The estimators, for ``S`` steps and sessions whose performed steps are taken in
start-time order (``start -> s_1 -> ... -> s_k -> end``):

- **Transitions**: a first-order Markov chain estimated with Dirichlet (additive)
  smoothing. ``C[i, j]`` counts ``i -> j`` among consecutive performed steps. A total
  pseudo-count ``smoothing`` per row is spread evenly over the transitions that are
  *plausible* (:func:`plausible_transitions`): from a step to every other step that is not
  required, by precedence (transitively), to come before it, and to ``end``; from ``start``
  to every step without precedence predecessors. Self-transitions get no pseudo-count, so
  a step loops only if the data show it. The estimate is the posterior mean
  ``P[i, j] = (C[i, j] + a[i, j]) / sum_j (C[i, j] + a[i, j])`` under a Dirichlet prior
  ``a[i, :]`` with those pseudo-counts; a row with neither counts nor pseudo-counts (only
  possible with ``smoothing = 0``) is uniform over its plausible successors.
- **Durations** (seconds, ``end - start``): mean, sample standard deviation (``ddof=1``),
  min and max of the observed durations. A step seen once has ``std = 0.5 * mean`` and no
  min/max; a step never seen gets the median of the observed steps' means with
  ``std = 0.5 * mean``. Means are at least :data:`MIN_DURATION_S`, and so are stds.
- **Gaps**: among consecutive performed steps, a gap is ``next.start - previous.end``
  longer than ``min_gap`` (overlaps, negative gaps, count as no gap). The gap probability
  is the add-one (Laplace) estimate ``(k + 1) / (n + 2)`` for ``k`` gaps in ``n`` pairs,
  strictly inside (0, 1) and 0.5 without data; gap durations are summarised like step
  durations over the gaps found, with the :class:`GapModel` default when there are none.
- **Repeatable**: a step performed more than once in some session.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence

import numpy as np

from prism.errors import DataError, ProcedureError
from prism.procedure.checks import precedence_cycle_problems, precedence_problems
from prism.procedure.model import END, START, DurationStats, GapModel, Procedure, Step
from prism.procedure.sessions import AnnotatedSession

__all__ = [
    "MIN_DURATION_S",
    "SINGLE_OBSERVATION_STD_FRACTION",
    "learn_procedure",
    "plausible_transitions",
    "transition_counts",
]

MIN_DURATION_S = 0.1
"""Smallest learned mean and std of a duration, in seconds."""

SINGLE_OBSERVATION_STD_FRACTION = 0.5
"""``std = fraction * mean`` for a duration seen once or never."""

_PLACEHOLDER = DurationStats(mean=1.0, std=0.0)


def _sorted_segments(session: AnnotatedSession) -> list[tuple[str, float, float]]:
    return sorted(((s.step, s.start, s.end) for s in session.segments), key=lambda t: (t[1], t[2]))


def _predecessors(step_ids: Sequence[str], precedence: Sequence[tuple[str, str]]) -> np.ndarray:
    """``before[i, j]``: step ``i`` must come before step ``j`` (transitive closure)."""
    problems = precedence_problems(precedence, step_ids) or precedence_cycle_problems(precedence)
    if problems:
        raise ProcedureError("; ".join(problem.message for problem in problems))
    index = {step: i for i, step in enumerate(step_ids)}
    n = len(step_ids)
    before = np.zeros((n, n), dtype=bool)
    for first, then in precedence:
        before[index[first], index[then]] = True
    for k in range(n):  # Floyd-Warshall style closure
        before |= before[:, [k]] & before[[k], :]
    return before


def plausible_transitions(
    step_ids: Sequence[str], precedence: Sequence[tuple[str, str]] = ()
) -> np.ndarray:
    """Transitions that get smoothing mass: the support of the Dirichlet prior.

    Parameters
    ----------
    step_ids : sequence of str
        Step ids in class order (length ``S``).
    precedence : sequence of (str, str)
        ``(before, after)`` pairs over ``step_ids``; applied transitively.

    Returns
    -------
    np.ndarray [shape=(S + 1, S + 1), bool]
        Rows ``0..S-1`` are steps and row ``S`` is ``start``; columns ``0..S-1`` are steps
        and column ``S`` is ``end``. ``m[i, j]`` for steps ``i != j`` is True unless ``j``
        must come before ``i``; ``m[i, S]`` is True; ``m[S, j]`` is True when ``j`` has no
        predecessor; the diagonal and ``m[S, S]`` are False.

    Raises
    ------
    ProcedureError
        If precedence names an unknown step or is cyclic.

    Examples
    --------
    >>> plausible_transitions(["a", "b"], [("a", "b")]).astype(int).tolist()
    [[0, 1, 1], [0, 0, 1], [1, 0, 0]]
    """
    before = _predecessors(step_ids, precedence)
    n = len(step_ids)
    plausible = np.zeros((n + 1, n + 1), dtype=bool)
    plausible[:n, :n] = ~before.T & ~np.eye(n, dtype=bool)
    plausible[:n, n] = True
    plausible[n, :n] = ~before.any(axis=0)
    return plausible


def transition_counts(sessions: Sequence[AnnotatedSession], step_ids: Sequence[str]) -> np.ndarray:
    """Count transitions between consecutive performed steps (in start-time order).

    Parameters
    ----------
    sessions : sequence of AnnotatedSession
        Sessions whose steps are all in ``step_ids``.
    step_ids : sequence of str
        Step ids in class order (length ``S``).

    Returns
    -------
    np.ndarray [shape=(S + 1, S + 1), float64, non-negative integers]
        Same layout as :func:`plausible_transitions`; each session adds one
        ``start -> first``, one ``last -> end`` (``start -> end`` if it performed nothing)
        and one count per consecutive pair.

    Raises
    ------
    DataError
        If a session performs a step not in ``step_ids``.

    Examples
    --------
    >>> from prism.procedure.sessions import StepSegment
    >>> s = AnnotatedSession("s", "t", (StepSegment("a", 0, 1), StepSegment("b", 2, 3)), 3.0)
    >>> transition_counts([s], ["a", "b"]).astype(int).tolist()
    [[0, 1, 0], [0, 0, 1], [1, 0, 0]]
    """
    index = {step: i for i, step in enumerate(step_ids)}
    n = len(step_ids)
    counts = np.zeros((n + 1, n + 1))
    for session in sessions:
        previous = n
        for step, _, _ in _sorted_segments(session):
            if step not in index:
                raise DataError(
                    f"session {session.session_id!r}: step {step!r} is not in the procedure; "
                    "known steps: " + ", ".join(step_ids)
                )
            counts[previous, index[step]] += 1
            previous = index[step]
        counts[previous, n] += 1
    return counts


def _estimate_transitions(
    counts: np.ndarray, plausible: np.ndarray, smoothing: float
) -> np.ndarray:
    """Posterior-mean transition matrix; inputs are valid (see the module docstring)."""
    prior = plausible / plausible.sum(axis=1, keepdims=True)
    totals = counts + smoothing * prior
    row_sums = totals.sum(axis=1, keepdims=True)
    empty = row_sums[:, 0] == 0
    totals[empty] = prior[empty]
    row_sums[empty] = 1.0
    result: np.ndarray = totals / row_sums
    return result


def _round(value: float, digits: int = 6) -> float:
    return float(f"{value:.{digits}g}")


def _stats(values: Sequence[float]) -> DurationStats:
    data = np.asarray(values, dtype=float)
    mean = max(float(data.mean()), MIN_DURATION_S)
    if data.size == 1:
        return DurationStats(
            mean=round(mean, 3), std=round(SINGLE_OBSERVATION_STD_FRACTION * mean, 3)
        )
    std = max(float(data.std(ddof=1)), MIN_DURATION_S)
    low, high = min(float(data.min()), mean), max(float(data.max()), mean)
    return DurationStats(
        mean=round(mean, 3), std=round(std, 3), min=round(low, 3), max=round(high, 3)
    )


def _durations(
    sessions: Sequence[AnnotatedSession], step_ids: Sequence[str]
) -> dict[str, DurationStats]:
    observed: dict[str, list[float]] = {step: [] for step in step_ids}
    for session in sessions:
        for step, start, end in _sorted_segments(session):
            observed[step].append(end - start)
    learned = {step: _stats(values) for step, values in observed.items() if values}
    prior_mean = float(np.median([stats.mean for stats in learned.values()]))
    prior = DurationStats(
        mean=round(prior_mean, 3), std=round(SINGLE_OBSERVATION_STD_FRACTION * prior_mean, 3)
    )
    return {step: learned.get(step, prior) for step in step_ids}


def _gap_model(sessions: Sequence[AnnotatedSession], min_gap: float) -> GapModel:
    pairs = 0
    gaps: list[float] = []
    for session in sessions:
        segments = _sorted_segments(session)
        for (_, _, end), (_, start, _) in itertools.pairwise(segments):
            pairs += 1
            if start - end > min_gap:
                gaps.append(start - end)
    probability = _round((len(gaps) + 1) / (pairs + 2), 4)
    if not gaps:
        return GapModel(probability=probability)
    return GapModel(probability=probability, duration=_stats(gaps))


def _step_set(
    sessions: Sequence[AnnotatedSession],
    steps: Sequence[Step] | None,
    step_ids: Sequence[str] | None,
) -> list[Step]:
    if steps is not None and step_ids is not None:
        raise ProcedureError("learn_procedure: give either steps or step_ids, not both")
    if steps is not None:
        chosen = list(steps)
    else:
        if step_ids is None:
            found: dict[str, None] = {}
            for session in sessions:
                found.update((step, None) for step, _, _ in _sorted_segments(session))
            for session in sessions:
                found.update((step, None) for step in session.skipped)
            step_ids = list(found)
        chosen = [Step(step, step, "", _PLACEHOLDER) for step in step_ids]
    if not chosen:
        raise ProcedureError("learn_procedure: the procedure needs at least one step")
    seen: set[str] = set()
    for step in chosen:
        if step.id in seen:
            raise ProcedureError(f"learn_procedure: duplicate step id {step.id!r}")
        seen.add(step.id)
    for session in sessions:
        for name in [s.step for s in session.segments] + list(session.skipped):
            if name not in seen:
                raise DataError(
                    f"session {session.session_id!r}: step {name!r} is not in the procedure; "
                    "known steps: " + ", ".join(s.id for s in chosen)
                )
        for segment in session.segments:
            if not (math.isfinite(segment.start) and math.isfinite(segment.end)) or (
                segment.end < segment.start
            ):
                raise DataError(
                    f"session {session.session_id!r}: step {segment.step!r} has start "
                    f"{segment.start} s and end {segment.end} s; expected start <= end"
                )
    return chosen


def learn_procedure(
    sessions: Sequence[AnnotatedSession],
    *,
    procedure_id: str,
    name: str,
    steps: Sequence[Step] | None = None,
    step_ids: Sequence[str] | None = None,
    precedence: Sequence[tuple[str, str]] = (),
    smoothing: float = 0.5,
    description: str = "",
    source: str = "",
    min_gap: float = 0.5,
) -> Procedure:
    """Learn a procedure from annotated sessions (estimators in the module docstring).

    Parameters
    ----------
    sessions : sequence of AnnotatedSession
        Training sessions (at least one, with at least one performed step overall).
    procedure_id, name : str
        Id and name of the learned procedure.
    steps : sequence of Step or None
        The step set in class order; names, descriptions and notes are kept, durations
        replaced by learned ones, ``repeatable`` kept or set when a step repeats.
    step_ids : sequence of str or None
        The step set as bare ids (names = ids). With neither ``steps`` nor ``step_ids``,
        the steps seen in ``sessions`` in order of first appearance.
    precedence : sequence of (str, str)
        ``(before, after)`` constraints: stored in the procedure and used to restrict the
        smoothing mass.
    smoothing : float
        Total Dirichlet pseudo-count per row (>= 0).
    description, source : str
        Stored in the procedure; ``source`` defaults to ``"learned from N annotated
        sessions"``.
    min_gap : float
        Seconds (>= 0) between steps that count as a gap.

    Returns
    -------
    Procedure
        A valid procedure; probabilities rounded to 6 significant digits, durations to
        milliseconds.

    Raises
    ------
    DataError
        If there is no session or no performed step, a session names an unknown step or
        has a segment ending before it starts.
    ProcedureError
        If the options are invalid (negative smoothing, unknown or cyclic precedence,
        duplicate steps) or the result is not a valid procedure (e.g. a step never
        performed with ``smoothing = 0`` is unreachable).

    Examples
    --------
    >>> from prism.procedure.sessions import StepSegment
    >>> segments = (StepSegment("boil", 0, 60), StepSegment("steep", 60, 240))
    >>> s = AnnotatedSession("s", "tea", segments, 240.0)
    >>> p = learn_procedure([s], procedure_id="tea", name="Tea", smoothing=0.0)
    >>> dict(p.transitions["boil"]), p.step("steep").duration.mean
    ({'steep': 1.0}, 180.0)
    """
    if not sessions:
        raise DataError(f"learn_procedure({procedure_id!r}): no annotated sessions to learn from")
    if not (math.isfinite(smoothing) and smoothing >= 0):
        raise ProcedureError(f"smoothing must be a finite pseudo-count >= 0, got {smoothing}")
    if not (math.isfinite(min_gap) and min_gap >= 0):
        raise ProcedureError(f"min_gap must be a finite number of seconds >= 0, got {min_gap}")
    chosen = _step_set(sessions, steps, step_ids)
    ids = [step.id for step in chosen]
    if not any(session.segments for session in sessions):
        raise DataError(
            f"learn_procedure({procedure_id!r}): none of the {len(sessions)} sessions has a "
            "performed step"
        )
    plausible = plausible_transitions(ids, precedence)
    matrix = _estimate_transitions(transition_counts(sessions, ids), plausible, smoothing)
    sources, targets = [*ids, START], [*ids, END]
    transitions = {
        src: {targets[j]: _round(float(p)) for j, p in enumerate(matrix[i]) if p > 0}
        for i, src in enumerate(sources)
    }
    durations = _durations(sessions, ids)
    repeated = {
        step
        for session in sessions
        for step in {s.step for s in session.segments}
        if sum(s.step == step for s in session.segments) > 1
    }
    learned_steps = tuple(
        Step(
            id=step.id,
            name=step.name,
            description=step.description,
            duration=durations[step.id],
            repeatable=step.repeatable or step.id in repeated,
            notes=step.notes,
        )
        for step in chosen
    )
    try:
        return Procedure(
            id=procedure_id,
            name=name,
            steps=learned_steps,
            transitions=transitions,
            description=description,
            precedence=tuple((a, b) for a, b in precedence),
            gap=_gap_model(sessions, min_gap),
            source=source or f"learned from {len(sessions)} annotated sessions",
        )
    except ProcedureError as error:
        hint = " (steps never performed need smoothing > 0)" if smoothing == 0 else ""
        raise ProcedureError(f"the learned procedure is invalid: {error}{hint}") from None
