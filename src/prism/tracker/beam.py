"""The tracker's numerical core: a bounded beam of compact hypotheses, advanced per frame.

A hypothesis is fixed-size: current node, gap flag, done set (bit mask), entry frame of
the current node, and the start/end frame of each step (one number each per step). Each
frame, every hypothesis may stay (duration hazard), end its step into a gap ("other"),
or move to a next step allowed by the transition graph (done steps are never revisited
unless repeatable; precedence is a soft penalty). Candidates that agree on
``(node, gap, done set)`` are merged (log-sum-exp of their scores: a forward filter over
the beam) keeping the times of the member with the best single path (its Viterbi score,
carried beside the summed one), and the ``width`` best survive. The path score matters
for the times: a group's summed mass may come mostly from recent entries while its
oldest member is a path that has long been contradicted; that member's durations would
make the group leave its step at once. Everything is a
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
    "next_log_probabilities",
    "next_step_distribution",
    "normalised_weights",
]


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
        Unnormalised log probability of the group (summed over the merged paths); the
        maximum is 0.
    path_score : np.ndarray [shape=(B,), float64]
        Log probability of the group's best single path (whose times the hypothesis
        keeps), on the same scale as ``log_score``.
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
    path_score: np.ndarray
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
        path_score=np.zeros(1),
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


_NEXT_ROW_CACHE_SIZE = 65_536
"""Rows kept by the next-step memo of a model before it is cleared (~10 MB at 20 steps)."""


def next_log_probabilities(model: TrackingModel, node: np.ndarray, done: np.ndarray) -> np.ndarray:
    """:func:`_compute_next_log_probabilities`, memoised per model on (node, done set).

    A session visits few distinct (node, done set) pairs, so most frames need no
    computation; the memo is bounded and only ever holds exact results.
    """
    keys = ((done << np.uint64(8)) | node.astype(np.uint64)).tolist()
    memo = model.next_row_cache
    found = memo.find(keys)
    missing = np.flatnonzero(found < 0)
    if missing.size:
        if len(memo) + missing.size > _NEXT_ROW_CACHE_SIZE:
            memo.clear()
            missing = np.arange(len(keys))
        first: dict[int, int] = {}  # each missing key, where it first occurs
        for i in missing.tolist():
            first.setdefault(keys[i], i)
        index = np.fromiter(first.values(), np.int64, len(first))
        memo.add(list(first), _compute_next_log_probabilities(model, node[index], done[index]))
        found = memo.find(keys)
    return np.asarray(memo.rows[found])


def _compute_next_log_probabilities(
    model: TrackingModel, node: np.ndarray, done: np.ndarray
) -> np.ndarray:
    """Log probability of each next node given the current node and done set.

    The graph's row of the current node, restricted to steps not done (or repeatable),
    with ``precedence_penalty`` on steps whose predecessors are not all done (never on
    the end) and renormalised, mixed with the uniform distribution over the frontier (not-done steps
    whose predecessors are all done; the end once every step is done) with weight
    ``frontier_mixing``.

    Returns
    -------
    np.ndarray [shape=(B, S + 1)]
        Column ``n < S`` is step ``n``, column ``S`` is the end; ``-inf`` where not allowed.
    """
    not_done = ~done[:, None]
    allowed = ((not_done & model.column_bit[: model.n_steps + 1]) != 0) | model.always_allowed
    frontier = allowed & ((model.predecessor_bits & not_done) == 0)
    weights = model.transitions[np.minimum(node, model.n_steps)]
    penalty = model.column_penalty
    weights *= allowed * penalty + frontier * (1.0 - penalty)
    frontier_size = frontier.sum(axis=1, keepdims=True)
    total = weights.sum(axis=1, keepdims=True)
    # All of it to the frontier when the graph's row has nothing left (else mass is lost).
    share = np.where(frontier_size > 0, np.where(total > 0, model.frontier_mixing, 1.0), 0.0)
    weights *= (1.0 - share) / np.maximum(total, 1e-300)
    weights += frontier * (share / np.maximum(frontier_size, 1))
    with np.errstate(divide="ignore"):
        return np.asarray(np.log(weights))


def hypothesis_keys(node: np.ndarray, gap: np.ndarray, done: np.ndarray) -> np.ndarray:
    """One uint64 per hypothesis identifying what matters: (done set, node, gap)."""
    return (done << np.uint64(8)) | (node.astype(np.uint64) << np.uint64(1)) | gap.astype(np.uint64)


def merge_groups(
    keys: np.ndarray, log_scores: np.ndarray, path_scores: np.ndarray, *, width: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Merge hypotheses with equal keys and keep the ``width`` best groups.

    Each group's representative is its member with the best ``path_scores``; its
    merged score is the log-sum-exp of the members' ``log_scores``.

    Returns
    -------
    first : np.ndarray [shape=(G,), int64]
        The representatives' indices.
    merged : np.ndarray [shape=(G,)]
        The groups' summed log scores.
    best_path : np.ndarray [shape=(G,)]
        The representatives' path scores.
    """
    order = np.lexsort((-path_scores, keys))
    ordered_keys = keys[order]
    group_start = np.empty(keys.size, dtype=bool)
    group_start[0] = True
    np.not_equal(ordered_keys[1:], ordered_keys[:-1], out=group_start[1:])
    starts = np.flatnonzero(group_start)
    first = order[starts]
    merged = np.logaddexp.reduceat(log_scores[order], starts)
    if first.size > width:
        top = np.argpartition(merged, first.size - width)[-width:]
        first, merged = first[top], merged[top]
    return first, merged, path_scores[first]


def next_step_distribution(model: TrackingModel, beam: Beam) -> np.ndarray:
    """Probability of each step (and the end) being the next one started.

    Returns
    -------
    np.ndarray [shape=(S + 1,), sums to 1 unless every hypothesis has ended]
        Entry ``S`` is the probability that the procedure ends next.
    """
    active = beam.node <= model.n_steps
    weights = normalised_weights(beam) * active
    probabilities = np.exp(next_log_probabilities(model, beam.node, beam.done))
    return np.asarray(weights @ probabilities)


def advance_beam(
    beam: Beam,
    log_likelihood: np.ndarray,
    model: TrackingModel,
    *,
    width: int,
) -> Beam:
    """Advance the belief by one frame.

    Parameters
    ----------
    beam : Beam
        Belief after ``beam.frame`` frames.
    log_likelihood : np.ndarray [shape=(S + 1,), finite]
        Log likelihood of this frame's classifier output under each class (``S`` =
        other), as weighed by :mod:`prism.tracker.evidence`.
    model : TrackingModel
        The compiled procedure.
    width : int
        Maximum number of hypotheses kept.

    Returns
    -------
    Beam
        Belief after ``beam.frame + 1`` frames.
    """
    n = model.n_steps
    t = beam.frame
    stay_column, gap_column = n + 2, n + 1
    duration = np.minimum(t - beam.entry, model.max_duration_frames)
    hazard_row = np.where(beam.gap, n, beam.node)
    in_step = hazard_row < n
    # Candidate (i, c): hypothesis i moves to next step c < S, to the end (c = S),
    # into the gap after its step (c = S + 1) or stays (c = S + 2).
    leave = model.hazard_log_leave[hazard_row, duration]
    # The log probability each candidate adds to its parent's scores (both kinds).
    steps = np.empty((beam.node.shape[0], n + 3))
    steps[:, : n + 1] = next_log_probabilities(model, beam.node, beam.done)
    steps[:, : n + 1] += (leave + np.where(in_step, model.log_no_gap, 0.0))[:, None]
    steps[:, : n + 1] += log_likelihood
    steps[:, gap_column] = np.where(in_step, leave + (model.log_gap + log_likelihood[n]), -np.inf)
    emitted = np.where(in_step, beam.node, n)
    steps[:, stay_column] = model.hazard_log_stay[hazard_row, duration] + log_likelihood[emitted]
    flat = (steps + beam.log_score[:, None]).ravel()
    flat_path = (steps + beam.path_score[:, None]).ravel()
    # Drop impossible moves first: selection among many equal -inf values is slow.
    candidates = np.flatnonzero(flat > -np.inf)
    keep = 4 * width
    if candidates.size > keep:
        candidates = candidates[np.argpartition(flat[candidates], candidates.size - keep)[-keep:]]

    parent, column = np.divmod(candidates, n + 3)
    stays = column == stay_column
    node = np.where(column <= n, model.column_node[np.minimum(column, n)], beam.node[parent])
    gap = np.where(stays, beam.gap[parent], column == gap_column)
    done = beam.done[parent] | model.column_bit[column]
    first, merged, best_path = merge_groups(
        hypothesis_keys(node, gap, done), flat[candidates], flat_path[candidates], width=width
    )

    chosen_parent = parent[first]
    chosen_column = column[first]
    step_start = beam.step_start[chosen_parent]
    step_end = beam.step_end[chosen_parent]
    left_step = np.flatnonzero((chosen_column != stay_column) & in_step[chosen_parent])
    step_end[left_step, beam.node[chosen_parent[left_step]]] = t
    started = np.flatnonzero(chosen_column < n)
    step_start[started, chosen_column[started]] = t
    step_end[started, chosen_column[started]] = -1
    return Beam(
        node=node[first],
        gap=gap[first],
        done=done[first],
        entry=np.where(chosen_column == stay_column, beam.entry[chosen_parent], t),
        step_start=step_start,
        step_end=step_end,
        log_score=merged - merged.max(),
        path_score=best_path - merged.max(),
        frame=t + 1,
    )
