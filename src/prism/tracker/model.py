"""A procedure compiled into the arrays the tracker needs, computed once per procedure."""

from __future__ import annotations

from dataclasses import dataclass, field
from itertools import repeat

import numpy as np

from prism.errors import ProcedureError
from prism.procedure.model import Procedure
from prism.tracker.durations import hazard_from_stats

__all__ = ["MAX_TRACKED_STEPS", "NextRowMemo", "TrackingModel", "compile_procedure"]

MAX_TRACKED_STEPS = 56
"""Done sets are 64-bit masks sharing their word with the node id: at most 56 steps."""


class NextRowMemo:
    """Rows of numbers kept by integer key: a dict from key to a row of one table, so
    that the rows of many keys come out with one index (:meth:`find`, then
    :attr:`rows`) instead of one Python object each.

    Examples
    --------
    >>> memo = NextRowMemo()
    >>> memo.add([7, 9], np.array([[0.0, 1.0], [2.0, 3.0]]))
    >>> found = memo.find([9, 8, 7])
    >>> found.tolist(), len(memo), memo.rows[found[[0, 2]]].tolist()
    ([1, -1, 0], 2, [[2.0, 3.0], [0.0, 1.0]])
    """

    def __init__(self) -> None:
        self._index: dict[int, int] = {}
        self._table = np.zeros((0, 0))

    def __len__(self) -> int:
        return len(self._index)

    @property
    def rows(self) -> np.ndarray:
        """The rows kept, ``(len(self), width)``, in the order they were added."""
        return self._table[: len(self._index)]

    def find(self, keys: list[int]) -> np.ndarray:
        """The place of each key's row in :attr:`rows` (-1: absent), ``(len(keys),)``."""
        return np.fromiter(map(self._index.get, keys, repeat(-1)), np.int64, len(keys))

    def add(self, keys: list[int], rows: np.ndarray) -> None:
        """Keep ``rows`` ``(len(keys), width)`` under ``keys`` (distinct, not kept yet)."""
        size, more = len(self._index), len(keys)
        if size + more > self._table.shape[0]:
            grown = np.zeros((max(2 * self._table.shape[0], size + more, 64), rows.shape[1]))
            grown[:size] = self._table[:size] if size else grown[:0]
            self._table = grown
        self._table[size : size + more] = rows
        self._index.update(zip(keys, range(size, size + more), strict=True))

    def clear(self) -> None:
        """Forget every row (the table's memory is kept for the next ones)."""
        self._index.clear()


@dataclass(frozen=True, eq=False)
class TrackingModel:
    """Arrays derived from a :class:`Procedure` for tracking at a fixed frame rate.

    Node indices: ``0 .. S-1`` are steps, ``S`` is the start (nothing done yet) and
    ``S + 1`` is the end (procedure finished). A hypothesis in a *gap* after step ``c``
    has node ``c`` and its gap flag set.

    Attributes
    ----------
    procedure : Procedure
        The source procedure.
    frame_rate : float
        Frames per second (Hz).
    transitions : np.ndarray [shape=(S + 1, S + 1)]
        Row ``c`` (``S`` = start) to column ``n`` (``S`` = end); rows sum to 1.
    hazard_log_stay, hazard_log_leave : np.ndarray [shape=(S + 2, D + 1)]
        ``log(1 - h[d])`` and ``log h[d]`` after ``d`` frames; row ``S`` is the gap (and
        start) hazard, with its long-pause tail; row ``S + 1`` (end) leaves at the long
        pause's constant rate: an apparent end is never certain, and a user who comes
        back to the task after it resumes it (at the steps not done yet).
    log_gap, log_no_gap : float
        Log probability that a gap does / does not follow a step.
    always_allowed : np.ndarray [shape=(S + 1,), bool]
        Next nodes allowed even when done: repeatable steps, and the end (last entry).
    predecessor_bits : np.ndarray [shape=(S + 1,), uint64]
        Bit mask of each step's precedence predecessors; for the end, every step (so the
        end joins the frontier once every step is done).
    precedence_penalty : float
        Multiplier (in (0, 1]) of a transition into a step whose predecessors are not done.
    frontier_mixing : float
        Weight in [0, 1) of the *frontier* (not-done steps whose predecessors are all
        done, uniformly) mixed into the graph's next-step distribution.
    column_node : np.ndarray [shape=(S + 1,), int64]
        Node entered by a beam candidate column ``c <= S``: step ``c``, or the end node.
    column_bit : np.ndarray [shape=(S + 3,), uint64]
        Done-set bit added by a candidate column: ``1 << c`` for steps, 0 otherwise
        (end, gap, stay).
    column_penalty : np.ndarray [shape=(S + 1,), float64]
        ``precedence_penalty`` for each step column, ``end_penalty`` for the end.
    next_row_cache : NextRowMemo
        Memo of next-step log probabilities by (node, done set), filled by the tracker.
    """

    procedure: Procedure
    frame_rate: float
    transitions: np.ndarray
    hazard_log_stay: np.ndarray
    hazard_log_leave: np.ndarray
    log_gap: float
    log_no_gap: float
    always_allowed: np.ndarray
    predecessor_bits: np.ndarray
    precedence_penalty: float
    frontier_mixing: float
    column_node: np.ndarray
    column_bit: np.ndarray
    column_penalty: np.ndarray
    next_row_cache: NextRowMemo = field(default_factory=NextRowMemo, repr=False)

    @property
    def n_steps(self) -> int:
        """Number of steps ``S``."""
        return self.procedure.n_steps

    @property
    def max_duration_frames(self) -> int:
        """Last tabulated duration ``D`` in frames."""
        return int(self.hazard_log_stay.shape[1] - 1)


def compile_procedure(
    procedure: Procedure,
    *,
    frame_rate: float = 5.0,
    precedence_penalty: float = 0.1,
    frontier_mixing: float = 0.1,
    end_penalty: float = 1.0,
    hazard_floor: float = 1e-4,
    pause_share: float = 0.05,
    pause_mean_s: float = 600.0,
) -> TrackingModel:
    """Compile ``procedure`` for tracking at ``frame_rate`` frames per second.

    Parameters
    ----------
    procedure : Procedure
        A valid procedure with at most :data:`MAX_TRACKED_STEPS` steps.
    frame_rate : float
        Frames per second (Hz), > 0.
    precedence_penalty : float
        In (0, 1]: factor on entering a step before its precedence predecessors are done
        (soft: real users do violate recipes; 1 ignores precedence).
    frontier_mixing : float
        In [0, 1): share of the next-step probability spread uniformly over the
        *frontier*, the steps not done yet whose precedence predecessors are all done.
        A first-order graph learned from few sessions misses valid orders, and after a
        wrong or unusual step its row is a poor guide; the done set still is a good one.
    end_penalty : float
        In (0, 1]: factor on ending the procedure while steps are not done (1: ending
        early is left to the graph's probabilities, as the tracker does; the observer's
        predictions use the precedence penalty, so a step being skipped is a departure
        from the procedure, not a normal way to end).
    hazard_floor : float
        Hazards are kept in ``[floor, 1 - floor]`` (see :func:`hazard_from_stats`).
    pause_share, pause_mean_s : float
        Idle time ("other" before, between and after steps) is the procedure's gap
        duration or, with probability ``pause_share`` in [0, 1), a long pause of mean
        ``pause_mean_s`` seconds (> 0); see :func:`hazard_from_stats`.

    Returns
    -------
    TrackingModel
    """
    if procedure.n_steps > MAX_TRACKED_STEPS:
        raise ProcedureError(
            f"procedure {procedure.id!r} has {procedure.n_steps} steps; "
            f"the tracker handles at most {MAX_TRACKED_STEPS}"
        )
    if not frame_rate > 0:
        raise ProcedureError(f"frame_rate must be > 0 Hz, got {frame_rate}")
    if not 0.0 <= frontier_mixing < 1.0:
        raise ProcedureError(f"frontier_mixing must be in [0, 1), got {frontier_mixing}")
    for name, value in (("precedence_penalty", precedence_penalty), ("end_penalty", end_penalty)):
        if not 0.0 < value <= 1.0:
            raise ProcedureError(f"{name} must be in (0, 1], got {value}")
    if not 0.0 <= pause_share < 1.0 or not pause_mean_s > 0.0:
        raise ProcedureError(
            f"pause_share must be in [0, 1) and pause_mean_s > 0 s, got {pause_share} and "
            f"{pause_mean_s}"
        )
    n = procedure.n_steps
    longest = max(
        [s.duration.mean + 4 * s.duration.std for s in procedure.steps]
        + [procedure.gap.duration.mean + 4 * procedure.gap.duration.std]
    )
    max_frames = max(int(np.ceil(longest * frame_rate)), 10)
    hazards = np.zeros((n + 2, max_frames + 1))
    for i, step in enumerate(procedure.steps):
        hazards[i] = hazard_from_stats(
            step.duration, frame_rate=frame_rate, max_frames=max_frames, floor=hazard_floor
        )
    hazards[n] = hazard_from_stats(
        procedure.gap.duration,
        frame_rate=frame_rate,
        max_frames=max_frames,
        floor=hazard_floor,
        pause_share=pause_share,
        pause_mean_s=pause_mean_s,
    )
    # The start may end at once (a session can begin with a step).
    hazards[n, 0] = 0.5
    hazards[n + 1] = max(-np.expm1(-1.0 / (pause_mean_s * frame_rate)), hazard_floor)
    with np.errstate(divide="ignore"):
        log_leave = np.log(hazards)
        log_stay = np.log1p(-hazards)
    step_bits = np.uint64(1) << np.arange(n, dtype=np.uint64)
    predecessor_bits = np.zeros(n + 1, dtype=np.uint64)
    for before, after in procedure.precedence:
        predecessor_bits[procedure.step_index(after)] |= step_bits[procedure.step_index(before)]
    predecessor_bits[n] = np.bitwise_or.reduce(step_bits)
    gap = procedure.gap.probability
    return TrackingModel(
        procedure=procedure,
        frame_rate=frame_rate,
        transitions=procedure.transition_matrix(),
        hazard_log_stay=log_stay,
        hazard_log_leave=log_leave,
        log_gap=float(np.log(gap)) if gap > 0 else -np.inf,
        log_no_gap=float(np.log1p(-gap)),
        always_allowed=np.array([s.repeatable for s in procedure.steps] + [True], dtype=bool),
        predecessor_bits=predecessor_bits,
        precedence_penalty=precedence_penalty,
        frontier_mixing=frontier_mixing,
        column_node=np.append(np.arange(n, dtype=np.int64), n + 1),
        column_bit=np.concatenate([step_bits, np.zeros(3, dtype=np.uint64)]),
        column_penalty=np.append(np.full(n, precedence_penalty), end_penalty),
    )
