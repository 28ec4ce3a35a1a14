"""The tracker's numerical core: a bounded beam of compact hypotheses, advanced per frame.

A hypothesis is fixed-size: current node, gap flag, done set (bit mask), entry frame of
the current node, and the start/end frame of each step (one number each per step). Each
frame, every hypothesis may stay (duration hazard), end its step into a gap ("other"),
or move to a next step allowed by the transition graph (done steps are never revisited
unless repeatable; precedence is a soft penalty). Candidates that agree on
``(node, gap, done set)`` are merged (log-sum-exp of their scores: a forward filter over
the beam) keeping the best one's times, and the ``width`` best survive. Everything is a
handful of vectorised numpy operations on arrays of shape ``(width,)`` and
``(width, S + 1)``; the cost per frame does not grow with the session.

These functions are pure and assume valid input (validated by the public tracker).
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from prism.tracker.model import TrackingModel

__all__ = [
    "Beam",
    "advance_beam",
    "emitted_class",
    "hypothesis_keys",
    "initial_beam",
    "merge_groups",
    "next_step_distribution",
    "normalised_weights",
]

_KIND_STAY, _KIND_GAP, _KIND_NEXT = 0, 1, 2


class Beam(NamedTuple):
    """The tracker's belief: ``B`` weighted hypotheses (B <= width).

    Attributes
    ----------
    node : np.ndarray [shape=(B,), int64]
        Step index ``0 .. S-1``, ``S`` = start, ``S + 1`` = end.
    gap : np.ndarray [shape=(B,), bool]
        In the "other" time after step ``node``.
    done : np.ndarray [shape=(B,), uint64]
        Bit ``i`` set when step ``i`` has been entered (the current step included).
    entry : np.ndarray [shape=(B,), int64]
        Frame at which the current node (or gap) was entered.
    step_start, step_end : np.ndarray [shape=(B, S), int64]
        Frame each step was (last) entered / left; -1 for never / not yet.
    log_score : np.ndarray [shape=(B,), float64]
        Unnormalised log probability; the maximum is 0.
    frame : int
        Number of frames processed so far.
    """

    node: np.ndarray
    gap: np.ndarray
    done: np.ndarray
    entry: np.ndarray
    step_start: np.ndarray
    step_end: np.ndarray
    log_score: np.ndarray
    frame: int


def initial_beam(n_steps: int) -> Beam:
    """The belief before the first frame: a single hypothesis at the start node."""
    return Beam(
        node=np.array([n_steps], dtype=np.int64),
        gap=np.zeros(1, dtype=bool),
        done=np.zeros(1, dtype=np.uint64),
        entry=np.zeros(1, dtype=np.int64),
        step_start=np.full((1, n_steps), -1, dtype=np.int64),
        step_end=np.full((1, n_steps), -1, dtype=np.int64),
        log_score=np.zeros(1),
        frame=0,
    )


def emitted_class(beam: Beam, n_steps: int) -> np.ndarray:
    """Class each hypothesis explains the frame with: its step, or ``S`` ("other").

    Returns
    -------
    np.ndarray [shape=(B,), int64, values in [0, S]]
    """
    return np.where(beam.gap | (beam.node >= n_steps), n_steps, beam.node)


def normalised_weights(beam: Beam) -> np.ndarray:
    """Posterior weight of each hypothesis, shape ``(B,)``, summing to 1."""
    weights = np.exp(beam.log_score - beam.log_score.max())
    return np.asarray(weights / weights.sum())


def _bits(n_steps: int) -> np.ndarray:
    return np.uint64(1) << np.arange(n_steps, dtype=np.uint64)


def _next_log_probabilities(model: TrackingModel, node: np.ndarray, done: np.ndarray) -> np.ndarray:
    """Log probability of each next node given the current node and done set.

    Returns
    -------
    np.ndarray [shape=(B, S + 1)]
        Column ``n < S`` is step ``n``, column ``S`` is the end; ``-inf`` where not allowed.
    """
    n = model.n_steps
    source = np.minimum(node, n)
    bits = _bits(n)
    done_bits = (done[:, None] & bits[None, :]) != 0
    allowed = ~done_bits | model.repeatable[None, :]
    preceded = (model.predecessor_bits[None, :] & ~done[:, None]) == 0
    factor = np.where(allowed, np.where(preceded, 1.0, model.precedence_penalty), 0.0)
    weights = model.transitions[source].copy()
    weights[:, :n] *= factor
    total = weights.sum(axis=1, keepdims=True)
    graph = weights / np.where(total > 0, total, 1.0)
    frontier = np.zeros_like(graph)
    frontier[:, :n] = allowed & preceded
    frontier_size = frontier.sum(axis=1, keepdims=True)
    frontier /= np.where(frontier_size > 0, frontier_size, 1.0)
    mixing = np.where(frontier_size > 0, model.frontier_mixing, 0.0)
    with np.errstate(divide="ignore"):
        return np.asarray(np.log((1.0 - mixing) * graph + mixing * frontier))


def hypothesis_keys(node: np.ndarray, gap: np.ndarray, done: np.ndarray) -> np.ndarray:
    """One uint64 per hypothesis identifying what matters: (done set, node, gap)."""
    return (done << np.uint64(8)) | (node.astype(np.uint64) << np.uint64(1)) | gap.astype(np.uint64)


def merge_groups(
    keys: np.ndarray, sorted_scores: np.ndarray, *, width: int
) -> tuple[np.ndarray, np.ndarray]:
    """Merge hypotheses with equal keys and keep the ``width`` best groups.

    ``sorted_scores`` must be in descending order, so each group's first member is its
    best one and becomes the representative. Returns the representatives' indices and
    the groups' merged (log-sum-exp) scores.
    """
    unique_keys, first, group = np.unique(keys, return_index=True, return_inverse=True)
    group_max = sorted_scores[first]
    merged = group_max + np.log(
        np.bincount(group, weights=np.exp(sorted_scores - group_max[group]))
    )
    if unique_keys.size > width:
        top = np.argpartition(merged, unique_keys.size - width)[-width:]
        first, merged = first[top], merged[top]
    return first, merged


def next_step_distribution(model: TrackingModel, beam: Beam) -> np.ndarray:
    """Probability of each step (and the end) being the next one started.

    Returns
    -------
    np.ndarray [shape=(S + 1,), sums to 1 unless every hypothesis has ended]
        Entry ``S`` is the probability that the procedure ends next.
    """
    active = beam.node <= model.n_steps
    weights = normalised_weights(beam) * active
    probabilities = np.exp(_next_log_probabilities(model, beam.node, beam.done))
    return np.asarray(weights @ probabilities)


def advance_beam(
    beam: Beam,
    log_probabilities: np.ndarray,
    model: TrackingModel,
    *,
    width: int,
    emission_weight: float,
) -> Beam:
    """Advance the belief by one frame.

    Parameters
    ----------
    beam : Beam
        Belief after ``beam.frame`` frames.
    log_probabilities : np.ndarray [shape=(S + 1,), finite]
        Log of the classifier's class probabilities for this frame (``S`` = other).
    model : TrackingModel
        The compiled procedure.
    width : int
        Maximum number of hypotheses kept.
    emission_weight : float
        Exponent on the classifier probabilities (< 1 for correlated frame errors).

    Returns
    -------
    Beam
        Belief after ``beam.frame + 1`` frames.
    """
    n = model.n_steps
    t = beam.frame
    size = beam.node.shape[0]
    emission = emission_weight * log_probabilities
    duration = np.minimum(t - beam.entry, model.max_duration_frames)
    hazard_row = np.where(beam.gap, n, beam.node)
    log_stay = model.hazard_log_stay[hazard_row, duration]
    log_leave = model.hazard_log_leave[hazard_row, duration]
    in_step = ~beam.gap & (beam.node < n)
    emit_now = emitted_class(beam, n)

    stay = beam.log_score + log_stay + emission[emit_now]
    leave = beam.log_score + log_leave
    to_gap = np.where(in_step, leave + model.log_gap + emission[n], -np.inf)
    next_base = leave + np.where(in_step, model.log_no_gap, 0.0)
    to_next = next_base[:, None] + _next_log_probabilities(model, beam.node, beam.done)
    to_next += emission[None, :]
    scores = np.concatenate([stay, to_gap, to_next.ravel()])

    candidates = np.flatnonzero(np.isfinite(scores))
    keep = 4 * width
    if candidates.size > keep:
        best = np.argpartition(scores[candidates], candidates.size - keep)[-keep:]
        candidates = candidates[best]
    candidates = candidates[np.argsort(-scores[candidates], kind="stable")]

    kind = np.where(
        candidates < size, _KIND_STAY, np.where(candidates < 2 * size, _KIND_GAP, _KIND_NEXT)
    )
    flat_next = candidates - 2 * size
    parent = np.where(kind == _KIND_NEXT, flat_next // (n + 1), candidates % size)
    column = np.where(kind == _KIND_NEXT, flat_next % (n + 1), 0)
    next_node = np.where(column == n, n + 1, column)
    node = np.where(kind == _KIND_NEXT, next_node, beam.node[parent])
    gap = np.where(kind == _KIND_STAY, beam.gap[parent], kind == _KIND_GAP)
    entered_step = (kind == _KIND_NEXT) & (column < n)
    step_bit = np.uint64(1) << np.minimum(column, n - 1).astype(np.uint64)
    done = np.where(entered_step, beam.done[parent] | step_bit, beam.done[parent])
    keys = hypothesis_keys(node, gap, done)

    first, merged = merge_groups(keys, scores[candidates], width=width)

    chosen_parent = parent[first]
    chosen_kind = kind[first]
    chosen_column = column[first]
    step_start = beam.step_start[chosen_parent]
    step_end = beam.step_end[chosen_parent]
    rows = np.arange(first.size)
    left_step = (chosen_kind != _KIND_STAY) & in_step[chosen_parent]
    step_end[rows[left_step], beam.node[chosen_parent[left_step]]] = t
    started = (chosen_kind == _KIND_NEXT) & (chosen_column < n)
    step_start[rows[started], chosen_column[started]] = t
    step_end[rows[started], chosen_column[started]] = -1
    return Beam(
        node=node[first],
        gap=gap[first],
        done=done[first],
        entry=np.where(chosen_kind == _KIND_STAY, beam.entry[chosen_parent], t),
        step_start=step_start,
        step_end=step_end,
        log_score=merged - merged.max(),
        frame=t + 1,
    )
