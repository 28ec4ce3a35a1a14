"""The public streaming step tracker and its offline twin :func:`track`."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from prism.errors import TrackerInputError
from prism.procedure.model import Procedure
from prism.tracker.beam import Beam, advance_beam, initial_beam
from prism.tracker.corrections import CorrectionKind, apply_correction
from prism.tracker.model import TrackingModel, compile_procedure
from prism.tracker.state import TrackerState

__all__ = ["StepTracker", "TrackResult", "TrackerConfig", "track"]

PROBABILITY_SUM_TOLERANCE = 1e-3
_LOG_FLOOR = 1e-6


@dataclass(frozen=True)
class TrackerConfig:
    """Options of :class:`StepTracker`.

    Parameters
    ----------
    frame_rate : float
        Frames per second (Hz) of the probability stream, > 0.
    beam_width : int
        Maximum number of hypotheses kept, >= 1.
    emission_weight : float
        Exponent on the classifier probabilities, in (0, 1]: below 1 because a real
        classifier's frame errors come in runs, so frames are not independent evidence.
    precedence_penalty : float
        Factor in (0, 1] on starting a step before its precedence predecessors are done.
    frontier_mixing : float
        Share in [0, 1) of the next-step probability spread over the steps whose
        predecessors are all done (see :func:`~prism.tracker.model.compile_procedure`).
    """

    frame_rate: float = 5.0
    beam_width: int = 48
    emission_weight: float = 0.3
    precedence_penalty: float = 0.1
    frontier_mixing: float = 0.1

    def __post_init__(self) -> None:
        if not isinstance(self.beam_width, int | np.integer) or self.beam_width < 1:
            raise TrackerInputError(f"beam_width must be an integer >= 1, got {self.beam_width!r}")
        ranges = {
            "frame_rate": (self.frame_rate, 0.0 < self.frame_rate < math.inf, "(0, inf) Hz"),
            "emission_weight": (self.emission_weight, 0.0 < self.emission_weight <= 1.0, "(0, 1]"),
            "precedence_penalty": (
                self.precedence_penalty,
                0.0 < self.precedence_penalty <= 1.0,
                "(0, 1]",
            ),
            "frontier_mixing": (self.frontier_mixing, 0.0 <= self.frontier_mixing < 1.0, "[0, 1)"),
        }
        for name, (value, ok, allowed) in ranges.items():
            if not ok:
                raise TrackerInputError(f"{name} must be in {allowed}, got {value}")


class StepTracker:
    """Streaming transition-graph tracker (semi-Markov durations, steps done once).

    Feed it one probability vector per frame (classes = the procedure's steps in order,
    then "other"); it keeps a bounded beam of compact hypotheses (see
    :mod:`prism.tracker.beam`), so each frame costs the same however long the session.

    Parameters
    ----------
    procedure : Procedure
        The procedure being performed (at most 56 steps).
    config : TrackerConfig
        Tracking options (frame rate, beam width, ...).
    model : TrackingModel, optional
        The procedure compiled with these options, to share among trackers (a server's
        sessions of one procedure): its memo of next-step rows is then shared too, so
        memory does not grow with the number of sessions. Compiled here if omitted.

    Examples
    --------
    >>> from prism.procedure import DurationStats, Procedure, Step
    >>> d = DurationStats(mean=1.0, std=0.2)
    >>> p = Procedure(id="tea", name="Tea",
    ...     steps=(Step("boil", "Boil", "", d), Step("steep", "Steep", "", d)),
    ...     transitions={"start": {"boil": 1.0}, "boil": {"steep": 1.0}, "steep": {"end": 1.0}})
    >>> tracker = StepTracker(p)
    >>> for _ in range(5):
    ...     state = tracker.update([0.8, 0.1, 0.1])
    >>> state.current_step
    'boil'
    """

    def __init__(
        self,
        procedure: Procedure,
        config: TrackerConfig | None = None,
        *,
        model: TrackingModel | None = None,
    ) -> None:
        self.procedure = procedure
        self.config = config or TrackerConfig()
        if model is None:
            model = compile_procedure(
                procedure,
                frame_rate=self.config.frame_rate,
                precedence_penalty=self.config.precedence_penalty,
                frontier_mixing=self.config.frontier_mixing,
            )
        elif model.procedure is not procedure or model.frame_rate != self.config.frame_rate:
            raise TrackerInputError(
                f"the shared model is of procedure {model.procedure.id!r} at "
                f"{model.frame_rate} frames/s, not of {procedure.id!r} at "
                f"{self.config.frame_rate} frames/s"
            )
        self.model: TrackingModel = model
        self._beam: Beam = initial_beam(procedure.n_steps)

    @property
    def n_classes(self) -> int:
        """Length ``S + 1`` of the probability vectors the tracker expects."""
        return self.procedure.n_steps + 1

    @property
    def frame(self) -> int:
        """Frames processed so far."""
        return self._beam.frame

    def reset(self) -> None:
        """Forget everything: back to the start of the procedure."""
        self._beam = initial_beam(self.procedure.n_steps)

    def update(self, probabilities: np.ndarray | list[float]) -> TrackerState:
        """Take one frame of class probabilities and return the new state.

        Parameters
        ----------
        probabilities : array-like [shape=(S + 1,), non-negative, sums to 1 within 1e-3]
            The classifier's probability of each step and of "other" (last) for this frame.

        Raises
        ------
        TrackerInputError
            (a ``ValueError``) on a wrong length, NaN/inf, negative values or a sum not
            equal to 1; the tracker's state is left unchanged.
        """
        frame = self._validated(probabilities, expected_ndim=1)
        self._advance(np.log(np.maximum(frame, _LOG_FLOOR)))
        return self.state()

    def state(self) -> TrackerState:
        """The current state without consuming a frame."""
        return TrackerState(self.model, self._beam)

    def correct(self, kind: CorrectionKind | str, step: str) -> TrackerState:
        """Apply a user correction at once and return the new state.

        Parameters
        ----------
        kind : CorrectionKind or {"at", "done", "not_done"}
            "I am at ``step``", "``step`` is done", "``step`` is not done yet".
        step : str
            A step id of the procedure.
        """
        try:
            correction = CorrectionKind(kind)
        except ValueError:
            allowed = ", ".join(k.value for k in CorrectionKind)
            raise TrackerInputError(
                f"unknown correction {kind!r}; expected one of {allowed}"
            ) from None
        if step not in self.procedure.step_ids:
            raise TrackerInputError(
                f"correction names unknown step {step!r}; known steps: "
                + ", ".join(self.procedure.step_ids)
            )
        index = self.procedure.step_index(step)
        self._beam = apply_correction(self._beam, correction, index, n_steps=self.procedure.n_steps)
        return self.state()

    def _advance(self, log_probabilities: np.ndarray) -> None:
        self._beam = advance_beam(
            self._beam,
            log_probabilities,
            self.model,
            width=self.config.beam_width,
            emission_weight=self.config.emission_weight,
        )

    def _validated(
        self, probabilities: np.ndarray | list[float], *, expected_ndim: int
    ) -> np.ndarray:
        shape = "(S + 1,)" if expected_ndim == 1 else "(n_frames, S + 1)"
        try:
            array = np.asarray(probabilities, dtype=np.float64)
        except (TypeError, ValueError) as error:
            raise TrackerInputError(
                f"probabilities must be an array of numbers of shape {shape}: {error}"
            ) from None

        def at(bad: np.ndarray | np.bool_) -> str:
            return "" if expected_ndim == 1 else f" at frame {int(np.argmax(bad))}"

        if array.ndim != expected_ndim or array.shape[-1] != self.n_classes:
            raise TrackerInputError(
                f"probabilities must have shape {shape} with S + 1 = {self.n_classes} "
                f"({self.procedure.n_steps} steps + other), got shape {array.shape}"
            )
        sums = array.sum(axis=-1)
        finite = np.isfinite(sums)
        if not finite.all():
            raise TrackerInputError("probabilities contain NaN or infinite values" + at(~finite))
        if array.min(initial=0.0) < 0.0:
            raise TrackerInputError(
                "probabilities contain negative values" + at((array < 0.0).any(axis=-1))
            )
        off = np.abs(sums - 1.0) > PROBABILITY_SUM_TOLERANCE
        if off.any():
            raise TrackerInputError(
                f"probabilities must sum to 1 (tolerance {PROBABILITY_SUM_TOLERANCE}), "
                f"got {float(np.atleast_1d(sums)[np.argmax(off)]):.6g}{at(off)}"
            )
        return array

    def track(self, probabilities: np.ndarray) -> TrackResult:
        """Process a whole ``(n_frames, S + 1)`` stream, exactly as :meth:`update` would.

        The whole array is validated first; on error nothing is consumed.
        """
        frames = self._validated(probabilities, expected_ndim=2)
        log_frames = np.log(np.maximum(frames, _LOG_FLOOR))
        n_frames = frames.shape[0]
        classes = np.empty(n_frames, dtype=np.int64)
        class_probabilities = np.empty_like(frames)
        state = self.state()
        for t in range(n_frames):
            self._advance(log_frames[t])
            state = self.state()
            classes[t] = state.current_class
            class_probabilities[t] = state.class_probabilities
        return TrackResult(classes=classes, class_probabilities=class_probabilities, final=state)


@dataclass(frozen=True)
class TrackResult:
    """Per-frame output of :func:`track`.

    Attributes
    ----------
    classes : np.ndarray [shape=(n_frames,), int64, values in [0, S]]
        Most probable class after each frame (``S`` = other): the online decision.
    class_probabilities : np.ndarray [shape=(n_frames, S + 1)]
        The tracker's class probabilities after each frame.
    final : TrackerState
        The state after the last frame (history, next steps, ...).
    """

    classes: np.ndarray
    class_probabilities: np.ndarray
    final: TrackerState


def track(
    procedure: Procedure, probabilities: np.ndarray, config: TrackerConfig | None = None
) -> TrackResult:
    """Track a recorded probability stream offline with a fresh :class:`StepTracker`.

    Gives exactly what streaming the same frames through :meth:`StepTracker.update` gives.
    """
    return StepTracker(procedure, config).track(probabilities)
