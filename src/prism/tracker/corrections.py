"""User corrections applied to the belief: "I am at X", "X is done", "X is not done yet".

Pure functions on a :class:`~prism.tracker.beam.Beam`; they take effect at once and the
merged belief stays bounded. The step index is assumed valid (checked by the tracker).
"""

from __future__ import annotations

from enum import StrEnum

import numpy as np

from prism.tracker.beam import Beam, hypothesis_keys, merge_groups

__all__ = ["CorrectionKind", "apply_correction"]


class CorrectionKind(StrEnum):
    """What the user said about a step."""

    AT = "at"
    """The user is doing the step now."""
    DONE = "done"
    """The step has been done."""
    NOT_DONE = "not_done"
    """The step has not been done yet."""


def _last_finished_step(beam: Beam, rows: np.ndarray, excluded: int) -> np.ndarray:
    """Most recently ended step of each row other than ``excluded`` (-1 if none)."""
    ends = beam.step_end[rows].copy()
    ends[:, excluded] = -1
    last = np.argmax(ends, axis=1)
    return np.where(ends[np.arange(rows.size), last] >= 0, last, -1)


def apply_correction(beam: Beam, kind: CorrectionKind, step: int, *, n_steps: int) -> Beam:
    """Return the belief after the user's statement about step ``step``.

    Parameters
    ----------
    beam : Beam
        Current belief.
    kind : CorrectionKind
        ``AT``: every hypothesis moves into ``step`` now (a step it was in ends now).
        ``DONE``: ``step`` joins every done set; hypotheses inside it move to the gap after it.
        ``NOT_DONE``: ``step`` leaves every done set; hypotheses inside or just after it,
        or at the end (the procedure is not over), fall back to the gap after their
        previous finished step (or the start).
    step : int
        Step index in ``[0, S)``.
    n_steps : int
        ``S``.

    Returns
    -------
    Beam
        The corrected belief, same-key hypotheses merged.
    """
    t = beam.frame
    bit = np.uint64(1) << np.uint64(step)
    node, gap, done = beam.node.copy(), beam.gap.copy(), beam.done.copy()
    entry = beam.entry.copy()
    step_start, step_end = beam.step_start.copy(), beam.step_end.copy()
    in_step = ~gap & (node < n_steps)
    if kind is CorrectionKind.AT:
        moving = ~(in_step & (node == step))
        leaving = np.flatnonzero(moving & in_step)
        step_end[leaving, node[leaving]] = t
        step_start[moving, step] = t
        step_end[moving, step] = -1
        node[moving], gap[moving], entry[moving] = step, False, t
        done |= bit
    elif kind is CorrectionKind.DONE:
        inside = in_step & (node == step)
        gap[inside], entry[inside] = True, t
        step_end[inside, step] = t
        done |= bit
    else:
        affected = np.flatnonzero((node == step) | (node == n_steps + 1))
        previous = _last_finished_step(beam, affected, step)
        node[affected] = np.where(previous >= 0, previous, n_steps)
        gap[affected] = previous >= 0
        entry[affected] = t
        done &= ~bit
        step_start[:, step] = -1
        step_end[:, step] = -1
    keys = hypothesis_keys(node, gap, done)
    keep, merged, best_path = merge_groups(
        keys, beam.log_score, beam.path_score, width=beam.log_score.size
    )
    return Beam(
        node=node[keep],
        gap=gap[keep],
        done=done[keep],
        entry=entry[keep],
        step_start=step_start[keep],
        step_end=step_end[keep],
        log_score=merged - merged.max(),
        path_score=best_path - merged.max(),
        frame=t,
    )
