"""The public streaming step tracker and its offline twin :func:`track`."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from prism.errors import TrackerInputError
from prism.procedure.model import Procedure
from prism.reliability import ConfidenceMap
from prism.tracker.beam import Beam, advance_beam, initial_beam
from prism.tracker.corrections import CorrectionKind, apply_correction
from prism.tracker.evidence import (
    ClassifierProfile,
    RunTables,
    run_log_likelihood,
    tempered_log_likelihood,
)
from prism.tracker.model import TrackingModel, compile_procedure
from prism.tracker.state import TrackerState

__all__ = ["StepTracker", "TrackResult", "TrackerConfig", "track"]

PROBABILITY_SUM_TOLERANCE = 1e-3


@dataclass(frozen=True)
class TrackerConfig:
    """Options of :class:`StepTracker`.

    Parameters
    ----------
    frame_rate : float
        Frames per second (Hz) of the probability stream, > 0.
    beam_width : int
        Maximum number of hypotheses kept, >= 1.
    evidence_rate : float
        Weight per second (1/s, > 0) on the classifier's log probabilities when the
        tracker knows nothing of how the classifier errs: each frame counts
        ``evidence_rate / frame_rate``, so the same stream at 1 or 5 frames/s carries the
        same evidence (see :mod:`prism.tracker.evidence`).
    classifier_profile : ClassifierProfile, optional
        How the classifier errs (confusions, error runs), measured on held-out data.
        When given, the run model of :mod:`prism.tracker.evidence` weighs the argmax
        sequence, and the probabilities count ``evidence_per_error_run`` per mean
        error run of the classifier instead of ``evidence_rate`` per second.
    evidence_per_error_run : float
        Weight (> 0) on the log probabilities per ``mean_error_run_s`` of the profile,
        beside the run model: a classifier's outputs within one of its error runs are
        one observation at most, however many frames they span.
    calibration : ConfidenceMap, optional
        Maps the posterior probability of the current class to the accuracy it had on
        held-out recordings (:func:`prism.reliability.fit_confidence_map`); the state's
        ``current_probability`` is then calibrated.
    precedence_penalty : float
        Factor in (0, 1] on starting a step before its precedence predecessors are done.
    frontier_mixing : float
        Share in [0, 1) of the next-step probability spread over the steps whose
        predecessors are all done (see :func:`~prism.tracker.model.compile_procedure`).
    """

    frame_rate: float = 5.0
    beam_width: int = 48
    evidence_rate: float = 1.5
    classifier_profile: ClassifierProfile | None = None
    evidence_per_error_run: float = 0.3
    calibration: ConfidenceMap | None = None
    precedence_penalty: float = 0.1
    frontier_mixing: float = 0.1

    def __post_init__(self) -> None:
        if self.classifier_profile is not None and not isinstance(
            self.classifier_profile, ClassifierProfile
        ):
            raise TrackerInputError(
                f"classifier_profile must be a ClassifierProfile, got {self.classifier_profile!r}"
            )
        if self.calibration is not None and not isinstance(self.calibration, ConfidenceMap):
            raise TrackerInputError(
                f"calibration must be a ConfidenceMap, got {self.calibration!r}"
            )
        if not isinstance(self.beam_width, int | np.integer) or self.beam_width < 1:
            raise TrackerInputError(f"beam_width must be an integer >= 1, got {self.beam_width!r}")
        ranges = {
            "frame_rate": (self.frame_rate, 0.0 < self.frame_rate < math.inf, "(0, inf) Hz"),
            "evidence_rate": (self.evidence_rate, 0.0 < self.evidence_rate < math.inf, "(0, inf)"),
            "evidence_per_error_run": (
                self.evidence_per_error_run,
                0.0 < self.evidence_per_error_run < math.inf,
                "(0, inf)",
            ),
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
        profile = self.config.classifier_profile
        if profile is not None and profile.n_classes != procedure.n_steps + 1:
            raise TrackerInputError(
                f"the classifier profile has {profile.n_classes} classes; procedure "
                f"{procedure.id!r} needs {procedure.n_steps + 1} (its steps + other)"
            )
        self.model: TrackingModel = model
        self._runs = None if profile is None else profile.tables(self.config.frame_rate)
        self._beam: Beam = initial_beam(procedure.n_steps)
        self._previous_argmax = -1

    @property
    def n_classes(self) -> int:
        """Length ``S + 1`` of the probability vectors the tracker expects."""
        return self.procedure.n_steps + 1

    @property
    def run_tables(self) -> RunTables | None:
        """The classifier profile's run model at this frame rate (shared), if any."""
        return self._runs

    @property
    def frame(self) -> int:
        """Frames processed so far."""
        return self._beam.frame

    def reset(self) -> None:
        """Forget everything: back to the start of the procedure."""
        self._beam = initial_beam(self.procedure.n_steps)
        self._previous_argmax = -1

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
        self._advance(self._evidence(frame[None, :])[0], int(np.argmax(frame)))
        return self.state()

    def state(self) -> TrackerState:
        """The current state without consuming a frame."""
        return TrackerState(self.model, self._beam, self.config.calibration)

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

    def _evidence(self, frames: np.ndarray) -> np.ndarray:
        """Tempered log probabilities of ``(n_frames, S + 1)`` frames (the per-frame part)."""
        config, profile = self.config, self.config.classifier_profile
        rate = (
            config.evidence_rate
            if profile is None
            else config.evidence_per_error_run / profile.mean_error_run_s
        )
        return tempered_log_likelihood(frames, evidence_rate=rate, frame_rate=config.frame_rate)

    def _advance(self, log_likelihood: np.ndarray, argmax: int) -> None:
        if self._runs is not None:
            log_likelihood = log_likelihood + run_log_likelihood(
                self._runs, self._previous_argmax, argmax
            )
        self._previous_argmax = argmax
        self._beam = advance_beam(
            self._beam, log_likelihood, self.model, width=self.config.beam_width
        )

    def _validated(
        self, probabilities: np.ndarray | list[float], *, expected_ndim: int
    ) -> np.ndarray:
        shape = "(S + 1,)" if expected_ndim == 1 else "(n_frames, S + 1)"
        array = _numeric_array(probabilities, shape)

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
        log_frames = self._evidence(frames)
        argmax = frames.argmax(axis=1).tolist()
        n_frames = frames.shape[0]
        classes = np.empty(n_frames, dtype=np.int64)
        class_probabilities = np.empty_like(frames)
        confidence = np.empty(n_frames)
        state = self.state()
        for t in range(n_frames):
            self._advance(log_frames[t], argmax[t])
            state = self.state()
            classes[t] = state.current_class
            class_probabilities[t] = state.class_probabilities
            confidence[t] = state.current_probability
        return TrackResult(
            classes=classes,
            class_probabilities=class_probabilities,
            confidence=confidence,
            final=state,
        )


def _numeric_array(probabilities: object, shape: str) -> np.ndarray:
    """``probabilities`` as float64, refusing booleans, strings and other non-numbers.

    ``numpy.asarray`` alone would turn ``True`` into 1.0 and ``"0.5"`` into 0.5 (with a
    float dtype): a buggy client's frame would then be tracked as if it were evidence.
    """
    problem = f"probabilities must be an array of numbers of shape {shape}"
    try:
        raw = np.asarray(probabilities)
    except (TypeError, ValueError) as error:
        raise TrackerInputError(f"{problem}: {error}") from None
    if raw.dtype.kind == "O":
        items = raw.ravel().tolist()
        if any(isinstance(x, bool | np.bool_) or not isinstance(x, int | float) for x in items):
            raise TrackerInputError(f"{problem}, got {raw.dtype} values")
    elif raw.dtype.kind not in "iuf":
        raise TrackerInputError(f"{problem}, got {raw.dtype} values")
    if isinstance(probabilities, list | tuple) and _holds_bool(probabilities):
        raise TrackerInputError(f"{problem}, got booleans")
    try:
        return np.asarray(raw, dtype=np.float64)
    except (TypeError, ValueError) as error:
        raise TrackerInputError(f"{problem}: {error}") from None


def _holds_bool(values: list[object] | tuple[object, ...]) -> bool:
    """Whether a (nested) list holds a boolean that numpy would silently make a number."""
    return any(
        isinstance(x, bool | np.bool_) or (isinstance(x, list | tuple) and _holds_bool(x))
        for x in values
    )


@dataclass(frozen=True)
class TrackResult:
    """Per-frame output of :func:`track`.

    Attributes
    ----------
    classes : np.ndarray [shape=(n_frames,), int64, values in [0, S]]
        Most probable class after each frame (``S`` = other): the online decision.
    class_probabilities : np.ndarray [shape=(n_frames, S + 1)]
        The tracker's class probabilities after each frame.
    confidence : np.ndarray [shape=(n_frames,), values in [0, 1]]
        The reported (calibrated) probability of ``classes`` after each frame:
        :attr:`TrackerState.current_probability`.
    final : TrackerState
        The state after the last frame (history, next steps, ...).
    """

    classes: np.ndarray
    class_probabilities: np.ndarray
    confidence: np.ndarray
    final: TrackerState


def track(
    procedure: Procedure, probabilities: np.ndarray, config: TrackerConfig | None = None
) -> TrackResult:
    """Track a recorded probability stream offline with a fresh :class:`StepTracker`.

    Gives exactly what streaming the same frames through :meth:`StepTracker.update` gives.
    """
    return StepTracker(procedure, config).track(probabilities)
