"""Baseline for the speed benchmark: the published PrISM-Tracker beam design.

Each of up to ``beam_width`` hypotheses carries its whole history (one step index per
frame, a Python list); the done set and the time in the current step are recomputed
from that history, and a hypothesis that branches copies it. Its per-frame cost
therefore grows with the session, which is what the benchmark shows. It uses the same
compiled procedure (hazards, transitions) as :class:`prism.tracker.StepTracker`, so the
two differ in state representation, not in model.
"""

from __future__ import annotations

import heapq
import math

import numpy as np

from prism.procedure.model import Procedure
from prism.tracker.model import compile_procedure


class HistoryBeamTracker:
    """A beam of hypotheses ``(log score, history list)`` updated frame by frame."""

    def __init__(self, procedure: Procedure, *, beam_width: int = 50) -> None:
        self.model = compile_procedure(procedure)
        self.beam_width = beam_width
        self.n_steps = procedure.n_steps
        self.other = procedure.n_steps
        self.beam: list[tuple[float, list[int]]] = [(0.0, [])]

    def _duration(self, history: list[int]) -> int:
        current, length = history[-1], 0
        for step in reversed(history):
            if step != current:
                break
            length += 1
        return length

    def update(self, probabilities: np.ndarray) -> int:
        """Consume one frame; return the best hypothesis's current class."""
        log_p = np.log(np.maximum(probabilities, 1e-6)) * 0.3
        model, other = self.model, self.other
        candidates: list[tuple[float, list[int]]] = []
        for score, history in self.beam:
            current = history[-1] if history else other
            done = set(history)
            duration = min(self._duration(history) if history else 0, model.max_duration_frames)
            row = current if current < other else other
            stay = score + model.hazard_log_stay[row, duration] + log_p[current]
            candidates.append((stay, [*history, current]))
            leave = score + model.hazard_log_leave[row, duration]
            source = current if current < other else self.n_steps
            for nxt in range(self.n_steps):
                probability = model.transitions[source, nxt]
                if nxt in done or probability <= 0:
                    continue
                candidates.append((leave + math.log(probability) + log_p[nxt], [*history, nxt]))
            if current != other:
                candidates.append((leave + model.log_gap + log_p[other], [*history, other]))
        best = heapq.nlargest(self.beam_width, candidates, key=lambda c: c[0])
        top = best[0][0]
        self.beam = [(score - top, history) for score, history in best]
        return self.beam[0][1][-1]
