"""Sample plausible sessions (step orders, durations, gaps) from a procedure."""

from __future__ import annotations

import numpy as np

from prism.data.annotations import AnnotatedSession, StepSegment
from prism.procedure.model import DurationStats, Procedure

__all__ = ["sample_duration", "sample_session"]


def sample_duration(duration: DurationStats, rng: np.random.Generator) -> float:
    """Draw one duration in seconds from a gamma with the given mean and std (clipped to min/max).

    >>> d = sample_duration(DurationStats(mean=10.0, std=0.0), np.random.default_rng(0))
    >>> d
    10.0
    """
    if duration.std <= 0:
        value = duration.mean
    else:
        shape = (duration.mean / duration.std) ** 2
        value = float(rng.gamma(shape, duration.std**2 / duration.mean))
    low = duration.min if duration.min is not None else 0.2
    high = duration.max if duration.max is not None else np.inf
    return float(np.clip(value, low, high))


def sample_session(
    procedure: Procedure,
    rng: np.random.Generator,
    *,
    session_id: str = "sampled",
    duration_scale: float = 1.0,
    lead_in: float = 2.0,
) -> AnnotatedSession:
    """Walk the transition graph from start to end, each step at most once unless repeatable.

    Next steps are drawn from the graph's row renormalised over the steps still allowed:
    not done (or repeatable), with their precedence predecessors done, and the end only
    once every ``must_not_skip`` step is done. When the graph offers no such step, the
    next one is drawn uniformly from those ready steps (the end only when none is left);
    when there is none either, from the graph's allowed steps. Durations come from
    :func:`sample_duration` (times ``duration_scale``); a gap follows a step with the
    procedure's gap probability.

    Parameters
    ----------
    procedure : Procedure
        The procedure to perform.
    rng : np.random.Generator
        Source of randomness (the result is deterministic for a seeded generator).
    session_id : str
        Id of the returned session.
    duration_scale : float
        Factor on every step and gap duration (> 0), e.g. for a slow user.
    lead_in : float
        Seconds of "other" before the first step.

    Returns
    -------
    AnnotatedSession
        Segments in order; ``duration`` ends 2 s after the last step.
    """
    matrix = procedure.transition_matrix()
    precedence = procedure.precedence_matrix()
    n = procedure.n_steps
    done = np.zeros(n, dtype=bool)
    repeatable = np.array([s.repeatable for s in procedure.steps])
    required = np.array([s.notes.must_not_skip for s in procedure.steps])
    segments: list[StepSegment] = []
    time, current = lead_in, n
    for _ in range(4 * n):
        allowed = np.append(~done | repeatable, True)
        ready = np.append(~(precedence & ~done[:, None]).any(axis=0), True)
        may_end = np.append(np.ones(n, dtype=bool), not (required & ~done).any())
        graph = matrix[current] * allowed
        frontier = (allowed & ready & may_end).astype(float)
        frontier[n] *= not frontier[:n].any()
        for weights in (graph * ready * may_end, frontier, graph):
            if weights.sum() > 0:
                break
        else:
            break
        nxt = int(rng.choice(n + 1, p=weights / weights.sum()))
        if nxt == n:
            break
        length = duration_scale * sample_duration(procedure.steps[nxt].duration, rng)
        segments.append(StepSegment(procedure.steps[nxt].id, time, time + length))
        time += length
        if rng.random() < procedure.gap.probability:
            time += duration_scale * sample_duration(procedure.gap.duration, rng)
        done[nxt] = True
        current = nxt
    return AnnotatedSession(
        session_id=session_id, task=procedure.id, segments=tuple(segments), duration=time + 2.0
    )
