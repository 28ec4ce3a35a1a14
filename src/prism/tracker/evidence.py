"""How much a frame of classifier output tells the tracker: evidence per second, not per frame.

A windowed activity classifier's consecutive outputs are nearly the same (its windows
overlap) and its errors come in runs of seconds: the same wrong class, frame after
frame. Treating each frame as independent evidence makes the tracker commit to the
wrong step on the first long error run, and makes the same classifier count five times
as much at 5 frames/s as at 1 frame/s. Two evidence models, both frame-rate invariant:

- :func:`tempered_log_likelihood`: the classifier's log probabilities scaled by
  ``evidence_rate / frame_rate``: a fixed amount of evidence per *second*.
- :class:`ClassifierProfile` and :func:`run_log_likelihood`: an explicit model of the
  classifier's error runs. Given the true class ``z``, the classifier's argmax is a
  Markov chain: while right it stays right (mean run ``mean_correct_run_s``) or slips to
  a wrong class drawn from its confusion matrix; while wrong it stays on that class
  (mean run ``mean_error_run_s``) and then returns to ``z`` (``return_share`` of the
  time) or slips to another wrong class. An error run then costs once, when it starts,
  however many frames it lasts, while a step the classifier keeps coming back to gains
  evidence at every return: exactly what distinguishes a confusion from a transition.
  The profile is measured on held-out data (a sensing model's validation split, or the
  other recordings of an evaluation) by :func:`fit_classifier_profile`.

Everything here is a pure function of numpy arrays; the tracker keeps the previous
frame's argmax as its only extra state.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from prism.errors import TrackerInputError

__all__ = [
    "DEFAULT_ERROR_RUN_S",
    "DEFAULT_RETURN_SHARE",
    "ClassifierProfile",
    "RunTables",
    "fit_classifier_profile",
    "run_log_likelihood",
    "run_tables",
    "tempered_log_likelihood",
]

_LOG_FLOOR = 1e-6
"""Probabilities are floored here before the log: one near-zero output never vetoes a class."""

DEFAULT_ERROR_RUN_S = 1.6
"""Error-run length assumed when a classifier's runs were not measured (seconds)."""

DEFAULT_RETURN_SHARE = 0.8
"""Share of error runs assumed to end on the true class when it was not measured."""

_CONFUSION_PRIOR = 1.0
"""Pseudo-count spread uniformly over each row's wrong classes: unseen confusions stay possible."""


def tempered_log_likelihood(
    probabilities: np.ndarray, *, evidence_rate: float, frame_rate: float
) -> np.ndarray:
    """The classifier's log probabilities weighted per second.

    Parameters
    ----------
    probabilities : np.ndarray [shape=(..., S + 1), rows sum to 1]
    evidence_rate : float
        Weight per second (1/s) on the log probabilities, > 0.
    frame_rate : float
        Frames per second (Hz), > 0.

    Returns
    -------
    np.ndarray [shape=(..., S + 1)]
        ``(evidence_rate / frame_rate) * log(max(p, 1e-6))``.
    """
    weight = evidence_rate / frame_rate
    return np.asarray(weight * np.log(np.maximum(probabilities, _LOG_FLOOR)))


@dataclass(frozen=True, eq=False)
class ClassifierProfile:
    """How a frame classifier errs, measured on held-out labelled frames.

    Attributes
    ----------
    confusion : np.ndarray [shape=(S + 1, S + 1), float64, >= 0]
        Frame counts, rows true class, columns predicted (last: "other").
    mean_correct_run_s, mean_error_run_s : float
        Mean length in seconds of the runs of right / wrong argmax frames, > 0.
    return_share : float
        Share of error runs followed by the true class (not another wrong one), in (0, 1).
    frames : int
        Frames it was measured on.
    """

    confusion: np.ndarray
    mean_correct_run_s: float
    mean_error_run_s: float
    return_share: float
    frames: int = 0
    _cache: dict[float, RunTables] = field(default_factory=dict, repr=False, compare=False)

    def __post_init__(self) -> None:
        confusion = np.asarray(self.confusion, dtype=np.float64)
        square = confusion.ndim == 2 and confusion.shape[0] == confusion.shape[1]
        if not square or confusion.shape[0] < 2:
            raise TrackerInputError(
                f"a classifier profile's confusion must be square with >= 2 classes, "
                f"got shape {confusion.shape}"
            )
        if not np.isfinite(confusion).all() or confusion.min() < 0:
            raise TrackerInputError("a classifier profile's confusion must hold counts >= 0")
        for name in ("mean_correct_run_s", "mean_error_run_s"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int | float) or not value > 0:
                raise TrackerInputError(f"{name} must be a number of seconds > 0, got {value!r}")
            if not math.isfinite(value):
                raise TrackerInputError(f"{name} must be finite, got {value!r}")
        share = self.return_share
        if isinstance(share, bool) or not isinstance(share, int | float) or not 0 < share < 1:
            raise TrackerInputError(f"return_share must be in (0, 1), got {share!r}")
        object.__setattr__(self, "confusion", confusion)

    @property
    def n_classes(self) -> int:
        """``S + 1``."""
        return int(self.confusion.shape[0])

    @property
    def accuracy(self) -> float:
        """Frame accuracy on the frames measured (nan without frames)."""
        total = self.confusion.sum()
        return float(np.trace(self.confusion) / total) if total else math.nan

    def tables(self, frame_rate: float) -> RunTables:
        """:func:`run_tables` at ``frame_rate``, computed once per rate."""
        if frame_rate not in self._cache:
            self._cache[frame_rate] = run_tables(self, frame_rate=frame_rate)
        return self._cache[frame_rate]

    @classmethod
    def from_confusion(
        cls,
        confusion: np.ndarray,
        *,
        mean_error_run_s: float = DEFAULT_ERROR_RUN_S,
        return_share: float = DEFAULT_RETURN_SHARE,
    ) -> ClassifierProfile:
        """A profile from a confusion matrix alone (run lengths not measured).

        Error runs get ``mean_error_run_s``; correct runs the length that gives the
        matrix's accuracy ``a``: ``mean_error_run_s * a / (1 - a)``.
        """
        counts = np.asarray(confusion, dtype=np.float64)
        total = counts.sum() if counts.ndim == 2 else 0.0
        accuracy = float(np.trace(counts) / total) if total > 0 else 0.5
        accuracy = min(max(accuracy, 0.05), 0.995)
        return cls(
            confusion=counts,
            mean_correct_run_s=mean_error_run_s * accuracy / (1.0 - accuracy),
            mean_error_run_s=mean_error_run_s,
            return_share=return_share,
            frames=int(total),
        )

    def run_lengths(self) -> dict[str, float]:
        """The run statistics alone, JSON-ready (what a model folder stores beside its
        confusion matrix)."""
        return {
            "mean_correct_run_s": round(self.mean_correct_run_s, 4),
            "mean_error_run_s": round(self.mean_error_run_s, 4),
            "return_share": round(self.return_share, 4),
        }

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form (read back by :meth:`from_dict`)."""
        return {**self.run_lengths(), "frames": self.frames, "confusion": self.confusion.tolist()}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ClassifierProfile:
        """Read what :meth:`to_dict` wrote; raises :class:`TrackerInputError` if malformed."""
        try:
            confusion = np.array(data["confusion"], dtype=np.float64)
            return cls(
                confusion=confusion,
                mean_correct_run_s=data["mean_correct_run_s"],
                mean_error_run_s=data["mean_error_run_s"],
                return_share=data["return_share"],
                frames=int(data.get("frames", 0)),
            )
        except (KeyError, TypeError, ValueError) as error:
            if isinstance(error, TrackerInputError):
                raise
            raise TrackerInputError(f"malformed classifier profile: {error!r}") from None


def _runs(wrong: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Start, length and kind (True: wrong) of the maximal runs of a boolean array."""
    change = np.flatnonzero(np.diff(wrong.astype(np.int8))) + 1
    starts = np.concatenate(([0], change))
    lengths = np.diff(np.concatenate((starts, [wrong.size])))
    return starts, lengths, wrong[starts]


def fit_classifier_profile(
    labels: Sequence[np.ndarray],
    predictions: Sequence[np.ndarray],
    *,
    n_classes: int,
    frame_rate: float,
) -> ClassifierProfile:
    """Measure a classifier's confusions and error runs on labelled held-out streams.

    Parameters
    ----------
    labels, predictions : sequences of np.ndarray [shape=(n_frames,), int in [0, S]]
        True and predicted (argmax) class per frame, one pair per recording, in order.
    n_classes : int
        ``S + 1``.
    frame_rate : float
        Frames per second of the streams (Hz).

    Returns
    -------
    ClassifierProfile
        Run lengths are means over all runs (runs cut by a recording's end included);
        ``return_share`` is counted on error runs followed by another frame; it is
        kept in ``[0.05, 0.95]`` and the run lengths at >= one frame.
    """
    if len(labels) != len(predictions) or not labels:
        raise TrackerInputError("need one prediction stream per label stream, and at least one")
    confusion = np.zeros((n_classes, n_classes))
    correct_lengths: list[np.ndarray] = []
    error_lengths: list[np.ndarray] = []
    returns = followed = 0
    for truth, guess in zip(labels, predictions, strict=True):
        truth, guess = np.asarray(truth, dtype=np.int64), np.asarray(guess, dtype=np.int64)
        if truth.shape != guess.shape or truth.ndim != 1:
            raise TrackerInputError(
                f"labels and predictions must be 1-D of equal length, got {truth.shape} "
                f"and {guess.shape}"
            )
        if truth.size == 0:
            continue
        if min(truth.min(), guess.min()) < 0 or max(truth.max(), guess.max()) >= n_classes:
            raise TrackerInputError(f"classes must be in [0, {n_classes - 1}]")
        np.add.at(confusion, (truth, guess), 1.0)
        wrong = truth != guess
        starts, lengths, kinds = _runs(wrong)
        correct_lengths.append(lengths[~kinds])
        error_lengths.append(lengths[kinds])
        ends = starts + lengths
        inner = kinds & (ends < truth.size)
        followed += int(inner.sum())
        returns += int(np.sum(guess[ends[inner]] == truth[ends[inner]]))
    frame = 1.0 / frame_rate

    def mean_s(pieces: list[np.ndarray]) -> float:
        joined = np.concatenate(pieces) if pieces else np.empty(0)
        return max(frame, float(joined.mean()) * frame) if joined.size else frame

    return ClassifierProfile(
        confusion=confusion,
        mean_correct_run_s=mean_s(correct_lengths),
        mean_error_run_s=mean_s(error_lengths),
        return_share=float(np.clip(returns / followed if followed else 0.5, 0.05, 0.95)),
        frames=int(confusion.sum()),
    )


@dataclass(frozen=True, eq=False)
class RunTables:
    """A :class:`ClassifierProfile` turned into per-frame log probabilities at one rate.

    Attributes
    ----------
    stay_correct, stay_wrong, return_to_truth : float
        Log probability that a right argmax stays right, that a wrong one stays on its
        class, and that a wrong one returns to the true class, per frame.
    slip : np.ndarray [shape=(S + 1, S + 1)]
        ``log(h_c * C'[z, j])``: a right argmax (true ``z``) slips to wrong class ``j``.
    wander : np.ndarray [shape=(S + 1, S + 1)]
        ``log(h_e * (1 - q) * C'[z, j])``: a wrong argmax moves to another wrong ``j``
        (before renormalising over ``j != i``, see :func:`run_log_likelihood`).
    log_not_wrong : np.ndarray [shape=(S + 1, S + 1)]
        ``log(1 - C'[z, i])``, the renormaliser for leaving wrong class ``i``.
    first : np.ndarray [shape=(S + 1, S + 1)]
        ``log P(argmax = j | z)`` for the first frame (the confusion matrix's rows).
    """

    stay_correct: float
    stay_wrong: float
    return_to_truth: float
    slip: np.ndarray
    wander: np.ndarray
    log_not_wrong: np.ndarray
    first: np.ndarray


def run_tables(profile: ClassifierProfile, *, frame_rate: float) -> RunTables:
    """Per-frame log probabilities of the run model at ``frame_rate`` (Hz)."""
    n = profile.n_classes
    counts = profile.confusion.copy()
    np.fill_diagonal(counts, 0.0)
    counts += _CONFUSION_PRIOR / (n - 1)
    np.fill_diagonal(counts, 0.0)
    wrong_share = counts / counts.sum(axis=1, keepdims=True)  # C'[z, j], rows sum to 1
    leave_correct = -math.expm1(-1.0 / (profile.mean_correct_run_s * frame_rate))
    leave_wrong = -math.expm1(-1.0 / (profile.mean_error_run_s * frame_rate))
    # with two classes a wrong argmax has nowhere to go but back to the truth
    q = profile.return_share if n > 2 else 1.0
    rows = profile.confusion + _CONFUSION_PRIOR / n
    with np.errstate(divide="ignore"):
        slip = np.log(leave_correct * wrong_share)
        wander = (
            np.log(leave_wrong * (1.0 - q) * wrong_share) if n > 2 else np.full((n, n), -np.inf)
        )
        log_not_wrong = np.log(np.maximum(1.0 - wrong_share, 1e-12))
    return RunTables(
        stay_correct=math.log1p(-leave_correct) if leave_correct < 1 else math.log(1e-6),
        stay_wrong=math.log1p(-leave_wrong) if leave_wrong < 1 else math.log(1e-6),
        return_to_truth=math.log(leave_wrong * q),
        slip=slip,
        wander=wander,
        log_not_wrong=log_not_wrong,
        first=np.log(rows / rows.sum(axis=1, keepdims=True)),
    )


def run_log_likelihood(tables: RunTables, previous: int, current: int) -> np.ndarray:
    """``log P(argmax_t = current | argmax_{t-1} = previous, true class z)`` for every ``z``.

    Parameters
    ----------
    tables : RunTables
        The run model at the stream's frame rate.
    previous : int
        The previous frame's argmax, or -1 for the first frame of a stream.
    current : int
        This frame's argmax, in ``[0, S]``.

    Returns
    -------
    np.ndarray [shape=(S + 1,)]
        One log likelihood per true class.
    """
    if previous < 0:
        return np.asarray(tables.first[:, current].copy())
    if previous == current:
        out = np.full(tables.slip.shape[0], tables.stay_wrong)
        out[current] = tables.stay_correct
        return out
    out = tables.wander[:, current] - tables.log_not_wrong[:, previous]
    out[current] = tables.return_to_truth
    out[previous] = tables.slip[previous, current]
    return np.asarray(out)
