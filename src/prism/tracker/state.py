"""What the tracker tells the rest of the system after each frame."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

import numpy as np

from prism.reliability import ConfidenceMap
from prism.tracker.beam import Beam, emitted_class, next_step_distribution, normalised_weights
from prism.tracker.model import TrackingModel

__all__ = ["HistoryEntry", "NextStep", "TrackerState"]


@dataclass(frozen=True)
class HistoryEntry:
    """A step of the most likely path: ``start``/``end`` in seconds, ``None`` if unknown.

    ``end is None`` means the step is still going on; ``start is None`` means the user
    said it was done but the tracker never saw it.
    """

    step: str
    start: float | None
    end: float | None


@dataclass(frozen=True)
class NextStep:
    """A candidate next step (``step is None``: the procedure ends) and its probability."""

    step: str | None
    probability: float


class TrackerState:
    """A snapshot of the belief after ``frame`` frames (cheap; details computed on demand).

    Attributes
    ----------
    frame : int
        Frames processed.
    time : float
        Seconds since the session started (``frame / frame_rate``).
    class_probabilities : np.ndarray [shape=(S + 1,), sums to 1]
        Probability that the user is in each step now; entry ``S`` is "other"
        (between steps, before the first or after the last).
    current_step : str or None
        Most probable class now; ``None`` when that is "other".
    current_probability : float
        Its probability: calibrated when the tracker has a confidence map (then it is
        right that often on held-out data, while ``class_probabilities`` stay the
        model's posterior).
    """

    def __init__(
        self, model: TrackingModel, beam: Beam, calibration: ConfidenceMap | None = None
    ) -> None:
        self._model = model
        self._beam = beam
        self._weights = normalised_weights(beam)
        n = model.n_steps
        self.frame = beam.frame
        self.time = beam.frame / model.frame_rate
        self.class_probabilities = np.bincount(
            emitted_class(beam, n), weights=self._weights, minlength=n + 1
        )
        best = int(np.argmax(self.class_probabilities))
        self.current_class = best
        self.current_step = model.procedure.steps[best].id if best < n else None
        raw = float(self.class_probabilities[best])
        self.current_probability = raw if calibration is None else calibration(raw)

    @property
    def step_ids(self) -> tuple[str, ...]:
        """Step ids in class order."""
        return self._model.procedure.step_ids

    @cached_property
    def done_probabilities(self) -> np.ndarray:
        """Probability that each step is finished, shape ``(S,)``.

        A step the user is in right now counts as not finished.
        """
        beam, n = self._beam, self._model.n_steps
        done = (beam.done[:, None] & self._model.column_bit[:n]) != 0
        current = (~beam.gap & (beam.node < n))[:, None] & (beam.node[:, None] == np.arange(n))
        return np.asarray(self._weights @ (done & ~current))

    @cached_property
    def started_probabilities(self) -> np.ndarray:
        """Probability that each step has started (finished, or going on now), ``(S,)``."""
        return np.asarray(self.done_probabilities + self.class_probabilities[: self._model.n_steps])

    @cached_property
    def history(self) -> tuple[HistoryEntry, ...]:
        """Steps of the most probable hypothesis in order, with start/end in seconds."""
        beam, model = self._beam, self._model
        best = int(np.argmax(beam.log_score))
        rate = model.frame_rate
        entries: list[tuple[float, HistoryEntry]] = []
        done = int(beam.done[best])
        for i, step in enumerate(model.procedure.steps):
            start, end = int(beam.step_start[best, i]), int(beam.step_end[best, i])
            if start >= 0:
                entries.append(
                    (start, HistoryEntry(step.id, start / rate, end / rate if end >= 0 else None))
                )
            elif done >> i & 1:
                entries.append((-1.0, HistoryEntry(step.id, None, None)))
        return tuple(entry for _, entry in sorted(entries, key=lambda pair: pair[0]))

    @cached_property
    def last_step(self) -> str | None:
        """The step most recently started on the most probable path (``None`` if none)."""
        started = [entry for entry in self.history if entry.start is not None]
        return started[-1].step if started else None

    def next_steps(self, k: int = 3) -> tuple[NextStep, ...]:
        """The ``k`` most probable steps to start next (the end included).

        Marginal over the hypotheses of the step each would start next, leaving out the
        current step (hypotheses that have not started it yet would name it) and
        renormalised.
        """
        distribution = next_step_distribution(self._model, self._beam)
        if self.current_step is not None:
            distribution[self.current_class] = 0.0
        total = distribution.sum()
        if total > 0:
            distribution = distribution / total
        ids: list[str | None] = [*self.step_ids, None]
        order = np.argsort(-distribution, kind="stable")[:k]
        return tuple(NextStep(ids[i], float(distribution[i])) for i in order if distribution[i] > 0)

    @property
    def model(self) -> TrackingModel:
        """The compiled procedure the belief refers to."""
        return self._model

    @property
    def beam(self) -> Beam:
        """The belief itself: the weighted hypotheses (read-only arrays by convention)."""
        return self._beam

    def top_classes(self, k: int = 3) -> tuple[tuple[str | None, float], ...]:
        """The ``k`` most probable current classes as ``(step id or None, probability)``."""
        ids: list[str | None] = [*self.step_ids, None]
        order = np.argsort(-self.class_probabilities, kind="stable")[:k]
        return tuple((ids[i], float(self.class_probabilities[i])) for i in order)
